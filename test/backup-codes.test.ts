import crypto from 'node:crypto';
import { accountSubject, THROTTLE } from '../src/auth/throttle.ts';
import { ageSessionsOf } from './support/gatehouse.ts';
import { decodeAttribute, formAction, formField, qrImage, visibleText, type Page } from './support/agent.ts';
import { useGatehouse } from './support/fixture.ts';
import { codeFor, decodeQrDataUrl, parseOtpauth } from './support/totp.ts';
import { addPasskey } from './support/webauthn.ts';
import { repositoriesFor } from '../src/db/repositories/index.ts';
import { voidBackupCodesWithoutSecondFactor } from '../src/domain/backup-codes.ts';
import { Agent, audits, exchange, PASSWORD, REDIRECT_URI, staff, startAtClient, submitCode, submitLogin } from './support/scenario.ts';

const world = useGatehouse({ smtp: true });

const KEYS = () => `${world.issuer}/account/security-keys`;
const CREATE = () => `${KEYS()}/backup-codes`;
const accountIdOf = async (email: string) => (await world.services.accounts.findByEmail(email))!.id;
const query = (sql: string, params: unknown[] = []) => world.gatehouse.database.dataSource.query(sql, params);

/** The codes as the page lists them: each in its own list item. */
const codesOn = (html: string) => [...html.matchAll(/<li><code>([^<]*)<\/code><\/li>/g)].map((match) => match[1]!);

type Enrolment = { page: Page; secret: string };

async function saveDevice(agent: Agent, enrolment: Enrolment, name: string, code: string): Promise<Page> {
  return agent.post(new URL(formAction(enrolment.page.html), enrolment.page.url).toString(), {
    _csrf: formField(enrolment.page.html, '_csrf'),
    enrolment: formField(enrolment.page.html, 'enrolment'),
    name,
    code,
  });
}

/** A member of staff signed in to /account who added "Phone": the browser and the phone's secret. */
async function withPhone(email: string, accessLevel: 'basic' | 'higher' = 'higher') {
  await staff(world, email, accessLevel);
  const agent = new Agent(REDIRECT_URI);
  const login = await agent.follow(await agent.get(`${world.issuer}/account`));
  await agent.follow(await submitLogin(agent, login, email, PASSWORD));
  const page = await agent.get(`${KEYS()}/new`);
  const enrolment = { page, secret: parseOtpauth(decodeQrDataUrl(qrImage(page.html))).secret };
  const saved = await agent.follow(await saveDevice(agent, enrolment, 'Phone', codeFor(enrolment.secret)));
  expect(visibleText(saved.html)).toContain('Your new device is saved.');
  return { agent, secret: enrolment.secret };
}

/** "Create backup codes" on a browser with fresh proof: the page, then its post. */
async function createCodes(agent: Agent): Promise<{ page: Page; codes: string[] }> {
  const form = await agent.get(CREATE());
  expect(form.status).toBe(200);
  const page = await agent.post(CREATE(), { _csrf: formField(form.html, '_csrf'), replacing: formField(form.html, 'replacing') });
  expect(page.status).toBe(200);
  return { page, codes: codesOn(page.html) };
}

async function staffWithCodes(email: string, accessLevel: 'basic' | 'higher' = 'higher') {
  const { agent, secret } = await withPhone(email, accessLevel);
  return { agent, secret, codes: (await createCodes(agent)).codes };
}

/** A new browser signs in at the school's system with the password: the code page. */
async function signInAtClient(email: string) {
  const { rp, agent, authorization, page: login } = await startAtClient(world);
  const codePage = await agent.follow(await submitLogin(agent, login, email, PASSWORD));
  expect(visibleText(codePage.html)).toContain('Enter your code');
  return { rp, agent, authorization, codePage };
}

/** From the code page, "Use a backup code": its page. */
async function backupCodePage(agent: Agent, codePage: Page): Promise<Page> {
  const link = /<a href="([^"]+\/backup-code)">Use a backup code<\/a>/.exec(codePage.html)?.[1];
  if (!link) throw new Error(`No "Use a backup code" link on:\n${codePage.html}`);
  const page = await agent.get(new URL(decodeAttribute(link), codePage.url).toString());
  expect(page.status).toBe(200);
  return page;
}

