import crypto from 'node:crypto';
import { type Authority, operatorAuthority } from '../src/admin/authority.ts';
import { THROTTLE } from '../src/auth/throttle.ts';
import type { AdminRoleName } from '../src/db/repositories/admin-roles.ts';
import type { StoredAuditEvent } from '../src/db/repositories/audit.ts';
import type { StaffMember } from '../src/db/repositories/memberships.ts';
import type { Services } from '../src/services.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { addSchool, addStaff } from './support/scenario.ts';
import { linkIn, startSmtpServer } from './support/smtp.ts';

/**
 * The administration service's rules over PostgreSQL and SMTP: who may do what (helpdesk, a
 * school's administrator, nobody), what adding staff does, paging, and the audit of every act.
 * The front ends (CLI, console, REST API) only call this service, so these rules hold for all.
 */

let storage: TestStorage;
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
let gatehouse: TestGatehouse;
let services: Services;
let hill: { id: string };
let oak: { id: string };
let helpdesk: Authority;
let hillAdmin: Authority;
let nobody: Authority;
/** At Hill and at Oak. */
let both: { id: string; email: string };
/** At Oak only. */
let oakOnly: { id: string; email: string };

const OPERATOR = operatorAuthority('test');
const NOWHERE = '00000000-0000-4000-8000-000000000000';

/** A person holding the given roles, as the console or the API would build their authority. */
async function personWith(email: string, roles: Array<{ role: AdminRoleName; schoolId?: string }>): Promise<Authority> {
  const account = await addStaff(services, email, [{ schoolId: hill.id, accessLevel: 'basic' }]);
  for (const { role, schoolId } of roles) await services.admin.roles.grant(OPERATOR, { subject: { email }, role, schoolId });
  return services.admin.authorityOf({ kind: 'person', accountId: account.id, email: account.email }, '192.0.2.7');
}

const actorOf = (authority: Authority) => {
  const actor = authority.actor as { accountId: string; email: string };
  return { type: 'person', accountId: actor.accountId, email: actor.email };
};

/** The newest audit event of this name, from the whole trail. */
async function lastEvent(event: string): Promise<StoredAuditEvent> {
  const page = await services.admin.auditTrail.list(OPERATOR, { event }, { limit: 1 });
  if (!page.items[0]) throw new Error(`No ${event} event`);
  return page.items[0];
}

async function walkMembers(authority: Authority, schoolId: string, search?: string, limit = 2) {
  const seen: StaffMember[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await services.admin.staff.listMembers(authority, schoolId, { cursor, limit, search });
    expect(page.items.length).toBeLessThanOrEqual(limit);
    seen.push(...page.items);
    cursor = page.nextCursor ?? undefined;
    pages += 1;
  } while (cursor && pages < 50);
  return { seen, pages };
}

beforeAll(async () => {
  storage = await createTestStorage();
  smtp = await startSmtpServer();
  gatehouse = await startTestGatehouse(storage, { SMTP_URL: smtp.url, MAIL_FROM: 'Gatehouse <sso@gatehouse.test>' });
  services = gatehouse.services;
  hill = await addSchool(services, 'Hill Primary School', 'HP1 1AA');
  oak = await addSchool(services, 'Oak Academy', 'OA2 2BB');
  helpdesk = await personWith('desk@trust.example', [{ role: 'helpdesk' }]);
  hillAdmin = await personWith('office@hill.example', [{ role: 'school-admin', schoolId: hill.id }]);
  nobody = await personWith('teacher@hill.example', []);
  both = await addStaff(services, 'both@trust.example', [
    { schoolId: hill.id, accessLevel: 'basic' },
    { schoolId: oak.id, accessLevel: 'higher' },
  ]);
  oakOnly = await addStaff(services, 'only@oak.example', [{ schoolId: oak.id, accessLevel: 'basic' }]);
});

afterAll(async () => {
  await gatehouse?.close();
  await smtp?.close();
  await storage?.drop();
});

