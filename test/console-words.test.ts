import { z } from 'zod';
import { issueWords, readForm, type Say } from '../src/admin/console/console.ts';
import { importNotice } from '../src/admin/console/import-pages.ts';
import { fields } from '../src/admin/fields.ts';
import { readStaffCsv } from '../src/admin/staff-csv.ts';
import { uriProblem, uriProblemOf } from '../src/domain/clients.ts';
import type { Language } from '../src/i18n/languages.ts';
import { createWords, type Message } from '../src/i18n/words.ts';

/**
 * The console's words without a browser: form problems, import problems and the import notice
 * in English exactly as they always were, and in Welsh from locales/cy (strict: a missing key throws).
 */
const words = createWords({ serviceName: 'Gatehouse', helpdeskContact: undefined }, { strict: true });
const sayIn =
  (language: Language): Say =>
  (message: Message | string, values?: Message['values']) =>
    typeof message === 'string' ? words.t(language, message, values) : words.t(language, message.key, message.values);

describe('form problems', () => {
  const memberForm = z.object({ email: fields.email, name: fields.text(200), level: fields.level });
  const bad = { email: 'not an address', name: '   ', level: 'admin' };

  test('in English, each problem is the schema’s own words, as before', () => {
    expect(readForm(memberForm, bad, sayIn('en')).errors).toEqual({
      email: 'Must be an email address',
      name: 'Must not be empty',
      level: 'Must be basic or higher',
    });
    expect(readForm(z.object({ name: fields.text(5) }), { name: 'too long' }, sayIn('en')).errors).toEqual({
      name: 'Must be at most 5 characters',
    });
  });

  test('in Welsh, each is in Welsh', () => {
    expect(readForm(memberForm, bad, sayIn('cy')).errors).toEqual({
      email: 'Rhaid iddo fod yn gyfeiriad e-bost',
      name: 'Peidiwch â’i adael yn wag',
      level: 'Rhaid iddo fod yn sylfaenol neu’n uwch',
    });
    expect(readForm(z.object({ name: fields.text(5) }), { name: 'too long' }, sayIn('cy')).errors).toEqual({
      name: 'Rhaid iddo fod yn 5 nod ar y mwyaf',
    });
  });

  test('every problem fields.ts can give has words, and the English words are the message itself', () => {
    const problems = [
      fields.email.safeParse('x'),
      fields.email.safeParse(`${'a'.repeat(250)}@b.example`),
      fields.text(3).safeParse(''),
      fields.text(3).safeParse('abcd'),
      fields.text(3).safeParse('\u0000'),
      fields.level.safeParse('x'),
      fields.role.safeParse('x'),
      fields.id.safeParse('x'),
    ].flatMap((result) => result.error?.issues ?? []);
    expect(problems.length).toBeGreaterThanOrEqual(8);
    for (const { message } of problems) {
      const said = issueWords(message);
      expect({ message, said: said && words.t('en', said.key, said.values) }).toEqual({
        message,
        said: message.charAt(0).toUpperCase() + message.slice(1),
      });
      expect(words.t('cy', said!.key, said!.values)).not.toBe(words.t('en', said!.key, said!.values));
    }
  });

  test('a problem the console has no words for is shown in its English', () => {
    expect(readForm(z.object({ name: z.string() }), {}, sayIn('cy')).errors?.name).toMatch(/^Invalid input/);
  });
});

describe('import problems', () => {
  const file = [
    'email,name,level',
    'bob@,Bob,basic',
    ',No Email,basic',
    'jo@hill.example,Jo,admin',
    'jo@hill.example,Jo again,basic',
    'x@hill.example,"Jo",basic,extra',
    'y@hill.example,"unclosed',
  ].join('\n');

  test('each problem’s words say, in English, exactly its reason', () => {
    const { problems } = readStaffCsv(file);
    expect(problems.length).toBeGreaterThanOrEqual(5);
    for (const problem of problems) expect(words.t('en', problem.words.key, problem.words.values)).toBe(problem.reason);
    for (const text of ['', `${'a@b.example,,basic\n'.repeat(2001)}`, 'a'.repeat(300 * 1024)]) {
      const csv = readStaffCsv(text);
      expect(csv.fileProblemWords && words.t('en', csv.fileProblemWords.key, csv.fileProblemWords.values)).toBe(csv.fileProblem);
    }
  });

  test('and in Welsh, in Welsh', () => {
    const said = readStaffCsv(file).problems.map((problem) =>
      words.t('cy', 'console.import.problems.onLine', {
        line: problem.line,
        reason: words.t('cy', problem.words.key, problem.words.values),
      }),
    );
    expect(said).toContain('llinell 2: dydy “bob@” ddim yn gyfeiriad e-bost');
    expect(said).toContain('llinell 3: mae’r cyfeiriad e-bost ar goll');
    expect(said).toContain('llinell 5: mae “jo@hill.example” eisoes ar linell 4');
  });
});

describe('the notice after an import', () => {
  const query = { done: 'imported', added: '2', changed: '0', unchanged: '1', emailed: '2', unsent: '0' };

  test('English, word for word as before', () => {
    expect(importNotice(query, sayIn('en'))).toBe(
      'Imported: 2 people added, 0 levels changed, 1 person already on the staff at that level. 2 first-time emails sent.',
    );
    expect(importNotice({ ...query, added: '1', changed: '1', emailed: '1', unsent: '1' }, sayIn('en'))).toBe(
      'Imported: 1 person added, 1 level changed, 1 person already on the staff at that level. 1 first-time email sent; 1 email could not be sent (try “Send the email again” on the person’s page).',
    );
    expect(importNotice({ ...query, added: '1200' }, sayIn('en'))).toMatch(/^Imported: 1,200 people added/);
    expect(importNotice({ ...query, added: 'lots' }, sayIn('en'))).toBe('The import is done.');
    expect(importNotice({ done: 'added' }, sayIn('en'))).toBeUndefined();
  });

  test('Welsh, with Welsh plural forms', () => {
    expect(importNotice(query, sayIn('cy'))).toBe(
      'Wedi mewnforio: 2 o bobl wedi’u hychwanegu, 0 o lefelau wedi newid, 1 person eisoes ar y staff ar y lefel honno. 2 o negeseuon e-bost tro cyntaf wedi’u hanfon.',
    );
    expect(importNotice({ ...query, added: 'lots' }, sayIn('cy'))).toBe('Mae’r mewnforio wedi’i gwblhau.');
  });
});

describe('client rules', () => {
  test.each([
    ['ftp://mis.example/cb', 'must use https', 'ddefnyddio https'],
    ['https://*.mis.example/cb', 'wildcard', 'nod chwilio'],
    ['https://mis.example/cb#x', 'fragment', 'darn (#)'],
    ['https://u:p@mis.example/cb', 'user name or password', 'enw defnyddiwr'],
    ['not a url', 'not an absolute URL', 'URL llawn'],
  ])('%s: English for integrators, and the console’s words in both languages', (uri, english, welsh) => {
    const problem = uriProblemOf(uri)!;
    expect(uriProblem(uri)).toBe(problem.message);
    expect(problem.message).toContain(english);
    expect(sayIn('en')(problem.words)).toBe(problem.message);
    expect(sayIn('cy')(problem.words)).toContain(welsh);
    expect(sayIn('cy')(problem.words)).toContain(uri);
  });

  test('an address that is fine has no problem', () => {
    expect(uriProblemOf('https://mis.example/cb')).toBeNull();
    expect(uriProblemOf('http://localhost:4001/cb')).toBeNull();
  });
});
