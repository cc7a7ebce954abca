import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import i18next, { type i18n } from 'i18next';
import { DEFAULT_LANGUAGE, LANGUAGES, type Language } from './languages.ts';

export const LOCALES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../locales');

export type WordValues = Record<string, unknown>;
/** A message to be said later, in whichever language the reader has: a key under locales/ and its values. */
export type Message = { key: string; values?: WordValues };

export type Words = {
  /** The words of `key` in `language`, with `values` put in; `service` and `helpdesk` are always there. */
  t(language: Language, key: string, values?: WordValues): string;
  has(language: Language, key: string): boolean;
};

export type Brand = { serviceName: string; helpdeskContact: string | undefined };

/**
 * Every file in locales/<language>/ is one area of the words (login.json holds `login.*`). Read
 * once, at start, synchronously: the words are part of the program.
 */
export function readLocales(dir = LOCALES_DIR): Record<Language, Record<string, unknown>> {
  const read = (language: Language) => {
    const area: Record<string, unknown> = {};
    for (const file of fs.readdirSync(path.join(dir, language)).sort()) {
      if (file.endsWith('.json')) area[path.basename(file, '.json')] = JSON.parse(fs.readFileSync(path.join(dir, language, file), 'utf8'));
    }
    return area;
  };
  return Object.fromEntries(LANGUAGES.map((language) => [language, read(language)])) as Record<Language, Record<string, unknown>>;
}

/**
 * i18next over locales/. Values are not HTML-escaped here: Handlebars escapes what a helper
 * returns, and mail text is not HTML. A missing key is a bug: in tests it throws, in production
 * it is logged once and the English words are used.
 */
export function createWords(
  brand: Brand,
  options: { strict?: boolean; onMissing?: (key: string, language: Language) => void } = {},
): Words {
  const instance: i18n = i18next.createInstance();
  const resources = Object.fromEntries(Object.entries(readLocales()).map(([language, words]) => [language, { translation: words }]));
  void instance.init({
    initAsync: false,
    resources,
    lng: DEFAULT_LANGUAGE,
    fallbackLng: DEFAULT_LANGUAGE,
    supportedLngs: [...LANGUAGES],
    returnNull: false,
    returnEmptyString: false,
    interpolation: {
      escapeValue: false,
      defaultVariables: { service: brand.serviceName, helpdesk: brand.helpdeskContact ?? '' },
    },
  });
  const fixed = Object.fromEntries(LANGUAGES.map((language) => [language, instance.getFixedT(language)])) as Record<
    Language,
    ReturnType<i18n['getFixedT']>
  >;
  const reported = new Set<string>();
  return {
    t(language, key, values) {
      // A plural key exists as key_one, key_other…: `count` lets i18next look for those.
      const count = typeof values?.count === 'number' ? { count: values.count } : {};
      if (!instance.exists(key, { lng: language, fallbackLng: false, ...count })) {
        if (options.strict) throw new Error(`No words for "${key}" in locales/${language}.`);
        if (!reported.has(`${language}:${key}`)) {
          reported.add(`${language}:${key}`);
          options.onMissing?.(key, language);
        }
      }
      return fixed[language](key, values ?? {}) as string;
    },
    has: (language, key) => instance.exists(key, { lng: language, fallbackLng: false }),
  };
}