describe('who may do what', () => {
  test('a person with no role is forbidden everything', async () => {
    const attempts: Array<[string, () => Promise<unknown>]> = [
      ['listSchools', () => services.admin.staff.listSchools(nobody, {})],
      ['getSchool', () => services.admin.staff.getSchool(nobody, hill.id)],
      ['addSchool', () => services.admin.staff.addSchool(nobody, { name: 'Mine', postcode: 'MI1 1NE' })],
      ['listMembers', () => services.admin.staff.listMembers(nobody, hill.id, {})],
      ['getMember', () => services.admin.staff.getMember(nobody, hill.id, both.id)],
      ['addMember', () => services.admin.staff.addMember(nobody, hill.id, { email: 'new@hill.example', level: 'basic' })],
      ['changeLevel', () => services.admin.staff.changeLevel(nobody, hill.id, both.id, 'higher')],
      ['removeMember', () => services.admin.staff.removeMember(nobody, hill.id, both.id)],
      ['inviteMember', () => services.admin.staff.inviteMember(nobody, hill.id, both.id)],
      ['people.addUser', () => services.admin.people.addUser(nobody, { email: 'new@hill.example', memberships: [] })],
      ['people.get', () => services.admin.people.get(nobody, both.id)],
      ['people.findByEmail', () => services.admin.people.findByEmail(nobody, both.email)],
      ['lock', () => services.admin.people.lock(nobody, both.id)],
      ['unlock', () => services.admin.people.unlock(nobody, both.id)],
      ['resetAuthenticators', () => services.admin.people.resetAuthenticators(nobody, both.id, 'lost')],
      ['roles.grant', () => services.admin.roles.grant(nobody, { subject: { email: 'teacher@hill.example' }, role: 'helpdesk' })],
      ['roles.list', () => services.admin.roles.list(nobody, {})],
      [
        'clients.add',
        () => services.admin.clients.add(nobody, { name: 'Mine', schoolIds: [hill.id], redirectUris: ['https://x.example/cb'] }),
      ],
      ['audit.list', () => services.admin.auditTrail.list(nobody, {}, {})],
    ];
    for (const [name, attempt] of attempts) {
      await expect(attempt().then(() => `${name} allowed`)).rejects.toMatchObject({ kind: 'forbidden' });
    }
    expect(await services.repositories.accounts.findByEmail('new@hill.example')).toBeNull();
    expect(await services.repositories.memberships.get(both.id, hill.id)).toMatchObject({ accessLevel: 'basic' });
  });

  test('a school administrator sees only their school, and another school is forbidden whether or not it exists', async () => {
    const schools = await services.admin.staff.listSchools(hillAdmin, {});
    expect(schools.items.map((school) => school.id)).toEqual([hill.id]);
    expect((await services.admin.staff.getSchool(hillAdmin, hill.id)).id).toBe(hill.id);
    expect((await services.admin.staff.listMembers(hillAdmin, hill.id, {})).items.map((m) => m.email)).toContain(both.email);

    for (const elsewhere of [oak.id, NOWHERE]) {
      const attempts = [
        () => services.admin.staff.getSchool(hillAdmin, elsewhere),
        () => services.admin.staff.listMembers(hillAdmin, elsewhere, {}),
        () => services.admin.staff.getMember(hillAdmin, elsewhere, oakOnly.id),
        () => services.admin.staff.addMember(hillAdmin, elsewhere, { email: 'sneaky@oak.example', level: 'higher' }),
        () => services.admin.staff.changeLevel(hillAdmin, elsewhere, oakOnly.id, 'higher'),
        () => services.admin.staff.removeMember(hillAdmin, elsewhere, oakOnly.id),
        () => services.admin.staff.inviteMember(hillAdmin, elsewhere, oakOnly.id),
        () => services.admin.auditTrail.list(hillAdmin, { schoolId: elsewhere }, {}),
        () =>
          services.admin.people.addUser(hillAdmin, {
            email: 'sneaky@oak.example',
            memberships: [{ schoolId: elsewhere, accessLevel: 'higher' }],
          }),
      ];
      for (const attempt of attempts) await expect(attempt()).rejects.toMatchObject({ kind: 'forbidden' });
    }
    // Nothing was written at Oak.
    expect(await services.repositories.accounts.findByEmail('sneaky@oak.example')).toBeNull();
    expect(await services.repositories.memberships.get(oakOnly.id, oak.id)).toMatchObject({ accessLevel: 'basic' });
    // The helpdesk learns that the unknown school does not exist.
    await expect(services.admin.staff.getSchool(helpdesk, NOWHERE)).rejects.toMatchObject({ kind: 'not_found' });
  });

  test('a school administrator does not find people of other schools, and sees only their school in a person', async () => {
    await expect(services.admin.people.get(hillAdmin, oakOnly.id)).rejects.toMatchObject({ kind: 'not_found' });
    expect(await services.admin.people.findByEmail(hillAdmin, oakOnly.email)).toBeNull();
    await expect(services.admin.people.get(hillAdmin, crypto.randomUUID())).rejects.toMatchObject({ kind: 'not_found' });

    const seen = await services.admin.people.get(hillAdmin, both.id);
    expect(seen.memberships).toEqual([{ schoolId: hill.id, schoolName: 'Hill Primary School', level: 'basic' }]);
    expect((await services.admin.people.findByEmail(hillAdmin, 'BOTH@trust.example'))?.memberships.map((m) => m.schoolId)).toEqual([
      hill.id,
    ]);

    const all = await services.admin.people.get(helpdesk, both.id);
    expect(all.memberships.map((m) => [m.schoolId, m.level])).toEqual([
      [hill.id, 'basic'],
      [oak.id, 'higher'],
    ]);
    expect((await services.admin.people.get(helpdesk, oakOnly.id)).memberships.map((m) => m.schoolId)).toEqual([oak.id]);
  });

  test('a school administrator cannot touch credentials, roles or clients; the helpdesk can', async () => {
    const person = await addStaff(services, 'creds@hill.example', [{ schoolId: hill.id, accessLevel: 'basic' }]);
    const attempts = [
      () => services.admin.people.lock(hillAdmin, person.id, 'left'),
      () => services.admin.people.unlock(hillAdmin, person.id),
      () => services.admin.people.resetAuthenticators(hillAdmin, person.id, 'lost phone'),
      () => services.admin.roles.grant(hillAdmin, { subject: { email: person.email }, role: 'school-admin', schoolId: hill.id }),
      () => services.admin.roles.revoke(hillAdmin, { subject: { email: 'office@hill.example' }, role: 'school-admin', schoolId: hill.id }),
      () => services.admin.clients.add(hillAdmin, { name: 'Hill app', schoolIds: [hill.id], redirectUris: ['https://app.example/cb'] }),
      () => services.admin.staff.addSchool(hillAdmin, { name: 'Another', postcode: 'AN1 1OT' }),
    ];
    for (const attempt of attempts) await expect(attempt()).rejects.toMatchObject({ kind: 'forbidden' });
    expect((await services.repositories.accounts.findById(person.id))?.status).toBe('active');
    expect(await services.repositories.adminRoles.heldBy({ accountId: person.id })).toEqual([]);

    expect((await services.admin.people.lock(helpdesk, person.id, 'left')).status).toBe('locked');
    expect((await services.admin.people.unlock(helpdesk, person.id)).status).toBe('active');
    expect(await services.admin.people.resetAuthenticators(helpdesk, person.id, 'lost phone')).toMatchObject({ removed: 0 });
    const granted = await services.admin.roles.grant(helpdesk, {
      subject: { email: person.email },
      role: 'school-admin',
      schoolId: hill.id,
    });
    expect(granted.created).toBe(true);
    const nowAdmin = await services.admin.authorityOf({ kind: 'person', accountId: person.id, email: person.email });
    expect([...nowAdmin.schoolIds]).toEqual([hill.id]);
    await services.admin.roles.revoke(helpdesk, { subject: { email: person.email }, role: 'school-admin', schoolId: hill.id });
    await expect(services.admin.staff.listMembers(await services.admin.authorityOf(nowAdmin.actor), hill.id, {})).rejects.toMatchObject({
      kind: 'forbidden',
    });
    expect(
      (await services.admin.clients.add(helpdesk, { name: 'Hill app', schoolIds: [hill.id], redirectUris: ['https://app.example/cb'] }))
        .clientId,
    ).toMatch(/^gh_/);
  });

  test('the helpdesk reaches every school', async () => {
    const ids = (await services.admin.staff.listSchools(helpdesk, {})).items.map((school) => school.id);
    expect(ids).toEqual(expect.arrayContaining([hill.id, oak.id]));
    expect((await services.admin.staff.listMembers(helpdesk, oak.id, {})).items.map((m) => m.email)).toEqual(
      expect.arrayContaining([both.email, oakOnly.email]),
    );
    expect((await services.admin.staff.getMember(helpdesk, oak.id, oakOnly.id)).email).toBe(oakOnly.email);
    const added = await services.admin.staff.addMember(helpdesk, oak.id, { email: 'new@oak.example', name: 'New', level: 'basic' });
    expect(added.result).toBe('added');
    expect(await services.admin.staff.removeMember(helpdesk, oak.id, added.member.accountId)).toEqual({
      revokedGrants: 0,
      revokedRole: false,
    });
    expect((await services.admin.auditTrail.list(helpdesk, { schoolId: oak.id }, {})).items.length).toBeGreaterThan(0);
  });
});