const submitBackupCode = (agent: Agent, page: Page, code: string) =>
  agent.post(new URL(formAction(page.html), page.url).toString(), { _csrf: formField(page.html, '_csrf'), code });

const auditOf = async (email: string, event: string) =>
  audits(world.gatehouse, event, { accountId: await accountIdOf(email), columns: ['outcome', 'reason', 'detail'] });

const storedHashes = async (email: string) =>
  (
    (await query(`SELECT code_hash FROM backup_codes WHERE account_id = $1 ORDER BY code_hash`, [await accountIdOf(email)])) as Array<{
      code_hash: string;
    }>
  ).map((row) => row.code_hash);

test('codes are made only after fresh proof: ten different ones, shown once, kept only as keyed hashes; a new set voids the old', async () => {
  const email = 'head@hill.example';
  const { agent, secret } = await withPhone(email);
  const keys = await agent.get(KEYS());
  expect(visibleText(keys.html)).toContain('You have no backup codes yet.');
  expect(keys.html).toContain('href="/account/security-keys/backup-codes">Create backup codes</a>');

  // A browser left signed in: neither the page nor a post makes codes without the password and a code.
  await ageSessionsOf(world.gatehouse, await accountIdOf(email));
  const confirmUrl = `${world.issuer}/account/confirm?${new URLSearchParams({ next: '/account/security-keys/backup-codes' })}`;
  const asked = await agent.get(CREATE());
  expect(asked.status).toBe(303);
  expect(asked.location).toBe(confirmUrl);
  const confirm = await agent.get(asked.location!);
  const posted = await agent.post(CREATE(), { _csrf: formField(confirm.html, '_csrf'), replacing: 'none' });
  expect(posted.location).toBe(confirmUrl);
  expect(await storedHashes(email)).toEqual([]);
  const confirmed = await agent.post(`${world.issuer}/account/confirm`, {
    _csrf: formField(confirm.html, '_csrf'),
    next: formField(confirm.html, 'next'),
    password: PASSWORD,
    code: codeFor(secret, 1),
  });
  expect(confirmed.location).toBe(CREATE());

  const { page, codes } = await createCodes(agent);
  expect(visibleText(page.html)).toContain('This is the only time these codes are shown.');
  expect(codes).toHaveLength(10);
  expect(new Set(codes).size).toBe(10);
  for (const code of codes) expect(code).toMatch(/^[a-hjkmnp-z2-9]{5}-[a-hjkmnp-z2-9]{5}$/);

  // Stored: HMAC-SHA256 under the key store's derived key, over the account and the code; never the code.
  const accountId = await accountIdOf(email);
  const key = world.services.box.deriveKey('backup-codes');
  const expected = codes.map((code) =>
    crypto
      .createHmac('sha256', key)
      .update(`${accountId}:${code.replace('-', '')}`)
      .digest('base64url'),
  );
  expect(await storedHashes(email)).toEqual([...expected].sort());
  const dump = JSON.stringify(await query(`SELECT * FROM backup_codes`));
  for (const code of codes) {
    expect(dump).not.toContain(code);
    expect(dump).not.toContain(code.replace('-', ''));
  }

  // "Download": a text file of the codes, made by the server, handed over as a data: URL.
  const download = /<a class="button" href="([^"]+)" download="([^"]+)">Download<\/a>/.exec(page.html);
  expect(decodeAttribute(download![2]!)).toBe('backup-codes.txt');
  const file = decodeURIComponent(decodeAttribute(download![1]!).replace(/^data:text\/plain;charset=utf-8,/, ''));
  expect(file).toContain(`Backup codes for ${email} – Gatehouse`);
  for (const code of codes) expect(file).toContain(`\r\n${code}\r\n`);

  // Mailed and audited.
  const mail = await world.smtp.waitFor(email, /New backup codes for your Gatehouse account/);
  expect(mail.text).toContain(`New backup codes were created for the Gatehouse account for ${email}`);
  expect(await auditOf(email, 'backup_codes.create')).toEqual([{ outcome: 'success', reason: null, detail: { count: 10 } }]);

  // The post again (a reload, or back to the page): the codes are not shown again, and not replaced.
  const form = await agent.get(CREATE());
  const again = await agent.post(CREATE(), { _csrf: formField(form.html, '_csrf'), replacing: 'none' });
  expect(again.status).toBe(409);
  expect(visibleText(again.html)).toContain('were created and shown already, so they are not shown again');
  expect(codesOn(again.html)).toEqual([]);
  expect(await storedHashes(email)).toEqual([...expected].sort());
  expect(visibleText((await agent.get(KEYS())).html)).toContain('You have 10 backup codes left, from the set created on');

  // A new set, asked for on purpose: the page says the old ones stop working; every old one does.
  expect(visibleText(form.html)).toContain('Your old backup codes will stop working, including any you have not used.');
  expect(form.html).toContain('Create new backup codes');
  const renewed = await createCodes(agent);
  expect(renewed.codes).toHaveLength(10);
  const hashes = await storedHashes(email);
  expect(hashes).toHaveLength(10);
  expect(hashes.filter((hash) => expected.includes(hash))).toEqual([]);
  const account = (await world.services.accounts.findByEmail(email))!;
  expect(await world.services.backupCodes.spend(account, codes[0]!)).toBeNull();
  expect(await world.services.backupCodes.spend(account, renewed.codes[0]!)).toEqual({ left: 9 });
});

