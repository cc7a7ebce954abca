import Handlebars from 'handlebars';
import { isLanguage, type Language } from './languages.ts';
import { formatDateTime, formatTime } from './time.ts';
import type { WordValues, Words } from './words.ts';

type HelperOptions = { hash: WordValues; data: { root: Record<string, unknown> } };

/** `t`, `tHtml`, `date` and `time` for any Handlebars instance whose root context has `language`. */
export function registerWordHelpers(
  handlebars: typeof Handlebars,
  words: Words,
  brand: { serviceName: string; helpdeskContact: string | undefined },
): void {
  // The operator's words are text too: in words with markup they are escaped like any value.
  const escapedBrand = {
    service: Handlebars.escapeExpression(brand.serviceName),
    helpdesk: Handlebars.escapeExpression(brand.helpdeskContact ?? ''),
  };
  const languageOf = (options: HelperOptions): Language => {
    const language = options.data.root.language;
    if (!isLanguage(language)) throw new Error('A template was rendered without a language.');
    return language;
  };
  handlebars.registerHelper('t', (key: string, options: HelperOptions) => words.t(languageOf(options), key, options.hash));
  handlebars.registerHelper('tHtml', (key: string, options: HelperOptions) => {
    const escaped = {
      ...escapedBrand,
      ...Object.fromEntries(
        Object.entries(options.hash).map(([name, value]) => [name, typeof value === 'string' ? Handlebars.escapeExpression(value) : value]),
      ),
    };
    return new Handlebars.SafeString(words.t(languageOf(options), key, escaped));
  });
  handlebars.registerHelper('date', (value: unknown, options: HelperOptions) =>
    value instanceof Date ? formatDateTime(value, languageOf(options)) : '',
  );
  handlebars.registerHelper('time', (value: unknown, options: HelperOptions) =>
    value instanceof Date ? formatTime(value, languageOf(options)) : '',
  );
}
