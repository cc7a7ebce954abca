import fs from 'node:fs';
import path from 'node:path';
import * as client from 'openid-client';
import type { Page } from 'playwright-core';
import { hashPassword } from '../src/auth/passwords.ts';
import { useGatehouse } from './support/fixture.ts';
import { ROOT } from './support/process.ts';
import { PASSWORD, relyingParty } from './support/scenario.ts';
import { adminCli } from './support/spawned.ts';

/**
 * docs/conformance.md, "How to run the conformance suite against Gatehouse", as written: its
 * commands run through the CLI against this test's database, its configuration is read from the
 * page, and the configuration's browser steps are played on Gatehouse's own pages in Chromium,
 * with the suite's addresses answered here. If the guide and Gatehouse drift apart, this fails.
 */
const world = useGatehouse({ client: false, browser: true });
const GUIDE = fs.readFileSync(path.join(ROOT, 'docs/conformance.md'), 'utf8');
const SUITE = 'https://www.certification.openid.net';

/** The fenced block that follows `<!-- conformance-guide: name -->` in the guide. */
function block(name: string): string {
  const match = new RegExp(`<!-- conformance-guide: ${name} -->\\n\`\`\`\\w+\\n([\\s\\S]*?)\\n\`\`\``).exec(GUIDE);
  if (!match) throw new Error(`docs/conformance.md has no "${name}" block`);
  return match[1]!;
}

/** A command line's words, as a shell splits them (double quotes only, which is all the guide uses). */
const words = (line: string) => [...line.matchAll(/"([^"]*)"|(\S+)/g)].map(([, quoted, bare]) => quoted ?? bare!);

type BrowserTask = { task: string; optional?: boolean; match: string; commands?: Array<Array<string | number>> };
type Configuration = {
  alias: string;
  server: { discoveryUrl: string; login_hint: string; ui_locales: string };
  client: Record<string, string>;
  client2: Record<string, string>;
  override: Record<string, { client: Record<string, string> }>;
  browser: Array<{ match: string; tasks: BrowserTask[] }>;
};

/** The suite's `match` patterns: `*` is anything. */
const glob = (pattern: string) => new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);

test('the guide’s commands and configuration work against Gatehouse, and its browser steps sign in and log out', async () => {
  // Step 2: the commands, in order, with the school's id where the guide says <school-id>.
  let schoolId = '';
  const outputs: string[] = [];
  const lines = block('commands').split('\n');
  expect(lines.every((line) => line.startsWith('npm run -s admin -- '))).toBe(true);
  for (const line of lines) {
    const args = words(line.slice('npm run -s admin -- '.length)).map((word) => (word === '<school-id>' ? schoolId : word));
    const output = await adminCli(world.storage, args);
    outputs.push(output);
    if (args[0] === 'school') schoolId = (JSON.parse(output) as { id: string }).id;
  }
  const clients = outputs
    .filter((_, index) => lines[index]!.includes(' client add '))
    .map((output) => JSON.parse(output) as Record<string, string>);
  expect(clients).toHaveLength(3);
  const userAdd = words(lines.find((line) => line.includes(' user add '))!);
  const email = userAdd[userAdd.indexOf('--email') + 1]!;
  // The password, as the person would set it through the first-time link.
  const account = (await world.services.repositories.accounts.findByEmail(email))!;
  await world.services.repositories.accounts.setPasswordHash(account.id, await hashPassword(PASSWORD));

  // Step 3: the configuration agrees with the commands.
  const configuration = JSON.parse(block('configuration')) as Configuration;
  const base = `${SUITE}/test/a/${configuration.alias}`;
  const example = new URL(configuration.server.discoveryUrl).origin;
  expect(configuration.server.discoveryUrl).toBe(`${example}/.well-known/openid-configuration`);
  expect(configuration.server.login_hint).toBe(email);
  expect(configuration.server.ui_locales).toBe('cy');
  expect(Object.keys(configuration.override)).toEqual(['oidcc-server-client-secret-post']);
  const [first, second, third] = await Promise.all(clients.map((made) => world.services.repositories.clients.find(made.client_id!)));
  expect(first).toMatchObject({
    redirectUris: [`${base}/callback`],
    postLogoutRedirectUris: [`${base}/post_logout_redirect`],
    backchannelLogoutUri: `${base}/backchannel_logout`,
    tokenEndpointAuthMethod: 'client_secret_basic',
  });
  expect(second).toMatchObject({ redirectUris: [`${base}/callback`], tokenEndpointAuthMethod: 'client_secret_basic' });
  expect(third).toMatchObject({ redirectUris: [`${base}/callback`], tokenEndpointAuthMethod: 'client_secret_post' });
  for (const made of [first, second, third]) expect(made!.schools).toEqual([expect.objectContaining({ id: schoolId })]);

  // The browser steps, on Gatehouse's pages (the guide's issuer is this Gatehouse); the suite's pages answered here.
  const context = await world.browser.newContext();
  await context.route(`${SUITE}/**`, (route) =>
    route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>Suite</title><p id="submission_complete">done</p>' }),
  );
  const here = (pattern: string) => glob(pattern.replace(example, world.issuer).replace('<password>', PASSWORD));
  /** The suite sends the browser to `url`: the entry of `browser` whose match it is plays its tasks. */
  const play = async (page: Page, url: string) => {
    const entry = configuration.browser.find(({ match }) => here(match).test(url));
    if (!entry) throw new Error(`no browser entry of the guide matches ${url}`);
    await page.goto(url);
    const { tasks } = entry;
    for (const task of tasks) {
      await page.waitForURL(here(task.match), { timeout: task.optional ? 2_000 : 10_000 }).catch((error: unknown) => {
        if (!task.optional) throw error;
      });
      for (const [command, type, target, value] of task.commands ?? []) {
        const selector = type === 'name' ? `[name="${target}"]` : type === 'id' ? `#${target}` : String(target);
        if (command === 'text') await page.locator(selector).fill(String(value).replace('<password>', PASSWORD));
        else if (command === 'click') {
          // ["click", type, target, "optional"]: skipped when the page has no such element.
          if (value !== 'optional' || (await page.locator(selector).count()) > 0) await page.locator(selector).click();
        } else if (command === 'wait') await page.locator(selector).waitFor({ timeout: Number(value) * 1000 });
        else throw new Error(`the guide uses a browser command this test does not play: ${command}`);
      }
    }
  };
  try {
    const page = await context.newPage();
    const rp = await relyingParty(world.issuer, { clientId: clients[0]!.client_id!, clientSecret: clients[0]!.client_secret! });
    // As the suite asks: state and nonce, no PKCE (the guide registered the client with --pkce optional).
    const state = client.randomState();
    const nonce = client.randomNonce();
    const authorization = client.buildAuthorizationUrl(rp, { redirect_uri: `${base}/callback`, scope: 'openid', state, nonce });
    await play(page, authorization.toString());
    expect(page.url()).toMatch(new RegExp(`^${base}/callback\\?code=`));
    const tokens = await client.authorizationCodeGrant(rp, new URL(page.url()), { expectedState: state, expectedNonce: nonce });
    expect(tokens.claims()!.sub).toBe(account.id);

    const logout = client.buildEndSessionUrl(rp, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: `${base}/post_logout_redirect`,
      state: 'bye',
    });
    await play(page, logout.toString());
    expect(page.url()).toBe(`${base}/post_logout_redirect?state=bye`);
  } finally {
    await context.close();
  }
});