test('two sets made at once leave one set of ten, not twenty', async () => {
  const email = 'twice@hill.example';
  await withPhone(email);
  const account = (await world.services.accounts.findByEmail(email))!;
  const [first, second] = await Promise.all([
    world.services.backupCodes.create(account, { ip: '192.0.2.1' }),
    world.services.backupCodes.create(account, { ip: '192.0.2.1' }),
  ]);
  expect(await storedHashes(email)).toHaveLength(10);
  const left = await Promise.all([first![0]!, second![0]!].map((code) => world.services.backupCodes.spend(account, code)));
  expect(left.filter((spent) => spent !== null)).toHaveLength(1);
});

test('two "Create backup codes" posts from one page at once: one shows codes, the other says they were shown, and the shown ones work', async () => {
  const email = 'double-click@hill.example';
  const { agent } = await withPhone(email);
  const account = (await world.services.accounts.findByEmail(email))!;
  for (let round = 0; round < 4; round += 1) {
    const form = await agent.get(CREATE());
    const post = () => agent.post(CREATE(), { _csrf: formField(form.html, '_csrf'), replacing: formField(form.html, 'replacing') });
    const pages = await Promise.all([post(), post()]);
    expect(pages.map((page) => page.status).sort()).toEqual([200, 409]);
    const shown = codesOn(pages.find((page) => page.status === 200)!.html);
    expect(shown).toHaveLength(10);
    expect(codesOn(pages.find((page) => page.status === 409)!.html)).toEqual([]);
    // The codes shown are the ones that work: no second set voided them.
    expect(await world.services.backupCodes.spend(account, shown[round]!)).toEqual({ left: 9 });
  }
});

/** An account with a phone (from withPhone), a passkey, and codes: two second factors, and codes standing in for them. */
async function withPhoneAndPasskey(email: string) {
  const { agent } = await staffWithCodes(email);
  const account = (await world.services.accounts.findByEmail(email))!;
  const { passkey } = await addPasskey(world, account);
  const [device] = await world.services.authenticators.list(account.id);
  return { agent, account, passkey, device: device! };
}

test('the last two second factors removed at the same moment: the codes go with them, every time', async () => {
  for (let round = 0; round < 5; round += 1) {
    const email = `both-gone-${round}@hill.example`;
    const { account, passkey, device } = await withPhoneAndPasskey(email);
    expect(await storedHashes(email)).toHaveLength(10);
    await Promise.all([
      world.services.authenticators.remove(account, device.id, { ip: '192.0.2.1' }),
      world.services.passkeys.remove(account, passkey.id, { ip: '192.0.2.1' }),
    ]);
    expect([round, await storedHashes(email)]).toEqual([round, []]);
  }
});

