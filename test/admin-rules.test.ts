import { act } from '../src/admin/acting.ts';
import {
  administersSchool,
  authorityFrom,
  describeActor,
  isAdministrator,
  operatorAuthority,
  requireHelpdesk,
  requireSchool,
  schoolScope,
} from '../src/admin/authority.ts';
import { csvCell } from '../src/admin/console/audit-pages.ts';
import { isStorableText } from '../src/admin/fields.ts';
import { decodeCursor, encodeCursor, MAX_PAGE_SIZE, pageOf } from '../src/admin/pagination.ts';
import type { AuditEvent } from '../src/db/repositories/audit.ts';
import type { AuditService } from '../src/domain/audit.ts';
import { DomainError } from '../src/domain/errors.ts';

/** The administration rules as pure decisions (fast; run by `npm run mutation` too). */
const person = { kind: 'person', accountId: 'a-1', email: 'desk@trust.example' } as const;
const HILL = '11111111-1111-4111-8111-111111111111';
const OAK = '22222222-2222-4222-8222-222222222222';

const kindOf = (work: () => unknown) => {
  try {
    work();
    return 'allowed';
  } catch (error) {
    return (error as DomainError).kind;
  }
};

describe('who may do what', () => {
  test('the helpdesk role reaches every school; the operator at the CLI is the helpdesk', () => {
    for (const authority of [authorityFrom(person, [{ role: 'helpdesk', schoolId: null }]), operatorAuthority('root')]) {
      expect(authority.helpdesk).toBe(true);
      expect(isAdministrator(authority)).toBe(true);
      expect(administersSchool(authority, OAK)).toBe(true);
      expect(schoolScope(authority)).toBeNull();
      expect(kindOf(() => requireHelpdesk(authority))).toBe('allowed');
      expect(kindOf(() => requireSchool(authority, OAK))).toBe('allowed');
    }
  });

  test('a school administrator reaches their schools only, and nothing that is the helpdesk’s', () => {
    const authority = authorityFrom(person, [{ role: 'school-admin', schoolId: HILL }], '192.0.2.1');
    expect(authority).toMatchObject({ helpdesk: false, ip: '192.0.2.1' });
    expect(isAdministrator(authority)).toBe(true);
    expect(administersSchool(authority, HILL)).toBe(true);
    expect(administersSchool(authority, OAK)).toBe(false);
    expect(schoolScope(authority)).toEqual([HILL]);
    expect(kindOf(() => requireSchool(authority, HILL))).toBe('allowed');
    expect(kindOf(() => requireSchool(authority, OAK))).toBe('forbidden');
    expect(kindOf(() => requireHelpdesk(authority))).toBe('forbidden');
  });

  test('each refusal says why, in words', () => {
    const none = authorityFrom(person, []);
    const hill = authorityFrom(person, [{ role: 'school-admin', schoolId: HILL }]);
    const message = (work: () => unknown) => {
      try {
        work();
      } catch (error) {
        return (error as Error).message;
      }
      return 'allowed';
    };
    expect(message(() => requireHelpdesk(none))).toBe('You do not have an administrative role in Gatehouse.');
    expect(message(() => requireSchool(none, HILL))).toBe('You do not have an administrative role in Gatehouse.');
    expect(message(() => requireHelpdesk(hill))).toBe('Only the helpdesk can do this.');
    expect(message(() => requireSchool(hill, OAK))).toBe('You do not administer this school.');
    expect(message(() => decodeCursor('nonsense', ['uuid']))).toBe(
      'The cursor is not one this service handed out: start again from the first page.',
    );
    expect(
      (() => {
        try {
          decodeCursor('nonsense', ['uuid']);
        } catch (error) {
          return (error as DomainError).field;
        }
      })(),
    ).toBe('cursor');
  });

  test('only a school-admin grant names a school the holder administers', () => {
    const odd = authorityFrom(person, [{ role: 'helpdesk', schoolId: HILL }]);
    expect([...odd.schoolIds]).toEqual([]);
  });

  test('no role: nothing at all; a school-admin grant without a school counts for nothing', () => {
    for (const authority of [authorityFrom(person, []), authorityFrom(person, [{ role: 'school-admin', schoolId: null }])]) {
      expect(isAdministrator(authority)).toBe(false);
      expect(schoolScope(authority)).toEqual([]);
      expect(kindOf(() => requireSchool(authority, HILL))).toBe('forbidden');
      expect(kindOf(() => requireHelpdesk(authority))).toBe('forbidden');
    }
  });

  test('the trail names each kind of actor', () => {
    expect(describeActor(person)).toEqual({ type: 'person', accountId: 'a-1', email: 'desk@trust.example' });
    expect(describeActor({ kind: 'client', clientId: 'gh_x' })).toEqual({ type: 'client', clientId: 'gh_x' });
    expect(describeActor({ kind: 'operator', user: 'root' })).toEqual({ type: 'cli', user: 'root' });
  });
});

