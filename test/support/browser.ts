import fs from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
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