test('removing the last passkey voids the codes, and its mail says so; removing one that is not the last does not', async () => {
  const email = 'last-passkey@hill.example';
  const { account, passkey, device } = await withPhoneAndPasskey(email);
  const voided = /Your backup codes no longer work\./;
  await world.services.authenticators.remove(account, device.id, { ip: '192.0.2.1' });
  const deviceMail = await world.smtp.waitFor(email, /An authenticator was removed/);
  expect(deviceMail.text).not.toMatch(voided);
  expect(await storedHashes(email)).toHaveLength(10);
  await world.services.passkeys.remove(account, passkey.id, { ip: '192.0.2.1' });
  expect(await storedHashes(email)).toEqual([]);
  const passkeyMail = await world.smtp.waitFor(email, /A passkey was removed/);
  expect([passkeyMail.text, visibleText(passkeyMail.html)]).toEqual([expect.stringMatching(voided), expect.stringMatching(voided)]);
  expect(await auditOf(email, 'passkey.remove')).toEqual([
    expect.objectContaining({ detail: expect.objectContaining({ backupCodesVoided: 10 }) }),
  ]);
});

test('codes made while the last second factor is removed are voided with it, or not made', async () => {
  for (let round = 0; round < 5; round += 1) {
    const email = `made-while-gone-${round}@hill.example`;
    await withPhone(email);
    const account = (await world.services.accounts.findByEmail(email))!;
    const [device] = await world.services.authenticators.list(account.id);
    const [made] = await Promise.allSettled([
      world.services.backupCodes.create(account, { ip: '192.0.2.1' }),
      world.services.authenticators.remove(account, device!.id, { ip: '192.0.2.1' }),
    ]);
    expect([round, await storedHashes(email)]).toEqual([round, []]);
    if (made.status === 'rejected') expect(made.reason).toMatchObject({ words: { key: 'recovery.section.needSecondFactor' } });
  }
});

test('codes asked for while the last second factor’s removal is under way are refused once it commits, not kept', async () => {
  const email = 'removal-under-way@hill.example';
  await withPhone(email);
  const account = (await world.services.accounts.findByEmail(email))!;
  const [device] = await world.services.authenticators.list(account.id);
  // A removal of the phone in another process, held open after it voided the codes under the lock.
  const runner = world.gatehouse.database.dataSource.createQueryRunner();
  await runner.connect();
  await runner.startTransaction();
  const removal = repositoriesFor(runner.manager);
  await removal.authenticators.delete(account.id, device!.id);
  expect(await voidBackupCodesWithoutSecondFactor(removal, account.id)).toBe(0);
  const making = world.services.backupCodes.create(account, { ip: '192.0.2.1' }).then(
    () => 'made',
    (error: { words?: { key: string } }) => error.words?.key,
  );
  await new Promise((resolve) => setTimeout(resolve, 300));
  await runner.commitTransaction();
  await runner.release();
  // Counted before the removal committed, the phone would still be there and the codes would outlive it.
  expect(await making).toBe('recovery.section.needSecondFactor');
  expect(await storedHashes(email)).toEqual([]);
});

/** Every code of the account still unused. */
const unusedCount = async (email: string) =>
  Number(
    (
      (await query(`SELECT count(*) AS n FROM backup_codes WHERE account_id = $1 AND used_at IS NULL`, [
        await accountIdOf(email),
      ])) as Array<{
        n: string;
      }>
    )[0]!.n,
  );

test('the helpdesk reset while a new set is being made: it waits for the set and voids it, no deadlock', async () => {
  const email = 'reset-while-made@hill.example';
  await staffWithCodes(email);
  const account = (await world.services.accounts.findByEmail(email))!;
  // A new set in another process, as BackupCodeService.create makes one: the account's lock, the
  // count of second factors (the phone is still there), then the new codes a moment later.
  const runner = world.gatehouse.database.dataSource.createQueryRunner();
  await runner.connect();
  await runner.startTransaction();
  const making = repositoriesFor(runner.manager);
  await making.backupCodes.lockAccount(account.id);
  expect(await making.authenticators.countSecondFactors(account.id)).toBe(1);
  const reset = world.services.authenticators.resetAll(account, 'Lost phone');
  await new Promise((resolve) => setTimeout(resolve, 300));
  const newSet = [1, 2].map(() => crypto.randomBytes(32).toString('base64url'));
  try {
    // Deleted by a reset that took no lock, these rows would make this wait on it while it waits on the account: a deadlock.
    await making.backupCodes.replaceAll(account.id, newSet);
    await runner.commitTransaction();
  } finally {
    if (runner.isTransactionActive) await runner.rollbackTransaction();
    await runner.release();
  }
  expect(await reset).toMatchObject({ devices: 1, backupCodes: 2 });
  expect(await storedHashes(email)).toEqual([]);
});

