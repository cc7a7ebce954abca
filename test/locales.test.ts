import fs from 'node:fs';
import path from 'node:path';
import { LANGUAGES, type Language } from '../src/i18n/languages.ts';
import { LOCALES_DIR, readLocales } from '../src/i18n/words.ts';
import { ROOT } from './support/process.ts';

/**
 * The words (issue 12): every string a person reads comes from locales/en and locales/cy, both
 * languages have the same keys, every key a template names exists, no template holds words of
 * its own, and a Welsh string uses the values its English one does. A failure lists every
 * offender as `file: text` (or `key: problem`), so it can be fixed in one pass.
 */

const PLURAL_SUFFIX = /_(zero|one|two|few|many|other)$/;
/** Values every string may use without being given them (src/i18n/words.ts). */
const ALWAYS_THERE = new Set(['service', 'helpdesk']);

/** Every leaf of a language's words as `area.path.key` → string (a leaf that is not a string is listed as a problem). */
function flatten(value: unknown, prefix: string, into: Map<string, unknown>): Map<string, unknown> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) flatten(inner, prefix ? `${prefix}.${key}` : key, into);
  } else {
    into.set(prefix, value);
  }
  return into;
}

const words = readLocales();
const flat = Object.fromEntries(LANGUAGES.map((language) => [language, flatten(words[language], '', new Map())])) as Record<
  Language,
  Map<string, unknown>
>;

/** A key's base and plural form: `mail.reset.lifetime_one` → [`mail.reset.lifetime`, `one`]; a plain key has no form. */
const pluralOf = (key: string): [string, string | undefined] => {
  const match = PLURAL_SUFFIX.exec(key);
  return match ? [key.slice(0, match.index), match[1]] : [key, undefined];
};

/** Each language's keys: plain ones, and plural bases with the forms they have. */
function shape(language: Language) {
  const plain = new Set<string>();
  const plurals = new Map<string, Set<string>>();
  for (const key of flat[language].keys()) {
    const [base, form] = pluralOf(key);
    if (form) plurals.set(base, (plurals.get(base) ?? new Set()).add(form));
    else plain.add(key);
  }
  return { plain, plurals };
}
const shapes = { en: shape('en'), cy: shape('cy') };

/** The string of a key in a language, or of every form of a plural key. */
function stringsOf(language: Language, key: string): string[] {
  const value = flat[language].get(key);
  if (typeof value === 'string') return [value];
  const forms = shapes[language].plurals.get(key);
  return forms ? [...forms].map((form) => String(flat[language].get(`${key}_${form}`))) : [];
}

const exists = (language: Language, key: string) => shapes[language].plain.has(key) || shapes[language].plurals.has(key);

/** Every file under `dir` (relative to the project) whose name ends with `suffix`. */
function filesUnder(dir: string, suffix: string): string[] {
  const found: string[] = [];
  const walk = (current: string) => {
    for (const entry of fs.readdirSync(path.join(ROOT, current), { withFileTypes: true })) {
      const relative = path.join(current, entry.name);
      if (entry.isDirectory()) walk(relative);
      else if (entry.name.endsWith(suffix)) found.push(relative);
    }
  };
  walk(dir);
  return found.sort();
}

const TEMPLATES = [...filesUnder('views', '.hbs'), ...filesUnder('src/mail/templates', '.hbs')];
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

const failWith = (what: string, offenders: string[]) => {
  if (offenders.length > 0) throw new Error(`${what} (${offenders.length}):\n  ${offenders.join('\n  ')}`);
};

