import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';

export const VIEWS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../views');

/** Made on first use: building it reads ICU's locale and time zone data (about 2.5 MB resident). */
let dateFormat: Intl.DateTimeFormat | undefined;
function formatDate(value: Date): string {
  dateFormat ??= new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'Europe/London' });
  return dateFormat.format(value);
}

export type ViewRenderer = (page: string, context: Record<string, unknown>) => string;

/**
 * Compiles every page once at start. Handlebars escapes {{ }} output, so user input is never
 * reflected raw; no template uses the triple-stash except for the page body inside the layout.
 */
export async function loadViews(): Promise<ViewRenderer> {
  const handlebars = Handlebars.create();
  const partialsDir = path.join(VIEWS_DIR, 'partials');
  for (const file of await fs.readdir(partialsDir)) {
    if (file.endsWith('.hbs')) {
      handlebars.registerPartial(path.basename(file, '.hbs'), await fs.readFile(path.join(partialsDir, file), 'utf8'));
    }
  }
  handlebars.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  handlebars.registerHelper('or', (a: unknown, b: unknown) => Boolean(a) || Boolean(b));
  handlebars.registerHelper('date', (value: unknown) => (value instanceof Date ? formatDate(value) : ''));
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
    return layout({ ...context, body: template(context) });
  };
}