describe('every act is audited', () => {
  const recorder = () => {
    const events: AuditEvent[] = [];
    return { events, audit: { record: async (event: AuditEvent) => void events.push(event) } as unknown as AuditService };
  };
  const authority = authorityFrom(person, [{ role: 'school-admin', schoolId: HILL }], '192.0.2.1');

  test('a success, with the target, the actor and what the act returned', async () => {
    const { events, audit } = recorder();
    const target = { schoolId: HILL, accountId: 'acc', email: 'x@hill.example', detail: { level: 'basic' } };
    await expect(
      act(
        audit,
        authority,
        'member.add',
        target,
        async () => 7,
        (n) => ({ result: n }),
      ),
    ).resolves.toBe(7);
    expect(events).toEqual([
      {
        event: 'admin.member.add',
        outcome: 'success',
        schoolId: HILL,
        accountId: 'acc',
        email: 'x@hill.example',
        ip: '192.0.2.1',
        detail: { level: 'basic', actor: describeActor(person), result: 7 },
      },
    ]);
  });

  test('a refusal or failure, with its reason, and the error still thrown', async () => {
    const { events, audit } = recorder();
    const refused = new DomainError('forbidden', 'You do not administer this school.');
    await expect(
      act(audit, authority, 'member.remove', { schoolId: OAK }, async () => {
        throw refused;
      }),
    ).rejects.toBe(refused);
    expect(events).toEqual([
      expect.objectContaining({ event: 'admin.member.remove', outcome: 'failure', reason: refused.message, schoolId: OAK }),
    ]);
    expect(events[0]!.detail).toEqual({ actor: describeActor(person) });
  });
});

describe('cursors', () => {
  const row = (n: number) => ({
    name: `School ${String(n).padStart(2, '0')}`,
    id: `${'0'.repeat(8)}-0000-4000-8000-${String(n).padStart(12, '0')}`,
  });
  const table = Array.from({ length: 7 }, (_, n) => row(n));
  const fetchAfter = async (after: string[] | null, limit: number) => table.filter((r) => !after || r.name > after[0]!).slice(0, limit);

  test('pages walk every row once; the last page has no cursor', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await pageOf(
        { cursor, limit: 3 },
        ['text', 'uuid'],
        fetchAfter,
        (r) => [r.name, r.id],
        (r) => r.name,
      );
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items);
      cursor = page.nextCursor ?? undefined;
      pages += 1;
    } while (cursor);
    expect(seen).toEqual(table.map((r) => r.name));
    expect(pages).toBe(3);
    const exact = await pageOf(
      { limit: 7 },
      ['text', 'uuid'],
      fetchAfter,
      (r) => [r.name, r.id],
      (r) => r.name,
    );
    expect(exact.nextCursor).toBeNull();
  });

  test('the page size defaults to 50 and is held between 1 and the maximum', async () => {
    const asked: number[] = [];
    const spy = async (_after: string[] | null, limit: number) => {
      asked.push(limit);
      return [];
    };
    for (const limit of [undefined, 0, -5, 10, 10_000])
      await pageOf(
        { limit },
        ['uuid'],
        spy,
        () => [],
        () => null,
      );
    expect(asked).toEqual([51, 2, 2, 11, MAX_PAGE_SIZE + 1]);
  });

  test('only a cursor of the right shape reaches SQL', () => {
    const uuid = row(1).id;
    expect(decodeCursor(undefined, ['uuid'])).toBeNull();
    expect(decodeCursor(encodeCursor(['Hill', uuid]), ['text', 'uuid'])).toEqual(['Hill', uuid]);
    expect(decodeCursor(encodeCursor(['2026-09-01T08:30:00.123456Z', '42']), ['timestamp', 'serial'])).toEqual([
      '2026-09-01T08:30:00.123456Z',
      '42',
    ]);
    const forged = [
      'not base64 json',
      encodeCursor(['Hill']),
      encodeCursor(['Hill', uuid, 'extra']),
      encodeCursor(['Hill', 'not-a-uuid']),
      encodeCursor(['x'.repeat(401), uuid]),
      encodeCursor(['a\u0000b', uuid]),
      Buffer.from(JSON.stringify(['Hill', 5])).toString('base64url'),
      Buffer.from(JSON.stringify({ 0: 'Hill', 1: uuid, length: 2 })).toString('base64url'),
    ];
    for (const cursor of forged) expect(kindOf(() => decodeCursor(cursor, ['text', 'uuid']))).toBe('validation');
    for (const at of [
      '2024-02-30T00:00:00.000000Z',
      '0000-01-01T00:00:00.000000Z',
      '2024-01-01T24:00:00.000000Z',
      '2024-01-01T00:00:00Z',
    ]) {
      expect(kindOf(() => decodeCursor(encodeCursor([at, '1']), ['timestamp', 'serial']))).toBe('validation');
    }
    expect(decodeCursor(encodeCursor(['2024-02-29T23:59:59.999999Z', '123']), ['timestamp', 'serial'])).toEqual([
      '2024-02-29T23:59:59.999999Z',
      '123',
    ]);
    expect(decodeCursor(encodeCursor(['x'.repeat(400), uuid]), ['text', 'uuid'])).toEqual(['x'.repeat(400), uuid]);
    for (const near of [`x${uuid}`, `${uuid}x`])
      expect(kindOf(() => decodeCursor(encodeCursor(['Hill', near]), ['text', 'uuid']))).toBe('validation');
    for (const serial of ['0', '-1', '1.5', '1'.repeat(19), '12x', 'x12']) {
      expect(kindOf(() => decodeCursor(encodeCursor(['2026-09-01T08:30:00.123456Z', serial]), ['timestamp', 'serial']))).toBe('validation');
    }
  });
});

describe('text at the edges', () => {
  test('NUL and lone surrogates are not storable text', () => {
    expect(isStorableText('Zoë Ng')).toBe(true);
    expect(isStorableText('a\u0000b')).toBe(false);
    expect(isStorableText('\ud800')).toBe(false);
  });

  test('an audit CSV cell is quoted, and never runs as a spreadsheet formula', () => {
    expect(csvCell('plain')).toBe('"plain"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    for (const formula of ['=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx']) expect(csvCell(formula)).toBe(`"'${formula}"`);
    expect(csvCell(undefined)).toBe('""');
    expect(csvCell({ actor: { type: 'cli' } })).toBe('"{""actor"":{""type"":""cli""}}"');
  });
});
