import { Writable } from 'node:stream';
import pino from 'pino';
import type { Repositories } from '../src/db/repositories/index.ts';
import { AuditService } from '../src/domain/audit.ts';
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
      insert: async (row: Record<string, unknown>) => {
        if (failing) throw new Error('disk full');
        rows.push(row);
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