describe('locales/en and locales/cy', () => {
  test('both languages have the same files', () => {
    const files = (language: Language) =>
      fs
        .readdirSync(path.join(LOCALES_DIR, language))
        .filter((file) => file.endsWith('.json'))
        .sort();
    expect(files('cy')).toEqual(files('en'));
  });

  test('every value is a non-empty string', () => {
    const offenders = LANGUAGES.flatMap((language) =>
      [...flat[language]]
        .filter(([, value]) => typeof value !== 'string' || value.trim() === '')
        .map(([key, value]) => `locales/${language}: ${key} is ${JSON.stringify(value)}`),
    );
    failWith('Words that are not words', offenders);
  });

  test('every key in English is in Welsh and every key in Welsh is in English (plural forms each language’s own)', () => {
    const offenders: string[] = [];
    for (const [language, other] of [
      ['en', 'cy'],
      ['cy', 'en'],
    ] as const) {
      for (const key of shapes[language].plain) {
        if (shapes[other].plurals.has(key)) offenders.push(`${key}: plain in locales/${language}, plural in locales/${other}`);
        else if (!shapes[other].plain.has(key)) offenders.push(`${key}: in locales/${language}, missing from locales/${other}`);
      }
      for (const [base, forms] of shapes[language].plurals) {
        if (!forms.has('other')) offenders.push(`${base}: plural in locales/${language} without ${base}_other`);
        if (shapes[other].plain.has(base)) continue; // said once, above
        if (!shapes[other].plurals.has(base)) offenders.push(`${base}_*: in locales/${language}, missing from locales/${other}`);
      }
    }
    // English has two forms, Welsh six: an English form Welsh lacks (other than _one) is a slip.
    for (const [base, forms] of shapes.en.plurals) {
      for (const form of forms) if (!['one', 'other'].includes(form)) offenders.push(`${base}_${form}: English has only _one and _other`);
    }
    failWith('Keys not in both languages', [...new Set(offenders)].sort());
  });

  test('a Welsh string uses every value its English one does, no value English does not have, and the same markup', () => {
    const variables = (text: string) => new Set([...text.matchAll(/\{\{-?\s*([^,}\s]+)\s*(?:,[^}]*)?\}\}/g)].map((match) => match[1]!));
    const tags = (text: string) => [...text.matchAll(/<(\/?[a-z][a-z0-9]*)\b/gi)].map((match) => `<${match[1]!.toLowerCase()}>`).sort();
    const offenders: string[] = [];
    for (const key of [...shapes.en.plain, ...shapes.en.plurals.keys()].sort()) {
      if (!exists('cy', key)) continue; // the parity test names it
      const english = stringsOf('en', key);
      const welsh = stringsOf('cy', key);
      const englishVariables = new Set(english.flatMap((text) => [...variables(text)]));
      // Every Welsh form together says what English says (Welsh "dim" or "un" may leave out the count itself).
      const welshVariables = new Set(welsh.flatMap((text) => [...variables(text)]));
      for (const name of englishVariables) if (!welshVariables.has(name)) offenders.push(`${key}: {{${name}}} is in English, not in Welsh`);
      for (const name of welshVariables)
        if (!englishVariables.has(name) && !ALWAYS_THERE.has(name)) offenders.push(`${key}: {{${name}}} is in Welsh, not in English`);
      if (JSON.stringify(tags(english.at(-1)!)) !== JSON.stringify(tags(welsh.at(-1)!))) {
        offenders.push(
          `${key}: markup ${tags(english.at(-1)!).join('') || 'none'} in English, ${tags(welsh.at(-1)!).join('') || 'none'} in Welsh`,
        );
      }
    }
    // Words that nest other words ($t(key)) name words that exist.
    for (const language of LANGUAGES) {
      for (const [key, value] of flat[language]) {
        for (const match of String(value).matchAll(/\$t\(([^),]+)/g)) {
          if (!exists(language, match[1]!.trim())) offenders.push(`${key}: $t(${match[1]}) does not exist in locales/${language}`);
        }
      }
    }
    failWith('Welsh and English strings that do not match', offenders);
  });
});

