import crypto from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { operatorAuthority } from '../src/admin/authority.ts';
import { axeViolations, launchChromium, scanQrCode } from './support/browser.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';
import { startTestGatehouse, type TestGatehouse } from './support/gatehouse.ts';
import { addStaff, PASSWORD } from './support/scenario.ts';
import { startSmtpServer } from './support/smtp.ts';
import { codeFor } from './support/totp.ts';

/**
 * The console in Welsh, in Chromium: chosen with the language link (remembered in its cookie),
 * or asked for with Accept-Language. Every page says `<html lang="cy">`, its words are Welsh —
 * headings, buttons, notices, the problems next to a field and on an import's lines, counts in
 * Welsh plural forms, the words of a refusal — times are UK time in Welsh, and axe finds nothing.
 */
let storage: TestStorage;
let gatehouse: TestGatehouse;
let browser: Browser;
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
let oakId: string;
/** The helpdesk's authenticator secret, as their phone holds it after the first test's enrolment. */
let phoneSecret: string;

beforeAll(async () => {
  storage = await createTestStorage();
  smtp = await startSmtpServer();
  gatehouse = await startTestGatehouse(storage, { SMTP_URL: smtp.url, SERVICE_NAME: 'Porth Addysg' });
  const { services } = gatehouse;
  oakId = (await services.schools.add({ name: 'Ysgol y Dderwen', postcode: 'CF1 1AA' })).id;
  await addStaff(services, 'desg@trust.example', [{ schoolId: oakId, accessLevel: 'basic' }]);
  await services.admin.roles.grant(operatorAuthority('test'), { subject: { email: 'desg@trust.example' }, role: 'helpdesk' });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await gatehouse?.close();
  await smtp?.close();
  await storage?.drop();
});

/** The page is in Welsh, holds none of the English given, and axe finds no WCAG 2.2 AA violation. */
async function expectWelsh(page: Page, notEnglish: string[] = []) {
  await expect(page.locator('html').getAttribute('lang')).resolves.toBe('cy');
  const text = await page.locator('main').innerText();
  expect({ url: page.url(), english: notEnglish.filter((words) => text.includes(words)) }).toEqual({ url: page.url(), english: [] });
  expect({ url: page.url(), violations: await axeViolations(page) }).toEqual({ url: page.url(), violations: [] });
}

/** Words every console page had in English: none may be left on a Welsh page. */
const CONSOLE_ENGLISH = ['Schools', 'People', 'Audit', 'Clients', 'Roles', 'Log out', 'Signed in as', 'Email address', 'Search'];