test('the helpdesk reset racing "Create backup codes": never a server error, never codes left behind', async () => {
  for (let round = 0; round < 5; round += 1) {
    const email = `reset-race-${round}@hill.example`;
    await staffWithCodes(email);
    const account = (await world.services.accounts.findByEmail(email))!;
    const [made, reset] = await Promise.allSettled([
      world.services.backupCodes.create(account, { ip: '192.0.2.1' }),
      world.services.authenticators.resetAll(account),
    ]);
    expect([round, reset.status, await storedHashes(email)]).toEqual([round, 'fulfilled', []]);
    // Made first, the set was voided by the reset; asked for after it, refused in words.
    if (made.status === 'rejected') expect(made.reason).toMatchObject({ words: { key: 'recovery.section.needSecondFactor' } });
  }
});

test('a locked account keeps its backup codes: a right one is refused as locked, spends nothing, and works once unlocked', async () => {
  const email = 'locked-codes@hill.example';
  const { codes } = await staffWithCodes(email);
  const account = (await world.services.accounts.findByEmail(email))!;
  // The look is rolled back: a right code stays unused, a wrong one is not there.
  expect(await world.services.backupCodes.isUnused(account, codes[0]!)).toBe(true);
  expect(await world.services.backupCodes.isUnused(account, 'aaaaa-aaaaa')).toBe(false);
  expect(await unusedCount(email)).toBe(10);
  const locked = await world.services.accounts.setStatus(email, 'locked');
  expect(await world.services.authentication.checkBackupCode(locked, codes[0]!, { ip: '192.0.2.1' })).toEqual({
    ok: false,
    reason: 'locked',
  });
  expect(await unusedCount(email)).toBe(10);
  const unlocked = await world.services.accounts.setStatus(email, 'active');
  expect(await world.services.authentication.checkBackupCode(unlocked, codes[0]!, { ip: '192.0.2.1' })).toMatchObject({
    ok: true,
    left: 9,
  });
  // One mail about a used code: the one for the use that signed in.
  await world.smtp.waitFor(email, /A backup code was used/);
  expect(world.smtp.inbox.filter((mail) => mail.to.includes(email) && /A backup code was used/.test(mail.subject))).toHaveLength(1);
});

test('password and a backup code at a school system: acr higher, amr pwd otp mfa, higher access; the code works once; a mail says how many are left', async () => {
  const email = 'deputy@hill.example';
  const { codes } = await staffWithCodes(email);
  const { rp, agent, authorization, codePage } = await signInAtClient(email);
  const page = await backupCodePage(agent, codePage);
  expect(visibleText(page.html)).toContain('Use a backup code');
  expect(page.html).toMatch(
    /<input id="code" name="code" type="text" inputmode="text" autocomplete="one-time-code" spellcheck="false" autocapitalize="none"/,
  );
  expect(page.html).toContain(
    `<a href="/interaction/${/interaction\/([^/]+)\//.exec(page.url)![1]}">Use a code from your authenticator app instead</a>`,
  );

  // Typed as people do: capitals, spaces, no hyphen.
  const typed = codes[3]!.toUpperCase().replace('-', ' ');
  const callback = await agent.follow(await submitBackupCode(agent, page, typed));
  const claims = (await exchange(rp, callback, authorization)).claims()!;
  expect(claims).toMatchObject({ acr: 'urn:gatehouse:acr:higher', amr: ['pwd', 'otp', 'mfa'], access_level: 'higher' });

  // From the school whose sign-in it was.
  const mail = await world.smtp.waitFor(email, /A backup code was used for your account for Hill Primary School/);
  expect(mail.from.name).toBe('Hill Primary School');
  expect(mail.text).toContain(`A backup code was used for the Gatehouse account for ${email}`);
  expect(mail.text).toContain('You have 9 backup codes left.');
  expect(await auditOf(email, 'sign_in.backup_code')).toEqual([{ outcome: 'success', reason: null, detail: { left: 9 } }]);

  // The same code again, in another browser: refused in words, and counted as a failure.
  const other = await signInAtClient(email);
  const otherPage = await backupCodePage(other.agent, other.codePage);
  const refused = await submitBackupCode(other.agent, otherPage, codes[3]!);
  expect(refused.status).toBe(401);
  expect(visibleText(refused.html)).toContain('That backup code is not right, or it has been used already.');
  expect(refused.html).toContain('aria-describedby="code-hint code-error" aria-invalid="true"');
  expect((await auditOf(email, 'sign_in.backup_code')).at(-1)).toMatchObject({ outcome: 'failure', reason: 'invalid' });
  expect(await world.services.backupCodes.summary(await accountIdOf(email))).toMatchObject({ left: 9 });
});