describe('adding staff', () => {
  test('the same request twice adds once and then changes nothing; another level is a change', async () => {
    const input = { email: 'Twice@Hill.example', name: 'Tess Twice', level: 'basic' as const };
    const first = await services.admin.staff.addMember(hillAdmin, hill.id, input);
    expect(first).toMatchObject({ result: 'added', accountCreated: true, invited: false });
    expect(first.member).toMatchObject({ email: 'Twice@Hill.example', name: 'Tess Twice', accessLevel: 'basic', hasPassword: false });
    const second = await services.admin.staff.addMember(hillAdmin, hill.id, { ...input, email: 'twice@hill.example' });
    expect(second).toMatchObject({ result: 'unchanged', accountCreated: false });
    expect(second.member.accountId).toBe(first.member.accountId);
    const changed = await services.admin.staff.addMember(hillAdmin, hill.id, { ...input, level: 'higher' });
    expect(changed).toMatchObject({ result: 'changed', accountCreated: false, member: { accessLevel: 'higher' } });

    const [{ count }] = await gatehouse.database.dataSource.query(
      `SELECT count(*)::int AS count FROM accounts WHERE email_normalised = 'twice@hill.example'`,
    );
    expect(count).toBe(1);
  });

  test('invite sends the first-time email only to an account without a password', async () => {
    const fresh = await services.admin.staff.addMember(hillAdmin, hill.id, { email: 'invited@hill.example', level: 'basic', invite: true });
    expect(fresh.invited).toBe(true);
    // Sent in the school's name: the school is who staff expect to hear from.
    const mail = await smtp.waitFor('invited@hill.example', /./);
    expect(mail.subject).toBe('Set your password for Hill Primary School');
    expect(mail.from.name).toBe('Hill Primary School');
    expect(linkIn(mail)).toContain(`${gatehouse.issuer}/password/reset?token=`);
    // …and the page it opens is the school's too.
    const resetPage = await (await fetch(linkIn(mail))).text();
    expect(/<h1 class="school">([^<]*)<\/h1>/.exec(resetPage)?.[1]).toBe('Hill Primary School');

    await addStaff(services, 'settled@oak.example', [{ schoolId: oak.id, accessLevel: 'basic' }]);
    const settled = await services.admin.staff.addMember(hillAdmin, hill.id, {
      email: 'settled@oak.example',
      level: 'basic',
      invite: true,
    });
    expect(settled).toMatchObject({ result: 'added', accountCreated: false, invited: false });
    // A mail sent afterwards arrives; none went to the account with a password.
    await services.admin.staff.addMember(hillAdmin, hill.id, { email: 'marker@hill.example', level: 'basic', invite: true });
    await smtp.waitFor('marker@hill.example', /Set your password for/);
    expect(smtp.inbox.filter((m) => m.to.includes('settled@oak.example'))).toEqual([]);
  });

  test('resending the first-time email stops at the per-address cap (rate_limited)', async () => {
    const { member } = await services.admin.staff.addMember(hillAdmin, hill.id, { email: 'capped@hill.example', level: 'basic' });
    for (let i = 0; i < THROTTLE.resetEmailsPerAddress; i += 1)
      await services.admin.staff.inviteMember(hillAdmin, hill.id, member.accountId);
    await expect(services.admin.staff.inviteMember(hillAdmin, hill.id, member.accountId)).rejects.toMatchObject({ kind: 'rate_limited' });
    const sent = smtp.inbox.filter((m) => m.to.includes('capped@hill.example'));
    for (let i = 0; i < 50 && sent.length < THROTTLE.resetEmailsPerAddress; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      sent.splice(0, sent.length, ...smtp.inbox.filter((m) => m.to.includes('capped@hill.example')));
    }
    expect(sent).toHaveLength(THROTTLE.resetEmailsPerAddress);
  });
});