describe('templates (views/** and src/mail/templates/**)', () => {
  test('every {{t "key"}} and {{tHtml "key"}} names words in both languages', () => {
    const offenders: string[] = [];
    let used = 0;
    for (const file of TEMPLATES) {
      for (const match of read(file).matchAll(/[({]\s*(?:t|tHtml)\s+(["'])([^"']+)\1/g)) {
        used += 1;
        const key = match[2]!;
        const missing = LANGUAGES.filter((language) => !exists(language, key));
        if (missing.length > 0)
          offenders.push(`${file}: "${key}" is missing from ${missing.map((language) => `locales/${language}`).join(' and ')}`);
      }
    }
    expect(used).toBeGreaterThan(0);
    failWith('Templates naming words that do not exist', offenders);
  });

  test('no template holds words of its own: every word a person reads comes from locales/', () => {
    const offenders = TEMPLATES.flatMap((file) => literalWords(read(file)).map((text) => `${file}: ${text}`));
    failWith('Literal words in templates (move them to locales/en and locales/cy, and use {{t "…"}})', offenders);
  });

  test('the literal-words check finds words in text, in the attributes people read, and on submit buttons', () => {
    expect(
      literalWords(`<!doctype html>{{!-- A comment says anything --}}<!-- so does this -->
<h2>{{t "a.b"}}</h2>
<p class="detail" id="x">{{tHtml "a.c" email=email}} · 12:30</p>
<p>Signed in as {{email}}</p>
<img src="{{qr}}" alt="QR code"><img alt="{{t "a.d"}}">
<input id="name" placeholder="My phone"><input type="submit" value="Save"><input type="hidden" name="x" value="yes">
<button name="logout" value="yes">{{t "a.e"}}</button>
<a href="/x" title="More" aria-label="{{t "a.f"}}">{{t "a.g"}}</a>&nbsp;&amp;
{{#if error}}Try again{{else}}{{t "a.h"}}{{/if}}`),
    ).toEqual(['Signed in as', 'alt="QR code"', 'placeholder="My phone"', 'value="Save"', 'title="More"', 'Try again']);
  });
});

/**
 * What a person would read in a template that is not from locales/: the text between tags once
 * Handlebars expressions, comments and entities are taken out, and the attributes shown or read
 * aloud (alt, placeholder, title, aria-label, and the value of a button-like input).
 */
function literalWords(template: string): string[] {
  const found: string[] = [];
  const ATTRIBUTE = '\u0001'; // marks an attribute's words in the text, to keep the order of the page
  const source = template
    .replace(/\{\{!--[\s\S]*?--\}\}/g, '')
    .replace(/\{\{![\s\S]*?\}\}/g, '')
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<!doctype[^>]*>/gi, '')
    .replace(/<(script|style)\b[\s\S]*?<\/\1>/gi, '')
    .replace(/\{\{\{[\s\S]*?\}\}\}/g, ' ')
    .replace(/\{\{[\s\S]*?\}\}/g, ' ');
  const hasWords = (text: string) => /\p{L}/u.test(text.replace(/&(#\d+|#x[0-9a-f]+|[a-z]+);/gi, ' '));
  const text = source.replace(
    /<([a-z][a-z0-9-]*)\b([^>]*)>|<\/[a-z][a-z0-9-]*\s*>/gi,
    (_tag, name: string | undefined, attributes: string | undefined) => {
      const read: string[] = [];
      if (name && attributes) {
        const values = new Map(
          [...attributes.matchAll(/([a-z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/gi)].map((m) => [
            m[1]!.toLowerCase(),
            m[2] ?? m[3] ?? m[4] ?? '',
          ]),
        );
        const buttonLike =
          name.toLowerCase() === 'input' && ['submit', 'button', 'reset'].includes((values.get('type') ?? '').toLowerCase());
        for (const [attribute, value] of values) {
          const shown = ['alt', 'placeholder', 'title', 'aria-label'].includes(attribute) || (attribute === 'value' && buttonLike);
          if (shown && hasWords(value)) read.push(`\n${ATTRIBUTE}${attribute}="${value.replace(/\s+/g, ' ').trim()}"`);
        }
      }
      return `${read.join('')}\n`;
    },
  );
  for (const line of text.split('\n')) {
    const trimmed = line.replace(/\s+/g, ' ').trim();
    if (trimmed.startsWith(ATTRIBUTE)) found.push(trimmed.slice(1));
    else if (hasWords(trimmed)) found.push(trimmed);
  }
  return found;
}