test('a basic member passes the second step with a backup code: acr higher, access level still basic', async () => {
  const email = 'ta@hill.example';
  const { codes } = await staffWithCodes(email, 'basic');
  const { rp, agent, authorization, codePage } = await signInAtClient(email);
  const callback = await agent.follow(await submitBackupCode(agent, await backupCodePage(agent, codePage), codes[0]!));
  expect((await exchange(rp, callback, authorization)).claims()).toMatchObject({
    acr: 'urn:gatehouse:acr:higher',
    amr: ['pwd', 'otp', 'mfa'],
    access_level: 'basic',
  });
});

test('the last code: the mail says none are left, the code page stops offering them, Security keys says to make new ones', async () => {
  const email = 'last@hill.example';
  const { agent: settings, codes } = await staffWithCodes(email);
  const account = (await world.services.accounts.findByEmail(email))!;
  for (const code of codes.slice(1)) expect(await world.services.backupCodes.spend(account, code)).not.toBeNull();
  const { rp, agent, authorization, codePage } = await signInAtClient(email);
  const callback = await agent.follow(await submitBackupCode(agent, await backupCodePage(agent, codePage), codes[0]!));
  expect((await exchange(rp, callback, authorization)).claims()).toMatchObject({ acr: 'urn:gatehouse:acr:higher' });
  const mail = await world.smtp.waitFor(email, /A backup code was used/);
  expect(mail.text).toContain('You have no backup codes left. Create new ones in Account settings, under Security keys.');
  expect(mail.text).not.toMatch(/You have \d+ backup codes? left/);

  const next = await signInAtClient(email);
  expect(next.codePage.html).not.toContain('Use a backup code');
  expect(visibleText((await settings.get(KEYS())).html)).toContain('You have used all the backup codes created on');
});

test('two uses of one code at the same moment: exactly one signs in', async () => {
  const email = 'race@hill.example';
  const { codes } = await staffWithCodes(email);
  const browsers = await Promise.all([signInAtClient(email), signInAtClient(email)]);
  const pages = await Promise.all(browsers.map(({ agent, codePage }) => backupCodePage(agent, codePage)));
  const answers = await Promise.all(browsers.map(({ agent }, i) => submitBackupCode(agent, pages[i]!, codes[0]!)));
  expect(answers.map((answer) => answer.status).sort()).toEqual([303, 401]);
  expect(await world.services.backupCodes.summary(await accountIdOf(email))).toMatchObject({ left: 9 });
  const outcomes = (await auditOf(email, 'sign_in.backup_code')).map((row) => row.outcome).sort();
  expect(outcomes).toEqual(['failure', 'success']);
});