describe('listing staff', () => {
  let school: { id: string };
  const people = [
    ['alex.north@brook.example', 'Alex North'],
    ['bea@brook.example', 'Beatrice Alexander'],
    ['carl@brook.example', 'Carl Smith'],
    ['dee@brook.example', null],
    ['per%cent@brook.example', 'Percy'],
    ['under_score@brook.example', 'Una'],
    ['eve@brook.example', 'Eve Stone'],
  ] as const;

  beforeAll(async () => {
    school = await addSchool(services, 'Brook Academy', 'BR1 3AC');
    for (const [email, name] of people) {
      await services.admin.staff.addMember(OPERATOR, school.id, { email, name: name ?? undefined, level: 'basic' });
    }
  });

  test('pages of two walk every member exactly once', async () => {
    const { seen, pages } = await walkMembers(helpdesk, school.id);
    expect(pages).toBe(Math.ceil(people.length / 2));
    expect(seen.map((m) => m.email).sort()).toEqual(people.map(([email]) => email).sort());
    expect(new Set(seen.map((m) => m.accountId)).size).toBe(people.length);
    const all = await services.admin.staff.listMembers(helpdesk, school.id, { limit: 200 });
    expect(all).toMatchObject({ nextCursor: null });
    expect(all.items.map((m) => m.accountId)).toEqual(seen.map((m) => m.accountId));
  });

  test('search matches part of the email or the name, case-insensitively, and % or _ only literally', async () => {
    const emails = async (search: string) => (await walkMembers(helpdesk, school.id, search)).seen.map((m) => m.email).sort();
    expect(await emails('ALEX')).toEqual(['alex.north@brook.example', 'bea@brook.example']);
    expect(await emails('stone')).toEqual(['eve@brook.example']);
    expect(await emails('dee@')).toEqual(['dee@brook.example']);
    expect(await emails('%')).toEqual(['per%cent@brook.example']);
    expect(await emails('_')).toEqual(['under_score@brook.example']);
    expect(await emails('nobody-at-all')).toEqual([]);
  });

  test('a forged or broken cursor is a validation error, not a server error', async () => {
    const forged = [
      Buffer.from(JSON.stringify(['x', 'not-a-uuid'])).toString('base64url'),
      Buffer.from(JSON.stringify(['x'])).toString('base64url'),
      Buffer.from(JSON.stringify([1, 2])).toString('base64url'),
      Buffer.from('{"a":1}').toString('base64url'),
      Buffer.from(JSON.stringify(['x\u0000', crypto.randomUUID()])).toString('base64url'),
      'garbage!!',
      '',
    ];
    for (const cursor of forged) {
      await expect(services.admin.staff.listMembers(helpdesk, school.id, { cursor, limit: 2 })).rejects.toMatchObject({
        kind: 'validation',
      });
    }
    await expect(services.admin.auditTrail.list(helpdesk, {}, { cursor: forged[0] })).rejects.toMatchObject({ kind: 'validation' });
    await expect(services.admin.staff.listSchools(helpdesk, { cursor: 'garbage' })).rejects.toMatchObject({ kind: 'validation' });
  });
});

