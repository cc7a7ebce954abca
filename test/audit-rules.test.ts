import { Writable } from 'node:stream';
import pino from 'pino';
import type { Repositories } from '../src/db/repositories/index.ts';
import type { AuditEvent } from '../src/db/repositories/audit.ts';
import { AuditService } from '../src/domain/audit.ts';
import { AuditWriter } from '../src/domain/audit-writer.ts';
import { DomainError, isDomainError, notFound, validationError } from '../src/domain/errors.ts';

/**
 * Unit tests of the audit trail's rules (which school an event belongs to, never failing the
 * action, nothing lost at shutdown) over an in-memory store. test/audit.test.ts keeps the
 * end-to-end trail on PostgreSQL.
 */

function auditWorld(schoolsOf: Record<string, string[]> = {}, failing = false) {
  const rows: Array<Record<string, unknown>> = [];
  const logged: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'error' },
    new Writable({
      write(chunk, _encoding, done) {
        logged.push(JSON.parse(String(chunk)));
        done();
      },
    }),
  );
  const repositories = {
    audit: {
      insertMany: async (events: Array<Record<string, unknown>>) => {
        if (failing) throw new Error('disk full');
        rows.push(...events);
      },
      forAccount: async (accountId: string | null, email: string, limit: number) => [{ accountId, email, limit }],
    },
    clientSchools: { schoolsOf: async (clientId: string) => (schoolsOf[clientId] ?? []).map((id) => ({ id })) },
    accounts: { findByEmail: async (email: string) => (email === 'staff@hill.example' ? { id: 'acc-1' } : null) },
  } as unknown as Repositories;
  return { audit: new AuditService(repositories, logger), rows, logged };
}

test('an event through a client serving one school is that school’s; several or none, no school; an explicit one wins', async () => {
  const { audit, rows } = auditWorld({ one: ['s-a'], two: ['s-a', 's-b'] });
  await audit.record({ event: 'e', outcome: 'success', clientId: 'one' });
  await audit.record({ event: 'e', outcome: 'success', clientId: 'two' });
  await audit.record({ event: 'e', outcome: 'success' });
  await audit.record({ event: 'e', outcome: 'success', clientId: 'one', schoolId: 's-z' });
  expect(rows.map((row) => row.schoolId)).toEqual(['s-a', undefined, undefined, 's-z']);
  expect(rows[0]).toEqual({ event: 'e', outcome: 'success', clientId: 'one', schoolId: 's-a' });
  expect(rows[2]).toEqual({ event: 'e', outcome: 'success', schoolId: undefined });
});

test('an event that cannot be written is logged, and the action goes on', async () => {
  const { audit, logged } = auditWorld({}, true);
  await expect(audit.record({ event: 'sign_in.password', outcome: 'failure' })).resolves.toBeUndefined();
  expect(logged).toEqual([expect.objectContaining({ level: 50, event: 'sign_in.password', msg: 'could not write an audit event' })]);
});

test('background work is awaited by drain, including work started while draining; failures are logged', async () => {
  const { audit, rows, logged } = auditWorld();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  audit.inBackground(async () => {
    await gate;
    await audit.record({ event: 'first', outcome: 'success' });
    audit.inBackground(() => audit.record({ event: 'second', outcome: 'success' }));
  });
  audit.inBackground(async () => {
    throw new Error('boom');
  });
  const drained = audit.drain();
  release();
  await drained;
  expect(rows.map((row) => row.event)).toEqual(['first', 'second']);
  expect(logged).toEqual([expect.objectContaining({ msg: 'could not audit an event' })]);
});

test('the trail of an address: by account when one exists, by the address alone otherwise, 100 by default', async () => {
  const { audit } = auditWorld();
  expect(await audit.forEmail('staff@hill.example')).toEqual([{ accountId: 'acc-1', email: 'staff@hill.example', limit: 100 }]);
  expect(await audit.forEmail('nobody@hill.example', 5)).toEqual([{ accountId: null, email: 'nobody@hill.example', limit: 5 }]);
});

test('domain errors say their kind and field, and are recognised as such', () => {
  const invalid = validationError('Give this device a name.', 'name');
  expect(invalid).toBeInstanceOf(DomainError);
  expect(invalid).toMatchObject({ kind: 'validation', field: 'name', message: 'Give this device a name.', name: 'DomainError' });
  expect(notFound('No such device.')).toMatchObject({ kind: 'not_found', field: undefined, message: 'No such device.' });
  expect(isDomainError(invalid)).toBe(true);
  expect(isDomainError(new Error('x'))).toBe(false);
});

describe('the audit writer (group commit)', () => {
  function writerWorld(refuse: (event: AuditEvent) => boolean = () => false) {
    const statements: string[][] = [];
    const logged: Array<Record<string, unknown>> = [];
    const logger = pino(
      { level: 'error' },
      new Writable({ write: (chunk, _e, done) => done(void logged.push(JSON.parse(String(chunk)))) }),
    );
    const writer = new AuditWriter(async (events) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (events.some(refuse)) throw new Error('violates a foreign key');
      statements.push(events.map((event) => event.event));
    }, logger);
    return { writer, statements, logged };
  }
  const event = (name: string): AuditEvent => ({ event: name, outcome: 'success' });

  test('an event on its own is written at once, in a statement of its own', async () => {
    const { writer, statements } = writerWorld();
    await writer.record(event('one'));
    expect(statements).toEqual([['one']]);
  });

  test('events recorded together, or while a write is in flight, share one statement', async () => {
    const { writer, statements } = writerWorld();
    const first = [writer.record(event('a')), writer.record(event('b'))];
    await new Promise((resolve) => setTimeout(resolve, 1));
    const during = [writer.record(event('c')), writer.record(event('d')), writer.record(event('e'))];
    await Promise.all([...first, ...during]);
    expect(statements).toEqual([
      ['a', 'b'],
      ['c', 'd', 'e'],
    ]);
  });

  test('a batch is at most 500 events', async () => {
    const { writer, statements } = writerWorld();
    await Promise.all(Array.from({ length: 1001 }, (_, i) => writer.record(event(`e${i}`))));
    expect(statements.map((statement) => statement.length)).toEqual([500, 500, 1]);
  });

  test('an event that cannot be written costs only itself, and is logged', async () => {
    const { writer, statements, logged } = writerWorld((e) => e.event === 'bad');
    await Promise.all(['a', 'bad', 'c'].map((name) => writer.record(event(name))));
    expect(statements.flat()).toEqual(['a', 'c']);
    expect(logged).toEqual([expect.objectContaining({ level: 50, event: 'bad', msg: 'could not write an audit event' })]);
  });

  test('drain waits for every event recorded, including those recorded while draining', async () => {
    const { writer, statements } = writerWorld();
    // 'b' is recorded as 'a' is written: after the flush that drain first waits for has ended.
    void writer.record(event('a')).then(() => void writer.record(event('b')));
    const drained = writer.drain().then(() => statements.flat());
    expect(await drained).toEqual(['a', 'b']);
  });
});