test('wrong backup codes count against the same budget as authenticator codes: paused, then stopped, with the guessing warning', async () => {
  const email = 'guessed@hill.example';
  const { secret, codes } = await staffWithCodes(email);
  const accountId = await accountIdOf(email);
  const { agent, codePage } = await signInAtClient(email);
  const page = await backupCodePage(agent, codePage);

  // Two wrong authenticator codes and one wrong backup code: one run of three in the code counters.
  for (const code of ['000000', '111111']) expect((await submitCode(agent, codePage, code)).status).toBe(401);
  expect((await submitBackupCode(agent, page, 'zzzzz-zzzzz')).status).toBe(401);
  const streak = `code:${accountSubject(accountId)}`;
  const counted = async () =>
    Object.fromEntries(
      ((await query(`SELECT key, count FROM auth_throttle WHERE key LIKE $1 || '%'`, [streak])) as Array<{ key: string; count: number }>)
        .concat(await query(`SELECT key, count FROM auth_failure_streaks WHERE key = $1`, [streak]))
        .map((row) => [row.key === streak ? 'streak' : 'window', row.count]),
    );
  expect(await counted()).toEqual({ window: 3, streak: 3 });

  // Up to the short-term limit with earlier guesses: the next wrong backup code pauses both kinds.
  await query(`UPDATE auth_throttle SET count = $2 WHERE key LIKE $1 || '%'`, [streak, THROTTLE.lockAfter - 1]);
  const paused = await submitBackupCode(agent, page, 'zzzzz-zzzzz');
  expect(paused.status).toBe(429);
  expect(visibleText(paused.html)).toContain('Too many wrong attempts. Signing in is paused until');
  expect((await submitBackupCode(agent, page, codes[0]!)).status).toBe(429);
  expect((await submitCode(agent, codePage, codeFor(secret, 1))).status).toBe(429);
  expect(await world.services.backupCodes.summary(accountId)).toMatchObject({ left: 10 });

  // Past the warning mark the person is told someone is guessing at their codes; at the block, stopped.
  await query(`DELETE FROM auth_throttle WHERE key LIKE $1 || '%'`, [streak]);
  await query(`UPDATE auth_failure_streaks SET count = $2 WHERE key = $1`, [streak, THROTTLE.warnAfter]);
  expect((await submitBackupCode(agent, page, 'zzzzz-zzzzz')).status).toBe(401);
  const warning = await world.smtp.waitFor(email, /Someone is trying to sign in/);
  expect(warning.text).toContain('wrong authenticator code');
  await query(`UPDATE auth_failure_streaks SET count = $2 WHERE key = $1`, [streak, THROTTLE.blockAfter - 1]);
  const blocked = await submitBackupCode(agent, page, 'zzzzz-zzzzz');
  expect(blocked.status).toBe(423);
  expect(visibleText(blocked.html)).toContain('Signing in here has been stopped');
  expect((await submitBackupCode(agent, page, codes[0]!)).status).toBe(423);
  expect((await submitCode(agent, codePage, codeFor(secret, 2))).status).toBe(423);
  expect(await world.services.backupCodes.summary(accountId)).toMatchObject({ left: 10 });
});

test('bad input on the backup code page is a 4xx page in words, never a 5xx', async () => {
  const email = 'typos@hill.example';
  await staffWithCodes(email);
  const { agent, codePage } = await signInAtClient(email);
  const page = await backupCodePage(agent, codePage);
  const post = (form: Record<string, string>) =>
    agent.post(new URL(formAction(page.html), page.url).toString(), { _csrf: formField(page.html, '_csrf'), ...form });

  const empty = await post({ code: '  ' });
  expect(empty.status).toBe(400);
  expect(visibleText(empty.html)).toContain('Enter one of your backup codes.');
  const tooLong = await post({ code: 'a'.repeat(33) });
  expect(tooLong.status).toBe(400);
  expect(visibleText(tooLong.html)).toContain('We could not read that form');
  const nul = await post({ code: 'abcde\u0000fghij' });
  expect(nul.status).toBe(400);
  for (const code of ['ｂｃｄｅｆ-２３４５６', 'bcdef-2345ö', 'İİİİİ-İİİİİ', '😀😀😀😀😀-😀😀😀😀😀', 'abcde-0o1li', 'abcde-23456-7']) {
    const answer = await post({ code });
    expect(answer.status).toBe(401);
    expect(visibleText(answer.html)).toContain('That backup code is not right');
  }
  const missing = await agent.post(new URL(formAction(page.html), page.url).toString(), { _csrf: formField(page.html, '_csrf') });
  expect(missing.status).toBe(400);
  const array = await agent.send(new URL(formAction(page.html), page.url).toString(), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `_csrf=${encodeURIComponent(formField(page.html, '_csrf'))}&code=a&code=b`,
  });
  expect(array.status).toBe(400);
});

