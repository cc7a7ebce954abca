import type { Browser } from 'playwright-core';
import type { Services } from '../../src/services.ts';
import { launchChromium } from './browser.ts';
import { createTestStorage, type TestStorage } from './database.ts';
import { startTestGatehouse, type TestGatehouse } from './gatehouse.ts';
import { startRelyingPartyApp } from './relying-party-app.ts';
import { addClient, addSchool } from './scenario.ts';
import { startSmtpServer } from './smtp.ts';

/** The school a test file's staff belong to, and the name of its school system (the client). */
export type TestSchool = { name: string; postcode: string; client: string };

/** Where the HTTP tests' staff work: the client redirects to REDIRECT_URI, for an Agent. */
export const HILL: TestSchool = { name: 'Hill Primary School', postcode: 'AB1 2CD', client: 'Hill MIS' };
/** Where the browser tests' staff work: the client is a running school system (startRelyingPartyApp). */
export const RIVERSIDE: TestSchool = { name: 'Riverside High', postcode: 'RH1 2AB', client: 'Riverside MIS' };

export type GatehouseOptions = {
  /** A real SMTP server the Gatehouse mails through (SMTP_URL). */
  smtp?: boolean;
  /** More of the operator's environment. */
  env?: Record<string, string>;
  /** Default HILL. */
  school?: TestSchool;
  /**
   * The school's client: 'agent' redirects to REDIRECT_URI (for test/support/agent.ts), 'school-system'
   * is a running openid-client app a browser signs in at, false none. Default 'agent'.
   */
  client?: 'agent' | 'school-system' | false;
  /** Chromium, for browser tests. */
  browser?: boolean;
};

export type SchoolSystem = Awaited<ReturnType<typeof startRelyingPartyApp>>;
export type Credentials = { clientId: string; clientSecret: string };

/** What a test file's beforeAll made; each getter throws if the file did not ask for it. */
export type TestWorld = {
  readonly storage: TestStorage;
  readonly gatehouse: TestGatehouse;
  readonly services: Services;
  readonly issuer: string;
  readonly smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  readonly schoolId: string;
  readonly credentials: Credentials;
  readonly schoolSystem: SchoolSystem;
  readonly browser: Browser;
};

/**
 * One Gatehouse for the test file: registers beforeAll (storage, SMTP, the Gatehouse, a school and
 * its client, Chromium) and afterAll (each closed in the reverse order), and returns the world they
 * make, read through getters once beforeAll has run.
 */
export function useGatehouse(options: GatehouseOptions = {}): TestWorld {
  const made: Partial<Record<keyof TestWorld, unknown>> = {};
  const got = <K extends keyof TestWorld>(key: K): TestWorld[K] => {
    if (made[key] === undefined) throw new Error(`useGatehouse: no ${key} (not asked for, or beforeAll has not run)`);
    return made[key] as TestWorld[K];
  };
  const world: TestWorld = {
    get storage() {
      return got('storage');
    },
    get gatehouse() {
      return got('gatehouse');
    },
    get services() {
      return got('gatehouse').services;
    },
    get issuer() {
      return got('gatehouse').issuer;
    },
    get smtp() {
      return got('smtp');
    },
    get schoolId() {
      return got('schoolId');
    },
    get credentials() {
      return got('credentials');
    },
    get schoolSystem() {
      return got('schoolSystem');
    },
    get browser() {
      return got('browser');
    },
  };

  beforeAll(async () => {
    const storage = await createTestStorage();
    made.storage = storage;
    const smtp = options.smtp ? await startSmtpServer() : undefined;
    made.smtp = smtp;
    const gatehouse = await startTestGatehouse(storage, { ...(smtp ? { SMTP_URL: smtp.url } : {}), ...options.env });
    made.gatehouse = gatehouse;
    const client = options.client ?? 'agent';
    const schoolSystem = client === 'school-system' ? await startRelyingPartyApp() : undefined;
    made.schoolSystem = schoolSystem;
    const school = options.school ?? HILL;
    const schoolId = (await addSchool(gatehouse.services, school.name, school.postcode)).id;
    made.schoolId = schoolId;
    if (client) {
      const extra = schoolSystem ? { redirectUris: [schoolSystem.redirectUri] } : {};
      const credentials = await addClient(gatehouse.services, school.client, [schoolId], extra);
      made.credentials = credentials;
      await schoolSystem?.connect(gatehouse.issuer, credentials);
    }
    if (options.browser) made.browser = await launchChromium();
  });

  afterAll(async () => {
    await (made.browser as Browser | undefined)?.close();
    await (made.schoolSystem as SchoolSystem | undefined)?.close();
    await (made.gatehouse as TestGatehouse | undefined)?.close();
    await (made.smtp as TestWorld['smtp'] | undefined)?.close();
    await (made.storage as TestStorage | undefined)?.drop();
  });

  return world;
}
