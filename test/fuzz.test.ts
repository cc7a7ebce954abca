import fc from 'fast-check';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { formField } from './support/agent.ts';
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

/**
 * Random and hostile values at every form and endpoint: nothing may answer 5xx or show a stack
 * trace, and the database must come out intact (the known account still signs in).
 */
let storage: TestStorage;
let gatehouse: TestGatehouse;
let credentials: { clientId: string; clientSecret: string };
let agent: Agent;
let uid: string;
let csrf: string;

const HOSTILE = [
  '',
  ' ',
  '\u0000',
  '%',
  '%zz',
  '%00',
  '\ud800',
  '<script>alert(1)</script>',
  "' OR 1=1 --",
  '../../etc/passwd',
  '${jndi:ldap://x}',
  '{{constructor.constructor("x")()}}',
  'a'.repeat(20_000),
  '🙂'.repeat(500),
  '\r\nSet-Cookie: x=y',
  'null',
  'undefined',
  '[]',
  '{}',
  '__proto__',
  'constructor',
  '-1',
  '1e309',
  'NaN',
];

const value = fc.oneof(fc.constantFrom(...HOSTILE), fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 100 }));
const fieldName = fc.oneof(
  fc.constantFrom(
    'email',
    'password',
    'code',
    'name',
    'token',
    'confirm',
    'school',
    'enrolment',
    '_csrf',
    'xsrf',
    'logout',
    'grant_type',
    'client_id',
    'scope',
    'redirect_uri',
    '__proto__',
    'a[b]',
    'email[]',
  ),
  fc.string({ maxLength: 20 }),
);
const form = fc.array(fc.tuple(fieldName, value), { maxLength: 8 });
const contentType = fc.constantFrom(
  'application/x-www-form-urlencoded',
  'application/json',
  'text/plain',
  'multipart/form-data; boundary=x',
  'application/x-www-form-urlencoded; charset=latin1',
  'application/xml',
);

beforeAll(async () => {
  storage = await createTestStorage();
  gatehouse = await startTestGatehouse(storage);
  const school = await addSchool(gatehouse.services, 'Hill Primary School');
  credentials = await addClient(gatehouse.services, 'Hill MIS', [school.id]);
  await addStaff(gatehouse.services, 'known@hill.example', [{ schoolId: school.id, accessLevel: 'higher' }]);
  agent = new Agent(REDIRECT_URI);
  const login = await start(agent, await authorizationRequest(await relyingParty(gatehouse.issuer, credentials)));
  uid = /\/interaction\/([^/?]+)/.exec(login.url)![1]!;
  csrf = formField(login.html, '_csrf');
});

afterAll(async () => {
  await gatehouse?.close();
  await storage?.drop();
});

