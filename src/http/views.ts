import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import { registerWordHelpers } from '../i18n/handlebars.ts';
import type { Language } from '../i18n/languages.ts';
import type { Words } from '../i18n/words.ts';
import { languageSwitch } from './language.ts';

export const VIEWS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../views');

/**
 * What every page is rendered with. `language` is required: no page is ever in no language.
 * `here` is the address the language link comes back to; `schoolName` replaces the service's
 * name wherever a school applies; `title` (already in words) overrides `titles.<view>`.
 */
export type PageContext = Record<string, unknown> & {
  language: Language;
  here?: string;
  schoolName?: string | null | undefined;
  title?: string;
};

export type ViewRenderer = (page: string, context: PageContext) => string;

/**
 * Compiles every page once at start. Handlebars escapes {{ }} output, so user input is never
 * reflected raw; the triple-stash is used only for the page body inside the layout. Every word
 * comes from locales/ through `t` (escaped) or `tHtml` (for words with markup: only the values
 * are escaped, the words are ours).
 */
export async function loadViews(words: Words, brand: { serviceName: string; helpdeskContact: string | undefined }): Promise<ViewRenderer> {
  const handlebars = Handlebars.create();
  const partialsDir = path.join(VIEWS_DIR, 'partials');
  for (const file of await fs.readdir(partialsDir)) {
    if (file.endsWith('.hbs')) {
      handlebars.registerPartial(path.basename(file, '.hbs'), await fs.readFile(path.join(partialsDir, file), 'utf8'));
    }
  }
  registerWordHelpers(handlebars, words, brand);
  handlebars.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  handlebars.registerHelper('or', (a: unknown, b: unknown) => Boolean(a) || Boolean(b));
  const layout = handlebars.compile(await fs.readFile(path.join(VIEWS_DIR, 'layouts', 'main.hbs'), 'utf8'));
  const pages = new Map<string, Handlebars.TemplateDelegate>();
  const pagesDir = path.join(VIEWS_DIR, 'pages');
  for (const file of await fs.readdir(pagesDir)) {
    if (file.endsWith('.hbs')) {
      pages.set(path.basename(file, '.hbs'), handlebars.compile(await fs.readFile(path.join(pagesDir, file), 'utf8')));
    }
  }
  return (page, context) => {
    const template = pages.get(page);
    if (!template) throw new Error(`No view named ${page}.`);
    const { language } = context;
    const full: PageContext = {
      ...context,
      serviceName: brand.serviceName,
      helpdeskContact: brand.helpdeskContact,
      brandName: context.schoolName || brand.serviceName,
      title: context.title ?? words.t(language, `titles.${page}`),
      languageLink: context.here ? languageSwitch(language, context.here) : undefined,
    };
    return layout({ ...full, body: template(full) });
  };
}
