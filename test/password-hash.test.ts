import { hashPassword, needsRehash, verifyPassword } from '../src/auth/passwords.ts';
import { loadConfig } from '../src/config/index.ts';
import { DEFAULT_PASSWORD_HASH, parsePasswordHash } from '../src/config/password-hash.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import {
  addClient,
  addSchool,
  addStaff,
  Agent,
  authorizationRequest,
  exchange,
  PASSWORD,
  REDIRECT_URI,
  relyingParty,
  start,
  submitLogin,
} from './support/scenario.ts';

/** What Gatehouse stored before PASSWORD_HASH existed: 64 MiB, 3 passes. */
const OLD_COST = { memoryKiB: 65_536, passes: 3, parallelism: 1 };
const paramsOf = (hash: string) => {
  const [, m, p, t] = /\$m=(\d+),p=(\d+),t=(\d+)\$/.exec(hash) ?? [];
  return [m, t, p].map(Number);
};

describe('PASSWORD_HASH', () => {
  test("defaults to OWASP's baseline: argon2id, 19 MiB, 2 passes, 1 lane", () => {
    expect(loadConfig({}).passwordHash).toEqual({ memoryKiB: 19_456, passes: 2, parallelism: 1 });
    expect(parsePasswordHash('  ')).toBe(DEFAULT_PASSWORD_HASH);
  });

  test("takes any of OWASP's equal-defence options", () => {
    expect(parsePasswordHash('argon2id:m=47104,t=1,p=1')).toEqual({ memoryKiB: 47_104, passes: 1, parallelism: 1 });
    expect(parsePasswordHash('argon2id:m=7168,t=5,p=1')).toEqual({ memoryKiB: 7_168, passes: 5, parallelism: 1 });
    expect(loadConfig({ PASSWORD_HASH: 'argon2id:m=65536,t=3,p=2' }).passwordHash).toEqual({ ...OLD_COST, parallelism: 2 });
  });

  test.each([
    ['bcrypt', /not of the form argon2id:m=<KiB>,t=<passes>,p=<lanes>/],
    ['argon2i:m=19456,t=2,p=1', /not of the form/],
    ['argon2id:m=19456,t=2', /not of the form/],
    ['argon2id:m=4096,t=9,p=1', /memory m=4096 must be between 7168 and 1048576 KiB/],
    ['argon2id:m=2000000,t=1,p=1', /must be between/],
    ['argon2id:m=19456,t=1,p=1', /m×t = 19456 is weaker than OWASP's options/],
    ['argon2id:m=7168,t=4,p=1', /weaker than OWASP's options/],
    ['argon2id:m=19456,t=0,p=1', /needs t of at least 1/],
    ['argon2id:m=19456,t=2,p=0', /p between 1 and 16/],
    ['argon2id:m=19456,t=2,p=17', /p between 1 and 16/],
  ])('refuses %s with a sentence saying why', (value, message) => {
    expect(() => loadConfig({ PASSWORD_HASH: value })).toThrow(message);
    expect(() => loadConfig({ PASSWORD_HASH: value })).toThrow(/^Configuration error: PASSWORD_HASH /);
  });

  test('hashes at the configured cost, and knows which stored hashes are at another one', async () => {
    const hash = await hashPassword(PASSWORD);
    expect(hash.startsWith('$argon2id$v=19$')).toBe(true);
    expect(paramsOf(hash)).toEqual([19_456, 2, 1]);
    expect(needsRehash(hash)).toBe(false);
    expect(needsRehash(hash, { memoryKiB: 19_456, passes: 3, parallelism: 1 })).toBe(true);
    expect(needsRehash(hash, { memoryKiB: 47_104, passes: 2, parallelism: 1 })).toBe(true);
    expect(needsRehash(hash, { memoryKiB: 19_456, passes: 2, parallelism: 2 })).toBe(true);
    expect(needsRehash(hash.replace('$argon2id$', '$argon2i$'))).toBe(true);
    expect(needsRehash('not a hash')).toBe(true);
    expect(await verifyPassword(hash, PASSWORD)).toBe(true);
  });
});

describe('a password stored at the old cost', () => {
  let storage: TestStorage;
  let gatehouse: TestGatehouse;
  let hillClient: { clientId: string; clientSecret: string };

  beforeAll(async () => {
    storage = await createTestStorage();
    gatehouse = await startTestGatehouse(storage);
    const { services } = gatehouse;
    const hill = await addSchool(services, 'Hill Primary School');
    hillClient = await addClient(services, 'Hill MIS', [hill.id]);
  });

  afterAll(async () => {
    await gatehouse?.close();
    await storage?.drop();
  });

  async function signIn(email: string, password = PASSWORD) {
    const rp = await relyingParty(gatehouse.issuer, hillClient);
    const agent = new Agent(REDIRECT_URI);
    const authorization = await authorizationRequest(rp);
    const callback = await agent.follow(await submitLogin(agent, await start(agent, authorization), email, password));
    return { rp, authorization, callback };
  }

  const stored = async (id: string) => {
    const [row] = await gatehouse.database.dataSource.query('SELECT password_hash, password_changed_at FROM accounts WHERE id = $1', [id]);
    return row as { password_hash: string; password_changed_at: Date };
  };

  async function withOldHash(email: string) {
    const { services } = gatehouse;
    const [school] = await services.repositories.schools.list();
    const account = await addStaff(services, email, [{ schoolId: school!.id, accessLevel: 'basic' }]);
    const old = await hashPassword(PASSWORD, OLD_COST);
    await services.repositories.accounts.setPasswordHash(account.id, old);
    return { account, old, changedAt: (await stored(account.id)).password_changed_at };
  }

  test('still signs in, and is upgraded to the configured cost without counting as a password change', async () => {
    const { account, old, changedAt } = await withOldHash('upgrade@hill.example');
    const { rp, authorization, callback } = await signIn('upgrade@hill.example');
    expect((await exchange(rp, callback, authorization)).claims()?.sub).toBe(account.id);

    await gatehouse.services.authentication.drain();
    const after = await stored(account.id);
    expect(after.password_hash).not.toBe(old);
    expect(paramsOf(after.password_hash)).toEqual([19_456, 2, 1]);
    expect(await verifyPassword(after.password_hash, PASSWORD)).toBe(true);
    expect(after.password_changed_at).toEqual(changedAt);

    // Signing in again works against the new hash, and does not hash a third time.
    const again = await signIn('upgrade@hill.example');
    expect((await exchange(rp, again.callback, again.authorization)).claims()?.sub).toBe(account.id);
    await gatehouse.services.authentication.drain();
    expect((await stored(account.id)).password_hash).toBe(after.password_hash);
  });

  test('a wrong password upgrades nothing', async () => {
    const { account, old } = await withOldHash('wrong@hill.example');
    const { callback } = await signIn('wrong@hill.example', 'not the password at all');
    expect(callback.location ?? null).toBeNull();
    await gatehouse.services.authentication.drain();
    expect((await stored(account.id)).password_hash).toBe(old);
  });

  test('a reset made while the upgrade was hashing is kept', async () => {
    const { account, old } = await withOldHash('raced@hill.example');
    const reset = await hashPassword('a completely new password', DEFAULT_PASSWORD_HASH);
    await gatehouse.services.repositories.accounts.setPasswordHash(account.id, reset);
    expect(await gatehouse.services.repositories.accounts.upgradePasswordHash(account.id, old, 'upgraded')).toBe(false);
    expect((await stored(account.id)).password_hash).toBe(reset);
  });
});