test('after losing the phone: sign in to Account settings with a backup code, confirm with another, remove the phone', async () => {
  const email = 'lost@hill.example';
  const { codes } = await staffWithCodes(email);
  const agent = new Agent(REDIRECT_URI);
  const login = await agent.follow(await agent.get(`${world.issuer}/account`));
  const codePage = await agent.follow(await submitLogin(agent, login, email, PASSWORD));
  const keys = await agent.follow(await submitBackupCode(agent, await backupCodePage(agent, codePage), codes[0]!));
  expect(visibleText(keys.html)).toContain('You have 9 backup codes left');

  await ageSessionsOf(world.gatehouse, await accountIdOf(email));
  const phoneId = (await world.services.authenticators.list(await accountIdOf(email)))[0]!.id;
  const removePath = `/account/security-keys/${phoneId}/remove`;
  const confirm = await agent.follow(await agent.get(`${world.issuer}${removePath}`));
  expect(visibleText(confirm.html)).toContain('A current code from your authenticator app, or one of your backup codes.');
  expect(confirm.html).toContain('aria-describedby="code-hint"');
  const submit = (code: string) =>
    agent.post(`${world.issuer}/account/confirm`, {
      _csrf: formField(confirm.html, '_csrf'),
      next: formField(confirm.html, 'next'),
      password: PASSWORD,
      code,
    });
  const reused = await submit(codes[0]!);
  expect(reused.status).toBe(401);
  expect(visibleText(reused.html)).toContain('That code is not right');
  const confirmed = await submit(codes[1]!.toUpperCase());
  expect(confirmed.location).toBe(`${world.issuer}${removePath}`);
  const removePage = await agent.get(confirmed.location!);
  const removed = await agent.follow(await agent.post(confirmed.location!, { _csrf: formField(removePage.html, '_csrf') }));
  expect(visibleText(removed.html)).toContain('The device has been removed.');

  expect((await auditOf(email, 'sign_in.backup_code')).map((row) => [row.outcome, row.detail?.left])).toEqual([
    ['success', 9],
    ['failure', undefined],
    ['success', 8],
  ]);
  await world.smtp.waitFor(email, /A backup code was used/);
  const used = world.smtp.inbox.filter((mail) => mail.to.includes(email) && /A backup code was used/.test(mail.subject));
  expect(used.map((mail) => /You have (\d+) backup codes left/.exec(mail.text)?.[1])).toEqual(['9', '8']);

  // No second factor now: the codes stand in for none, so the section says to add one first.
  const after = await agent.get(KEYS());
  expect(visibleText(after.html)).toContain('Add one of those first, then create your backup codes.');
  expect(after.html).not.toContain('href="/account/security-keys/backup-codes"');
  const create = await agent.get(CREATE());
  expect(create.location).toBe(KEYS());
});

test('an account without a second factor cannot make codes, and cannot use old ones for a step-up', async () => {
  const email = 'nodevice@hill.example';
  await staff(world, email);
  const agent = new Agent(REDIRECT_URI);
  const login = await agent.follow(await agent.get(`${world.issuer}/account`));
  const keys = await agent.follow(await submitLogin(agent, login, email, PASSWORD));
  expect(visibleText(keys.html)).toContain('Backup codes stand in for an authenticator device or a passkey.');
  const form = await agent.get(`${world.issuer}/account/confirm`);
  const refused = await agent.post(CREATE(), { _csrf: formField(form.html, '_csrf'), replacing: 'none' });
  expect(refused.status).toBe(400);
  expect(visibleText(refused.html)).toContain('Backup codes stand in for an authenticator device or a passkey.');
  expect(await storedHashes(email)).toEqual([]);

  // Codes left from an earlier device do not answer a step-up: enrolment does.
  const account = (await world.services.accounts.findByEmail(email))!;
  await world.services.repositories.backupCodes.replaceAll(account.id, ['x'.repeat(43)]);
  const { agent: browser, page: started } = await startAtClient(world, { acr_values: 'urn:gatehouse:acr:higher' });
  const enrol = await browser.follow(await submitLogin(browser, started, email, PASSWORD));
  expect(enrol.url).toMatch(/\/interaction\/[^/]+\/enrol$/);
  const uid = /\/interaction\/([^/]+)\//.exec(enrol.url)![1]!;
  const page = await browser.get(`${world.issuer}/interaction/${uid}/backup-code`);
  expect(page.status).toBe(303);
  expect(page.location).toBe(`${world.issuer}/interaction/${uid}`);
});
