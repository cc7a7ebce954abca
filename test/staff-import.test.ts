import fc from 'fast-check';
import { type Authority, operatorAuthority } from '../src/admin/authority.ts';
import { IMPORT_LIMITS, parseCsv, readStaffCsv } from '../src/admin/staff-csv.ts';
import { DomainError } from '../src/domain/errors.ts';
import type { Services } from '../src/services.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { addSchool, addStaff } from './support/scenario.ts';
import { startSmtpServer } from './support/smtp.ts';

/**
 * Importing a school's staff from CSV: the reader (fast, no database), then the service over
 * PostgreSQL and SMTP — the preview writes nothing, the import writes every row or none, a
 * school's administrator imports only into their own school, new people get the first-time email.
 */

const messages = (text: string) => readStaffCsv(text).problems.map((problem) => problem.message);

describe('reading a CSV file (RFC 4180)', () => {
  test('quoted fields keep commas, doubled quotes and line breaks; the record starts on its first line', () => {
    const records = parseCsv('a,"b, c","say ""hi"""\r\n"two\nlines",x\n\nlast');
    expect(records).toEqual([
      { line: 1, fields: ['a', 'b, c', 'say "hi"'] },
      { line: 2, fields: ['two\nlines', 'x'] },
      { line: 4, fields: [''] },
      { line: 5, fields: ['last'] },
    ]);
  });

  test('LF, CRLF and CR all end a line, and the BOM is not part of the first field', () => {
    expect(parseCsv('\uFEFFa\r\nb\rc\nd').map((record) => [record.line, record.fields?.[0]])).toEqual([
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
      [4, 'd'],
    ]);
  });

  test('broken quoting is a problem of its line, and reading goes on at the next', () => {
    const records = parseCsv('x"y,z\n"a"b,c\nok,1\n"never closed,\nmore');
    expect(records.map((record) => [record.line, record.problem ? 'problem' : record.fields])).toEqual([
      [1, 'problem'],
      [2, 'problem'],
      [3, ['ok', '1']],
      [4, 'problem'],
    ]);
  });

  test('any fields written the RFC 4180 way read back the same', () => {
    const field = fc.string({ unit: fc.constantFrom('a', ',', '"', '\n', '\r', ' ', 'é') });
    const quote = (value: string) => `"${value.replaceAll('"', '""')}"`;
    fc.assert(
      fc.property(fc.array(fc.array(field, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 5 }), (rows) => {
        const text = rows.map((row) => row.map(quote).join(',')).join('\r\n');
        expect(parseCsv(text).map((record) => record.fields)).toEqual(rows);
      }),
    );
  });
});

describe('reading a staff list', () => {
  test('a header row, a BOM, blank lines, level in any case or left out, name optional', () => {
    const csv = readStaffCsv(
      '\uFEFFEmail,Name,Level\r\n\r\n jo@hill.example , Jo Bloggs ,HIGHER\r\nsam@hill.example\r\n"Kim@Hill.example","Kim, Deputy",\r\n,,\r\n',
    );
    expect(csv.problems).toEqual([]);
    expect(csv.fileProblem).toBeNull();
    expect(csv.rows).toEqual([
      { line: 3, email: 'jo@hill.example', normalised: 'jo@hill.example', name: 'Jo Bloggs', level: 'higher' },
      { line: 4, email: 'sam@hill.example', normalised: 'sam@hill.example', name: null, level: 'basic' },
      { line: 5, email: 'Kim@Hill.example', normalised: 'kim@hill.example', name: 'Kim, Deputy', level: 'basic' },
    ]);
  });

  test('without a header the first line is a person', () => {
    expect(readStaffCsv('jo@hill.example,Jo,basic').rows).toHaveLength(1);
  });

  test('each bad line is reported by the line the person sees, the field and the reason in words', () => {
    const csv = readStaffCsv(
      [
        'email,name,level',
        'jo@hill.example,Jo,basic',
        'bob@,Bob,basic',
        'ann@hill.example,Ann,admin',
        ',No Address,basic',
        '"multi',
        'line@hill.example",x,basic',
        'lee@hill.example,Lee,higher,extra',
        `${'a'.repeat(250)}@hill.example`,
        `long@hill.example,${'n'.repeat(201)}`,
      ].join('\n'),
    );
    expect(csv.problems.map(({ line, field }) => [line, field])).toEqual([
      [3, 'email'],
      [4, 'level'],
      [5, 'email'],
      [6, 'email'],
      [8, 'row'],
      [9, 'email'],
      [10, 'name'],
    ]);
    expect(csv.problems[0]!.message).toBe('line 3: “bob@” is not an email address');
    expect(csv.problems[1]!.message).toBe('line 4: “admin” is not an access level: use basic or higher');
    expect(csv.problems[2]!.message).toBe('line 5: the email address is missing');
    expect(csv.problems[4]!.message).toMatch(/^line 8: there are 4 fields where 3 are expected/);
    expect(csv.problems[5]!.message).toMatch(/^line 9: “a+…” is longer than 254 characters/);
    expect(csv.rows.map((row) => row.line)).toEqual([2]);
  });

  test('one address twice, as Gatehouse compares addresses, is a problem of the later line', () => {
    // The fullwidth letters and the case fold are what normaliseEmail makes one address.
    expect(messages('jo@hill.example\nsam@hill.example\nＪＯ@Hill.Example,Jo again')).toEqual([
      'line 3: “ＪＯ@Hill.Example” is already on line 1',
    ]);
  });

  test('a stray quote mark is a problem, not a silent guess', () => {
    expect(messages('jo@hill.example,Jo "JJ" Bloggs,basic')[0]).toMatch(/^line 1: a field has a quote mark/);
  });

  test('over 2,000 rows or 256 kB, or nothing at all, the whole file is refused', () => {
    const rows = (count: number) => Array.from({ length: count }, (_, index) => `p${index}@hill.example`).join('\n');
    expect(readStaffCsv(`email\n${rows(IMPORT_LIMITS.rows)}`).fileProblem).toBeNull();
    expect(readStaffCsv(`email\n${rows(IMPORT_LIMITS.rows + 1)}`).fileProblem).toMatch(/2,001 rows; an import can have at most 2,000/);
    const large = `jo@hill.example,${'x'.repeat(IMPORT_LIMITS.bytes)}`;
    expect(readStaffCsv(large).fileProblem).toMatch(/at most 256 kB/);
    expect(readStaffCsv('email,name,level\n\n').fileProblem).toMatch(/no staff in the file/);
  });
});

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
    await smtp.waitFor('fresh.b@hill.example', /./);
    expect(smtp.inbox.some((received) => received.to.includes('has.password@hill.example'))).toBe(false);

    const page = await services.admin.audit.list(OPERATOR, { event: 'admin.member.import' }, { limit: 1 });
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
