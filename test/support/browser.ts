import fs from 'node:fs';
import path from 'node:path';
import { expect } from '@jest/globals';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { PASSWORD } from './scenario.ts';
import { decodeQrPng, parseOtpauth } from './totp.ts';

/** Debian's Chromium, never a downloaded one; the flags keep it off the (closed) network. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM}: run "apt-get install chromium" (the CI script does).`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Reads the enrolment QR code off the screen, as a phone's camera would: the TOTP secret. */
export async function scanQrCode(page: Page): Promise<string> {
  const png = await page.getByRole('img', { name: /QR code/ }).screenshot();
  return parseOtpauth(decodeQrPng(png)).secret;
}

const AXE_SOURCE = fs.readFileSync(new URL('../../node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');

/**
 * The WCAG 2.2 A and AA violations axe finds on the page as it is now (ids and the offending
 * markup, for a readable failure). Evaluated through DevTools, so the page's CSP is untouched.
 */
export async function axeViolations(page: Page): Promise<Array<{ id: string; nodes: string[] }>> {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const axe = (
      globalThis as unknown as {
        axe: {
          run: (context: unknown, options: unknown) => Promise<{ violations: Array<{ id: string; nodes: Array<{ html: string }> }> }>;
        };
      }
    ).axe;
    const result = await axe.run((globalThis as unknown as { document: unknown }).document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
    });
    return result.violations.map((violation) => ({ id: violation.id, nodes: violation.nodes.map((node) => node.html) }));
  });
}

/**
 * A platform authenticator on the page, through DevTools (WebAuthn.addVirtualAuthenticator): CTAP2,
 * internal transport, resident keys, user verification that always succeeds, presence simulated.
 * `backupEligible` makes its new credentials syncable passkeys (BE flag), as a phone's would be.
 */
export async function addVirtualAuthenticator(page: Page, options: { backupEligible?: boolean; userVerified?: boolean } = {}) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      ctap2Version: 'ctap2_1',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: options.userVerified ?? true,
      automaticPresenceSimulation: true,
      ...(options.backupEligible ? { defaultBackupEligibility: true, defaultBackupState: true } : {}),
    },
  });
  return {
    authenticatorId,
    /** The credentials it holds (id, rpId, userHandle, signCount, isResidentCredential). */
    credentials: async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials,
    /** Makes the next user verification fail (or succeed again). */
    setUserVerified: (isUserVerified: boolean) => cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified }),
    remove: () => cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId }),
  };
}

/**
 * What every hosted page must be: zero axe WCAG 2.2 AA violations at a desktop's width (1280) and
 * a small phone's (320), and at 320 px nothing wider than the screen (no sideways scrolling).
 * `name` labels a failure. SCREENSHOTS=dir keeps a picture of the page at each width.
 */
export async function expectAccessible(page: Page, name = new URL(page.url()).pathname): Promise<void> {
  for (const width of [1280, 320]) {
    await page.setViewportSize({ width, height: 900 });
    expect({ name, width, violations: await axeViolations(page) }).toEqual({ name, width, violations: [] });
    const scrollWidth = await page.evaluate('document.documentElement.scrollWidth');
    expect({ name, width, fits: Number(scrollWidth) <= width }).toEqual({ name, width, fits: true });
    const shots = process.env.SCREENSHOTS;
    if (shots) {
      fs.mkdirSync(shots, { recursive: true });
      await page.screenshot({ path: path.join(shots, `${name.replace(/[^a-z0-9]+/gi, '-')}-${width}.png`), fullPage: true });
    }
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

/** A fresh browser context and page with a platform authenticator (addVirtualAuthenticator). */
export async function browserWithAuthenticator(
  browser: Browser,
  options: { backupEligible?: boolean; userVerified?: boolean } = {},
  contextOptions: BrowserContextOptions = {},
) {
  const context = await browser.newContext(contextOptions);
  const page = await context.newPage();
  const authenticator = await addVirtualAuthenticator(page, options);
  return { context, page, authenticator };
}

/** The login form's words, in the page's language. */
export const LOG_IN_WORDS = {
  en: { email: 'Email address', password: 'Password', submit: 'Log in' },
  cy: { email: 'Cyfeiriad e-bost', password: 'Cyfrinair', submit: 'Mewngofnodi' },
};

/** On the login page: the email and password (PASSWORD unless given), then "Log in". */
export async function logIn(page: Page, email: string, options: { password?: string; words?: typeof LOG_IN_WORDS.en } = {}) {
  const words = options.words ?? LOG_IN_WORDS.en;
  await page.getByLabel(words.email).fill(email);
  await page.getByLabel(words.password, { exact: true }).fill(options.password ?? PASSWORD);
  await page.getByRole('button', { name: words.submit, exact: true }).click();
}

/** Back at the school system (startRelyingPartyApp): the claims it shows. */
export async function claimsAtSchoolSystem(page: Page) {
  await page.locator('#welcome').waitFor();
  return JSON.parse((await page.locator('#claims').textContent()) ?? '{}');
}