/** Percent-encodes every byte (lone surrogates become U+FFFD), keeping raw '%' sequences as given. */
const percent = (v: string) =>
  v.includes('%') ? v : [...Buffer.from(v, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

function encode(pairs: Array<[string, string]>, type: string, withCsrf: boolean): string {
  const all = withCsrf ? [['_csrf', csrf] as [string, string], ...pairs] : pairs;
  if (type.startsWith('application/json')) return JSON.stringify(Object.fromEntries(all));
  return all.map(([k, v]) => `${percent(k)}=${percent(v)}`).join('&');
}

const FORM_PATHS = () => [
  `/interaction/${uid}/login`,
  `/interaction/${uid}/code`,
  `/interaction/${uid}/backup-code`,
  `/interaction/${uid}/passkey/options`,
  `/interaction/${uid}/passkey`,
  `/interaction/${uid}/passkey/second-step/options`,
  `/interaction/${uid}/passkey/second-step`,
  `/interaction/${uid}/school`,
  `/interaction/${uid}/abort`,
  `/interaction/${uid}/continue-basic`,
  `/interaction/${uid}/enrol`,
  `/interaction/${uid}/enrol/passkey/options`,
  `/interaction/${uid}/enrol/passkey`,
  `/interaction/${uid}/forgot`,
  '/password/forgot',
  '/password/reset',
  '/account/security-keys/new',
  '/account/security-keys/00000000-0000-4000-8000-000000000000/remove',
  '/account/security-keys/backup-codes',
  '/account/security-keys/passkeys/new',
  '/account/security-keys/passkeys/options',
  '/account/security-keys/passkeys/00000000-0000-4000-8000-000000000000/remove',
  '/account/confirm/passkey/options',
  '/account/confirm/passkey',
  '/token',
  '/token/introspection',
  '/token/revocation',
  '/reg',
  '/session/end/confirm',
  '/me',
];

const GET_PATHS = () => [
  '/password/reset?token=',
  `/interaction/${uid}?reset=`,
  `/interaction/${uid}/enrol?x=`,
  '/account/callback?state=',
  '/auth?client_id=',
  `/auth?response_type=code&scope=openid&client_id=${credentials.clientId}&redirect_uri=`,
  '/session/end?id_token_hint=',
  '/account/security-keys/',
  '/.well-known/openid-configuration?',
  '/jwks?',
  '/reg/',
];

async function assertSane(response: Response, what: string) {
  const body = await response.text();
  if (response.status >= 500 || /\n\s+at \S+ \(/.test(body)) {
    throw new Error(`${what} -> ${response.status}\n${body.slice(0, 500)}`);
  }
}

test('hostile form posts never yield a 5xx or a stack trace', async () => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...FORM_PATHS()), form, contentType, fc.boolean(), async (path, pairs, type, withCsrf) => {
      const response = await agent
        .send(`${gatehouse.issuer}${path}`, { method: 'POST', headers: { 'content-type': type }, body: encode(pairs, type, withCsrf) })
        .then((page) => new Response(page.html, { status: page.status }));
      await assertSane(response, `POST ${path} ${type}`);
    }),
    { numRuns: 250 },
  );
}, 300_000);

test('hostile query strings never yield a 5xx or a stack trace', async () => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...GET_PATHS()), value, async (path, raw) => {
      const url = `${gatehouse.issuer}${path}${percent(raw)}`;
      await assertSane(await fetch(url, { redirect: 'manual' }), `GET ${path}…`);
    }),
    { numRuns: 150 },
  );
}, 300_000);

test('raw, badly encoded bodies and headers are refused in words', async () => {
  const bodies = [Buffer.from([0xff, 0xfe, 0xfd]), Buffer.from('email=%E0%A4%A&password=%'), Buffer.alloc(100_000, 0x61)];
  for (const path of FORM_PATHS()) {
    for (const body of bodies) {
      const response = await fetch(`${gatehouse.issuer}${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          cookie: [...agent.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
        },
        body,
      });
      await assertSane(response, `POST ${path} (raw)`);
    }
  }
}, 120_000);

test('afterwards the database is intact: the known account still signs in, nothing half-made', async () => {
  const rp = await relyingParty(gatehouse.issuer, credentials);
  const fresh = new Agent(REDIRECT_URI);
  const authorization = await authorizationRequest(rp);
  const login = await start(fresh, authorization);
  const offer = await fresh.follow(await submitLogin(fresh, login, 'known@hill.example', PASSWORD));
  expect(offer.html).toContain('continue-basic');
  const [{ count: accounts }] = await gatehouse.database.dataSource.query(`SELECT count(*)::int AS count FROM accounts`);
  const [{ count: devices }] = await gatehouse.database.dataSource.query(`SELECT count(*)::int AS count FROM authenticator_devices`);
  const [{ count: clients }] = await gatehouse.database.dataSource.query(
    `SELECT count(*)::int AS count FROM oidc_payloads WHERE model = 'Client'`,
  );
  expect({ accounts, devices, clients }).toEqual({ accounts: 1, devices: 0, clients: 1 });
  void exchange;
});