describe('the audit trail', () => {
  test('a school administrator reads only their school’s events', async () => {
    await services.admin.staff.addMember(helpdesk, oak.id, { email: 'oak.event@oak.example', level: 'basic' });
    const everything = await services.admin.auditTrail.list(helpdesk, {}, { limit: 200 });
    expect(everything.nextCursor).toBeNull();
    expect(everything.items.some((e) => e.schoolId === oak.id)).toBe(true);
    expect(everything.items.some((e) => e.schoolId === undefined)).toBe(true);
    // Newest first, in pages of three: every event exactly once.
    const walked: string[] = [];
    for (let cursor: string | undefined, pages = 0; pages === 0 || (cursor && pages < 200); pages += 1) {
      const page = await services.admin.auditTrail.list(helpdesk, {}, { cursor, limit: 3 });
      walked.push(...page.items.map((e) => e.id));
      cursor = page.nextCursor ?? undefined;
    }
    expect(walked).toEqual(everything.items.map((e) => e.id));

    const events: Array<StoredAuditEvent & { id: string }> = [];
    let cursor: string | undefined;
    do {
      const page = await services.admin.auditTrail.list(hillAdmin, {}, { cursor, limit: 25 });
      events.push(...page.items);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(events.length).toBeGreaterThan(0);
    expect(events.filter((e) => e.schoolId !== hill.id)).toEqual([]);
    const ownAtOnce = await services.admin.auditTrail.list(hillAdmin, {}, { limit: 200 });
    expect(events.map((e) => e.id)).toEqual(ownAtOnce.items.map((e) => e.id));
    const own = await services.admin.auditTrail.list(hillAdmin, { schoolId: hill.id, email: both.email }, { limit: 200 });
    expect(own.items.every((e) => e.schoolId === hill.id)).toBe(true);
    const byEmail = await services.admin.auditTrail.list(hillAdmin, { email: 'oak.event@oak.example' }, {});
    expect(byEmail.items).toEqual([]);
  });

  test('every act, done or refused, is an admin.* event naming the actor, the school and the target', async () => {
    // No password yet: the first-time email can go to them.
    const person = await addStaff(services, 'acted@hill.example', [{ schoolId: hill.id, accessLevel: 'basic' }], null);
    const acts: Array<{
      event: string;
      by: Authority;
      run: () => Promise<unknown>;
      outcome: 'success' | 'failure';
      target: Partial<StoredAuditEvent>;
    }> = [
      {
        event: 'admin.member.add',
        by: hillAdmin,
        run: () => services.admin.staff.addMember(hillAdmin, hill.id, { email: 'acted.new@hill.example', level: 'basic' }),
        outcome: 'success',
        target: { schoolId: hill.id, email: 'acted.new@hill.example' },
      },
      {
        event: 'admin.member.add',
        by: hillAdmin,
        run: () => services.admin.staff.addMember(hillAdmin, oak.id, { email: 'acted.oak@oak.example', level: 'basic' }),
        outcome: 'failure',
        target: { schoolId: oak.id, email: 'acted.oak@oak.example', reason: 'You do not administer this school.' },
      },
      {
        event: 'admin.member.change',
        by: hillAdmin,
        run: () => services.admin.staff.changeLevel(hillAdmin, hill.id, person.id, 'higher'),
        outcome: 'success',
        target: { schoolId: hill.id, accountId: person.id },
      },
      {
        event: 'admin.member.invite',
        by: hillAdmin,
        run: () => services.admin.staff.inviteMember(hillAdmin, hill.id, person.id),
        outcome: 'success',
        target: { schoolId: hill.id, accountId: person.id },
      },
      {
        event: 'admin.member.remove',
        by: hillAdmin,
        run: () => services.admin.staff.removeMember(hillAdmin, oak.id, oakOnly.id),
        outcome: 'failure',
        target: { schoolId: oak.id, accountId: oakOnly.id },
      },
      {
        event: 'admin.member.remove',
        by: hillAdmin,
        run: () => services.admin.staff.removeMember(hillAdmin, hill.id, person.id),
        outcome: 'success',
        target: { schoolId: hill.id, accountId: person.id },
      },
      {
        event: 'admin.user.lock',
        by: hillAdmin,
        run: () => services.admin.people.lock(hillAdmin, person.id, 'left'),
        outcome: 'failure',
        target: { accountId: person.id, reason: 'Only the helpdesk can do this.' },
      },
      {
        event: 'admin.user.lock',
        by: helpdesk,
        run: () => services.admin.people.lock(helpdesk, person.id, 'left the trust'),
        outcome: 'success',
        target: { accountId: person.id, detail: expect.objectContaining({ reason: 'left the trust' }) },
      },
      {
        event: 'admin.user.unlock',
        by: helpdesk,
        run: () => services.admin.people.unlock(helpdesk, person.id),
        outcome: 'success',
        target: { accountId: person.id },
      },
      {
        event: 'admin.user.mfa-reset',
        by: hillAdmin,
        run: () => services.admin.people.resetAuthenticators(hillAdmin, person.id, 'lost'),
        outcome: 'failure',
        target: { accountId: person.id },
      },
      {
        event: 'admin.role.grant',
        by: hillAdmin,
        run: () => services.admin.roles.grant(hillAdmin, { subject: { email: person.email }, role: 'helpdesk' }),
        outcome: 'failure',
        target: { email: person.email, detail: expect.objectContaining({ role: 'helpdesk' }) },
      },
      {
        event: 'admin.role.grant',
        by: helpdesk,
        run: () => services.admin.roles.grant(helpdesk, { subject: { email: person.email }, role: 'school-admin', schoolId: hill.id }),
        outcome: 'success',
        target: { email: person.email, schoolId: hill.id, detail: expect.objectContaining({ role: 'school-admin' }) },
      },
      {
        event: 'admin.role.revoke',
        by: helpdesk,
        run: () => services.admin.roles.revoke(helpdesk, { subject: { email: person.email }, role: 'school-admin', schoolId: hill.id }),
        outcome: 'success',
        target: { email: person.email, schoolId: hill.id },
      },
      {
        event: 'admin.client.add',
        by: hillAdmin,
        run: () => services.admin.clients.add(hillAdmin, { name: 'Sly', schoolIds: [hill.id], redirectUris: ['https://sly.example/cb'] }),
        outcome: 'failure',
        target: { detail: expect.objectContaining({ name: 'Sly' }) },
      },
      {
        event: 'admin.school.add',
        by: helpdesk,
        run: () => services.admin.staff.addSchool(helpdesk, { name: 'Fen College', postcode: 'FE1 1CC' }),
        outcome: 'success',
        target: { detail: expect.objectContaining({ name: 'Fen College' }) },
      },
    ];
    for (const act of acts) {
      const done = await act.run().then(
        () => 'success',
        (error: { kind?: string }) => {
          expect(error.kind).toBe('forbidden');
          return 'failure';
        },
      );
      expect(`${act.event} ${done}`).toBe(`${act.event} ${act.outcome}`);
      const event = await lastEvent(act.event);
      expect(event).toMatchObject({ outcome: act.outcome, ip: '192.0.2.7', ...act.target });
      expect(event.detail?.actor).toEqual(actorOf(act.by));
    }
  });

  test('resetting authenticators with a reason mails the person, with the reason', async () => {
    const person = await addStaff(services, 'phone@hill.example', [{ schoolId: hill.id, accessLevel: 'higher' }]);
    const deviceId = crypto.randomUUID();
    await services.repositories.authenticators.insert({
      id: deviceId,
      accountId: person.id,
      name: 'Old phone',
      secretSealed: services.box.seal('PE2XQOK6OZIFISKUKUQTAUBVIZIWGJCT', `totp:${deviceId}`),
      step: 0,
    });
    const reason = 'Phone lost on the Year 6 trip (ticket 4711)';
    expect(await services.admin.people.resetAuthenticators(helpdesk, person.id, reason)).toMatchObject({ removed: 1 });
    const mail = await smtp.waitFor('phone@hill.example', /authenticator was removed/);
    expect(mail.text.replace(/\s+/g, ' ')).toContain(reason);
    expect(await services.repositories.authenticators.countForAccount(person.id)).toBe(0);
    expect(await lastEvent('admin.user.mfa-reset')).toMatchObject({
      outcome: 'success',
      accountId: person.id,
      detail: { reason, actor: actorOf(helpdesk), devices: 1, passkeys: 0, backupCodesVoided: 0 },
    });
  });

  test('resetting authenticators also removes the passkeys and voids the backup codes, in one go, and the mail says so', async () => {
    const person = await addStaff(services, 'everything@hill.example', [{ schoolId: hill.id, accessLevel: 'higher' }]);
    await services.repositories.passkeys.insert({
      id: crypto.randomUUID(),
      accountId: person.id,
      credentialId: crypto.randomBytes(16).toString('base64url'),
      publicKey: crypto.randomBytes(77),
      signCount: 0,
      transports: ['internal'],
      backupEligible: true,
      backedUp: true,
      aaguid: null,
      name: 'Laptop',
    });
    const hashes = Array.from({ length: 10 }, () => crypto.randomBytes(32).toString('base64url'));
    await services.repositories.backupCodes.replaceAll(person.id, hashes);
    await services.repositories.backupCodes.spend(person.id, hashes[0]!);
    expect(await services.repositories.authenticators.countSecondFactors(person.id)).toBe(1);

    expect(await services.admin.people.resetAuthenticators(helpdesk, person.id, 'Lost bag')).toMatchObject({
      removed: 0,
      passkeysRemoved: 1,
      backupCodesVoided: 9,
    });
    expect(await services.repositories.passkeys.countForAccount(person.id)).toBe(0);
    expect(await services.repositories.backupCodes.summary(person.id)).toEqual({ left: 0, createdAt: null });
    expect(await services.repositories.authenticators.countSecondFactors(person.id)).toBe(0);
    const mail = await smtp.waitFor('everything@hill.example', /authenticator was removed/);
    expect(mail.text.replace(/\s+/g, ' ')).toContain('Your passkey was removed.');
    expect(mail.text.replace(/\s+/g, ' ')).toContain('Your backup codes no longer work.');
    expect(mail.text.replace(/\s+/g, ' ')).toContain('Lost bag');
    // The audit trail says what went, as the mail does.
    expect(await lastEvent('admin.user.mfa-reset')).toMatchObject({
      outcome: 'success',
      accountId: person.id,
      detail: { reason: 'Lost bag', devices: 0, passkeys: 1, backupCodesVoided: 9 },
    });
    const view = await services.admin.people.get(helpdesk, person.id);
    expect(view).toMatchObject({ devices: 0, passkeys: 0, backupCodesLeft: 0 });
  });
});
