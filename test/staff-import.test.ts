import { type Authority, operatorAuthority } from '../src/admin/authority.ts';
import { DomainError } from '../src/domain/errors.ts';
import type { Services } from '../src/services.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { addSchool, addStaff } from './support/scenario.ts';
import { startSmtpServer } from './support/smtp.ts';

/**
 * Importing a school's staff from CSV (the reader alone is in staff-csv.test.ts): the service over
 * PostgreSQL and SMTP — the preview writes nothing, the import writes every row or none, a
 * school's administrator imports only into their own school, new people get the first-time email.
 */

describe('the staff import service', () => {
  let storage: TestStorage;
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let gatehouse: TestGatehouse;
  let services: Services;
  let hill: { id: string };
  let oak: { id: string };
  let hillAdmin: Authority;
  const OPERATOR = operatorAuthority('test');

  const count = async (table: string): Promise<number> =>
    Number((await gatehouse.database.dataSource.query(`SELECT count(*)::int AS n FROM ${table}`))[0].n);
  const everything = async () => ({
    accounts: await count('accounts'),
    memberships: await count('memberships'),
    resetTokens: await count('password_reset_tokens'),
    audit: await count('audit_events'),
  });
  const levelAt = async (schoolId: string, email: string) => {
    const account = await services.repositories.accounts.findByEmail(email);
    return account ? ((await services.repositories.memberships.get(account.id, schoolId))?.accessLevel ?? null) : null;
  };

  beforeAll(async () => {
    storage = await createTestStorage();
    smtp = await startSmtpServer();
    gatehouse = await startTestGatehouse(storage, { SMTP_URL: smtp.url, MAIL_FROM: 'Gatehouse <sso@gatehouse.test>' });
    services = gatehouse.services;
    hill = await addSchool(services, 'Hill Primary School', 'HP1 1AA');
    oak = await addSchool(services, 'Oak Academy', 'OA2 2BB');
    const office = await addStaff(services, 'office@hill.example', [{ schoolId: hill.id, accessLevel: 'basic' }]);
    await services.admin.roles.grant(OPERATOR, { subject: { email: office.email }, role: 'school-admin', schoolId: hill.id });
    hillAdmin = await services.admin.authorityOf({ kind: 'person', accountId: office.id, email: office.email }, '192.0.2.7');
  });

  afterAll(async () => {
    await gatehouse?.close();
    await smtp?.close();
    await storage?.drop();
  });

  test('the preview says what would happen and writes nothing', async () => {
    await addStaff(services, 'kept@hill.example', [{ schoolId: hill.id, accessLevel: 'basic' }]);
    await addStaff(services, 'raised@hill.example', [{ schoolId: hill.id, accessLevel: 'basic' }]);
    await addStaff(services, 'oakonly@hill.example', [{ schoolId: oak.id, accessLevel: 'basic' }]);
    const before = await everything();
    const preview = await services.admin.staffImport.preview(
      hillAdmin,
      hill.id,
      'email,name,level\nkept@hill.example,,basic\nRAISED@hill.example,,higher\noakonly@hill.example,,\nnew.one@hill.example,New One,\nbob@,,\n',
    );
    expect(await everything()).toEqual(before);
    expect(preview.added.map((row) => [row.email, row.newAccount])).toEqual([
      ['oakonly@hill.example', false],
      ['new.one@hill.example', true],
    ]);
    expect(preview.changed.map((row) => [row.email, row.currentLevel, row.level])).toEqual([['RAISED@hill.example', 'basic', 'higher']]);
    expect(preview.unchanged.map((row) => row.email)).toEqual(['kept@hill.example']);
    expect(preview.problems.map((problem) => problem.message)).toEqual(['line 6: “bob@” is not an email address']);
    expect(preview.ready).toBe(false);
  });

  test('the import writes every row, emails the new people, and is audited once with the counts', async () => {
    await addStaff(services, 'has.password@hill.example', [{ schoolId: oak.id, accessLevel: 'basic' }]);
    await addStaff(services, 'was.basic@hill.example', [{ schoolId: hill.id, accessLevel: 'basic' }]);
    const outcome = await services.admin.staffImport.apply(
      hillAdmin,
      hill.id,
      'fresh.a@hill.example,Fresh A,higher\nfresh.b@hill.example,"B, Fresh",\nhas.password@hill.example,,basic\nwas.basic@hill.example,,HIGHER\n',
    );
    expect(outcome).toEqual({ added: 3, changed: 1, unchanged: 0, accountsCreated: 2, emailsSent: 2, emailsNotSent: 0 });
    expect(await levelAt(hill.id, 'fresh.a@hill.example')).toBe('higher');
    expect(await levelAt(hill.id, 'fresh.b@hill.example')).toBe('basic');
    expect(await levelAt(hill.id, 'has.password@hill.example')).toBe('basic');
    expect(await levelAt(hill.id, 'was.basic@hill.example')).toBe('higher');
    expect((await services.repositories.accounts.findByEmail('fresh.b@hill.example'))?.name).toBe('B, Fresh');

    const mail = await smtp.waitFor('fresh.a@hill.example', /./);
    expect(mail.text).toContain('/password/reset?token=');
    // An import sends the first-time emails in the school's name.
    expect(mail.subject).toBe('Set your password for Hill Primary School');
    expect(mail.from.name).toBe('Hill Primary School');
    await smtp.waitFor('fresh.b@hill.example', /./);
    expect(smtp.inbox.some((received) => received.to.includes('has.password@hill.example'))).toBe(false);

    const page = await services.admin.auditTrail.list(OPERATOR, { event: 'admin.member.import' }, { limit: 1 });
    expect(page.items[0]).toMatchObject({ outcome: 'success', schoolId: hill.id });
    expect(page.items[0]!.detail).toMatchObject({ added: 3, changed: 1, accountsCreated: 2, emailsSent: 2 });

    // The same file again changes nothing and sends nothing.
    const again = await services.admin.staffImport.apply(hillAdmin, hill.id, 'fresh.a@hill.example,Fresh A,higher\n');
    expect(again).toMatchObject({ added: 0, changed: 0, unchanged: 1, emailsSent: 0 });
  });

  test('the import checks again: what changed since the preview is what it does', async () => {
    const text = 'late@hill.example,,higher\n';
    expect((await services.admin.staffImport.preview(hillAdmin, hill.id, text)).added).toHaveLength(1);
    await services.admin.staff.addMember(OPERATOR, hill.id, { email: 'late@hill.example', level: 'basic' });
    expect(await services.admin.staffImport.apply(hillAdmin, hill.id, text)).toMatchObject({ added: 0, changed: 1, accountsCreated: 0 });
  });

  test('a file with any bad row is refused whole, and nothing is written', async () => {
    const before = await everything();
    const refusal = services.admin.staffImport.apply(hillAdmin, hill.id, 'good.one@hill.example,,basic\nbob@,,basic\n');
    await expect(refusal).rejects.toThrow(DomainError);
    await expect(refusal).rejects.toMatchObject({
      kind: 'validation',
      message: expect.stringContaining('line 2: “bob@” is not an email address'),
    });
    await services.audit.drain();
    const after = await everything();
    expect({ ...after, audit: before.audit }).toEqual(before);
    expect(await services.repositories.accounts.findByEmail('good.one@hill.example')).toBeNull();
  });

  test('a row that fails as it is written leaves nothing written: one transaction', async () => {
    await addStaff(services, 'steady@hill.example', [{ schoolId: hill.id, accessLevel: 'basic' }]);
    const db = gatehouse.database.dataSource;
    // The database refuses the last row's membership, after the accounts and the other rows went in.
    await db.query(`CREATE FUNCTION refuse_doomed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF (SELECT email_normalised FROM accounts WHERE id = NEW.account_id) = 'doomed@hill.example' THEN
          RAISE EXCEPTION 'refused by the test';
        END IF;
        RETURN NEW;
      END $$`);
    await db.query(`CREATE TRIGGER refuse_doomed BEFORE INSERT OR UPDATE ON memberships FOR EACH ROW EXECUTE FUNCTION refuse_doomed()`);
    const before = await everything();
    try {
      await expect(
        services.admin.staffImport.apply(
          OPERATOR,
          hill.id,
          'first.new@hill.example,,basic\nsteady@hill.example,,higher\ndoomed@hill.example,,basic\n',
        ),
      ).rejects.toThrow('refused by the test');
    } finally {
      await db.query(`DROP TRIGGER refuse_doomed ON memberships`);
      await db.query(`DROP FUNCTION refuse_doomed()`);
    }
    await services.audit.drain();
    const after = await everything();
    expect({ ...after, audit: before.audit }).toEqual(before);
    expect(await services.repositories.accounts.findByEmail('first.new@hill.example')).toBeNull();
    expect(await levelAt(hill.id, 'steady@hill.example')).toBe('basic');
    expect(smtp.inbox.some((received) => received.to.includes('first.new@hill.example'))).toBe(false);
  });

  test("a school's administrator can neither preview nor import at another school", async () => {
    const before = await everything();
    const text = 'intruder@oak.example,,higher\n';
    await expect(services.admin.staffImport.preview(hillAdmin, oak.id, text)).rejects.toMatchObject({ kind: 'forbidden' });
    await expect(services.admin.staffImport.apply(hillAdmin, oak.id, text)).rejects.toMatchObject({ kind: 'forbidden' });
    await services.audit.drain();
    const after = await everything();
    expect({ ...after, audit: before.audit }).toEqual(before);
    expect(await services.repositories.accounts.findByEmail('intruder@oak.example')).toBeNull();
    // The helpdesk may.
    expect(await services.admin.staffImport.apply(OPERATOR, oak.id, text)).toMatchObject({ added: 1, accountsCreated: 1 });
  });
});