test('the console in Welsh: every page, its problems, notices, counts and times', async () => {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${gatehouse.issuer}/admin`);
  await page.locator('input[type=email]').fill('desg@trust.example');
  await page.locator('input[type=password]').first().fill(PASSWORD);
  await page.locator('button[type=submit]').first().click();
  phoneSecret = await scanQrCode(page);
  await page.locator('input[name=name]').fill('Ffôn');
  await page.locator('input[name=code]').fill(codeFor(phoneSecret));
  await page.locator('button[type=submit]').first().click();
  await page.waitForURL(/\/admin\/schools$/);

  // The language link, remembered: every page after it is Welsh.
  await page.getByRole('link', { name: 'Cymraeg' }).click();
  await page.getByRole('heading', { name: 'Ysgolion' }).waitFor();
  expect(new URL(page.url()).pathname).toBe('/admin/schools');
  await expect(page.title()).resolves.toBe('Ysgolion – Porth Addysg');
  for (const tab of ['Pobl', 'Archwilio', 'Cleientiaid', 'Rolau', 'Allgofnodi']) await page.getByRole('link', { name: tab }).waitFor();
  await page.getByText('Wedi mewngofnodi fel desg@trust.example').waitFor();
  await page.getByRole('button', { name: 'Chwilio' }).waitFor();
  await expectWelsh(page, [...CONSOLE_ENGLISH, 'Add a school', 'Postcode']);
  await page.getByLabel('Enw', { exact: true }).fill('');
  await page.getByRole('button', { name: 'Ychwanegu’r ysgol' }).click();
  await page.getByText('Peidiwch â’i adael yn wag').first().waitFor();
  await expectWelsh(page, ['Must not be empty']);

  await page.getByRole('link', { name: 'Ysgol y Dderwen' }).click();
  await page.getByRole('heading', { name: 'Ychwanegu aelod o staff' }).waitFor();
  await expectWelsh(page, [...CONSOLE_ENGLISH, 'Add a member of staff', 'Import staff']);

  // A problem next to a field, in Welsh.
  await page.getByLabel('Cyfeiriad e-bost').fill('nid cyfeiriad');
  await page.getByRole('button', { name: 'Ychwanegu’r aelod o staff' }).click();
  await page.getByText('Rhaid iddo fod yn gyfeiriad e-bost').waitFor();
  await expectWelsh(page, ['Must be an email address']);

  await page.getByLabel('Cyfeiriad e-bost').fill('pennaeth@derwen.example');
  await page.getByLabel('Enw', { exact: true }).fill('Nia Pennaeth');
  await page.getByLabel('Uwch (mae angen ap dilysu i’w ddefnyddio)').check();
  await page.getByRole('button', { name: 'Ychwanegu’r aelod o staff' }).click();
  await page.getByRole('heading', { name: 'Nia Pennaeth' }).waitFor();
  await page.getByText(/^Wedi’i ychwanegu\. Mae e-bost tro cyntaf/).waitFor();
  await expectWelsh(page, [...CONSOLE_ENGLISH, 'Added.', 'Change access', 'Leaver']);

  // A refusal the domain says (too many first-time emails), in Welsh next to the button.
  await page.getByRole('button', { name: 'Anfon yr e-bost eto' }).click();
  for (let tries = 0; tries < 10 && (await page.getByText('Mae sawl e-bost wedi mynd').count()) === 0; tries++) {
    await page.getByRole('button', { name: 'Anfon yr e-bost eto' }).click();
  }
  await page.getByText('Mae sawl e-bost wedi mynd i’r cyfeiriad hwn yn ddiweddar.').waitFor();
  await expectWelsh(page, ['Several emails']);

  await page.getByRole('link', { name: 'Rhagor am yr unigolyn hwn' }).click();
  await page.getByRole('heading', { name: 'Cloi’r cyfrif' }).waitFor();
  await page.getByText('Byth', { exact: true }).waitFor();
  await expectWelsh(page, [...CONSOLE_ENGLISH, 'Lock the account', 'Reset authenticator', 'Never']);
  await page.getByLabel('Rheswm (ar gyfer y trywydd archwilio)').fill('Gwirio');
  await page.getByRole('button', { name: 'Cloi', exact: true }).click();
  await page.getByText('Mae’r cyfrif wedi’i gloi: mae pob sesiwn a thocyn wedi dod i ben.').waitFor();
  await expectWelsh(page, ['The account is locked']);

  // The audit trail: a bad date said in Welsh; an event of a summer's day in UK time (BST), in Welsh.
  await gatehouse.database.dataSource.query(`UPDATE audit_events SET at = '2026-07-01T12:00:00Z' WHERE event = 'admin.user.lock'`);
  await page.getByRole('link', { name: 'Archwilio' }).click();
  await page.getByLabel('O (blwyddyn-mis-diwrnod)').fill('1 Medi');
  await page.getByRole('button', { name: 'Hidlo' }).click();
  await page.getByText('Rhowch ddyddiad fel blwyddyn-mis-diwrnod, er enghraifft 2026-09-01.').waitFor();
  await expectWelsh(page, ['Enter a date']);
  await page.getByLabel('O (blwyddyn-mis-diwrnod)').fill('');
  await page.getByLabel('Digwyddiad').fill('admin.user.lock');
  await page.getByRole('button', { name: 'Hidlo' }).click();
  await page.getByRole('cell', { name: '1 Gorff 2026, 13:00' }).waitFor();
  await page.getByRole('cell', { name: 'Llwyddiant' }).waitFor();
  await page.getByRole('cell', { name: /^Gan desg@trust\.example/ }).waitFor();
  await expectWelsh(page, [...CONSOLE_ENGLISH, 'Success', 'Download these events', 'By desg']);

  await page.getByRole('link', { name: 'Rolau' }).click();
  await page.getByRole('heading', { name: 'Rhoi rôl y ddesg gymorth i rywun' }).waitFor();
  await page.getByRole('cell', { name: 'Desg gymorth', exact: true }).waitFor();
  await expectWelsh(page, [...CONSOLE_ENGLISH, 'Helpdesk', 'Revoke', 'Give the helpdesk role']);
  await page.getByLabel('Cyfeiriad e-bost').fill('neb@derwen.example');
  await page.getByRole('button', { name: 'Rhoi rôl y ddesg gymorth' }).click();
  await page.getByText('Does dim cyfrif gyda’r cyfeiriad e-bost hwn.', { exact: false }).waitFor();
  await expectWelsh(page, ['No account has']);

  await page.getByRole('link', { name: 'Cleientiaid' }).click();
  await page.getByRole('heading', { name: 'Ychwanegu system ysgol' }).waitFor();
  await page.getByText('chleientiaid peiriant sy’n galw Porth Addysg gyda’u manylion adnabod').waitFor();
  await expectWelsh(page, [...CONSOLE_ENGLISH, 'Add a school system', 'Add a machine client', 'Gatehouse']);
  await page.getByRole('button', { name: 'Ychwanegu’r system ysgol' }).click();
  await page.getByText('Rhowch o leiaf un cyfeiriad').waitFor();
  await expectWelsh(page, ['Must have at least one address', 'Choose at least one school']);

  // The staff import: a problem on its line and the counts, in Welsh words and plural forms.
  await page.goto(`${gatehouse.issuer}/admin/schools/${oakId}/import`);
  await page.getByRole('heading', { name: 'Mewnforio staff i Ysgol y Dderwen' }).waitFor();
  await expectWelsh(page, [...CONSOLE_ENGLISH, 'CSV file', 'Check the import']);
  await page
    .getByLabel('Neu gludwch y rhestr yma')
    .fill('athro@derwen.example,Athro,higher\ncynorthwyydd@derwen.example\nbob@,Bob,basic\n');
  await page.getByRole('button', { name: 'Gwirio’r mewnforio' }).click();
  await page.getByText('llinell 3: dydy “bob@” ddim yn gyfeiriad e-bost').waitFor();
  await page.getByRole('heading', { name: '1 problem i’w cywiro' }).waitFor();
  await page.getByRole('table', { name: 'I’w hychwanegu at y staff (2 o bobl)' }).waitFor();
  await expectWelsh(page, [...CONSOLE_ENGLISH, 'line 3', 'is not an email address', 'To be added', 'people']);
  await page.getByLabel('Y rhestr').fill('athro@derwen.example,Athro,higher\ncynorthwyydd@derwen.example\n');
  await page.getByRole('button', { name: 'Gwirio’r mewnforio eto' }).click();
  await page.getByRole('button', { name: 'Mewnforio: ychwanegu 2 o bobl, newid 0 o bobl' }).click();
  await page.getByText(/^Wedi mewnforio: 2 o bobl wedi’u hychwanegu, 0 o lefelau wedi newid, 0 o bobl eisoes ar y staff/).waitFor();
  expect(new URL(page.url()).pathname).toBe(`/admin/schools/${oakId}`);
  await expectWelsh(page, [...CONSOLE_ENGLISH, 'Imported']);

  // A refusal reaching a page of its own: plain Welsh words, the same status.
  const missing = await page.goto(`${gatehouse.issuer}/admin/schools/${crypto.randomUUID()}`);
  expect(missing?.status()).toBe(404);
  await page.getByText('Does dim ysgol yn y cyfeiriad hwn. Ewch yn ôl at y rhestr o ysgolion.').waitFor();
  await expectWelsh(page, ['No school has the id']);

  // Back to English with the link: the same words as before.
  await page.goto(`${gatehouse.issuer}/admin/schools`);
  await page.getByRole('link', { name: 'English' }).click();
  await page.getByRole('heading', { name: 'Schools' }).waitFor();
  await expect(page.locator('html').getAttribute('lang')).resolves.toBe('en');
  await page.getByText('Signed in as desg@trust.example').waitFor();
}, 180_000);

test('Accept-Language: cy makes the console Welsh without the link; a refusal is in Welsh too', async () => {
  const context = await browser.newContext({ extraHTTPHeaders: { 'Accept-Language': 'cy' } });
  const page = await context.newPage();
  // The same account, its authenticator enrolled in the first test: password, then a code (the next one, not replayed).
  await page.goto(`${gatehouse.issuer}/admin`);
  await page.locator('input[type=email]').fill('desg@trust.example');
  await page.locator('input[type=password]').first().fill(PASSWORD);
  await page.locator('button[type=submit]').first().click();
  await page.locator('input[name=code]').fill(codeFor(phoneSecret, 1));
  await page.locator('button[type=submit]').first().click();
  await page.getByRole('heading', { name: 'Ysgolion' }).waitFor();
  await expectWelsh(page, CONSOLE_ENGLISH);
  await page.getByRole('link', { name: 'Pobl' }).click();
  await page.getByLabel('Cyfeiriad e-bost').fill('neb@derwen.example');
  await page.getByRole('button', { name: 'Dod o hyd' }).click();
  await page.getByText('Does gan neb y gallwch ei weld y cyfeiriad e-bost neb@derwen.example.').waitFor();
  await expectWelsh(page, [...CONSOLE_ENGLISH, 'No one you can see']);
}, 120_000);
