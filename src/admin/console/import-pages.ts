import type Router from '@koa/router';
import type { Context, Next } from 'koa';
import { isDomainError } from '../../domain/errors.ts';
import { PageError } from '../../http/page-error.ts';
import { BAD_FORM, type PageDeps } from '../../interactions/pages.ts';
import { IMPORT_LIMITS } from '../staff-csv.ts';
import type { Message } from '../../i18n/words.ts';
import type { ImportProblem } from '../staff-csv.ts';
import type { ImportOutcome, ImportPreview } from '../staff-import.ts';
import { type ConsoleHelpers, idOf, type Say } from './console.ts';

/**
 * The most an import form may carry: the file (256 kB at most) and the pasted text, with room
 * for a form's own encoding. Anything larger is refused before it is read any further.
 */
const BODY_LIMIT = 4 * IMPORT_LIMITS.bytes;
const TOO_LARGE = new PageError(413, 'importTooLarge');

/** The import form's fields, all text: the file (when one was chosen) already read as UTF-8. */
type ImportForm = { _csrf?: string; csv?: string; file?: string; fileProblem?: Message };

async function readBody(ctx: Context): Promise<Buffer> {
  if (Number(ctx.get('Content-Length') || 0) > BODY_LIMIT) throw TOO_LARGE;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > BODY_LIMIT) throw TOO_LARGE;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * The import forms are multipart (so the file input works without JavaScript) or URL-encoded,
 * within BODY_LIMIT; Node's own form reader parses them. A file that is not UTF-8 is a problem
 * shown next to the field, never a page of replacement characters.
 */
async function importForm(ctx: Context, next: Next) {
  const encoding = (ctx.get('Content-Encoding') || 'identity').trim().toLowerCase();
  if (encoding !== 'identity') throw BAD_FORM;
  const type = ctx.get('Content-Type');
  if (!/^(multipart\/form-data|application\/x-www-form-urlencoded)\b/i.test(type)) throw BAD_FORM;
  const body = await readBody(ctx);
  let form: FormData;
  try {
    form = await new Request('http://import.invalid/', { method: 'POST', headers: { 'Content-Type': type }, body }).formData();
  } catch {
    throw BAD_FORM;
  }
  const read: ImportForm = {};
  for (const name of ['_csrf', 'csv'] as const) {
    const value = form.get(name);
    if (typeof value === 'string') read[name] = value;
  }
  const file = form.get('file');
  if (file && typeof file !== 'string' && file.size > 0) {
    if (file.size > IMPORT_LIMITS.bytes)
      read.fileProblem = { key: 'console.import.problems.chosenTooLarge', values: { kb: Math.ceil(file.size / 1024) } };
    else {
      try {
        read.file = new TextDecoder('utf-8', { fatal: true }).decode(await file.arrayBuffer());
      } catch {
        read.fileProblem = { key: 'console.import.problems.notUtf8' };
      }
    }
  }
  ctx.request.body = read;
  await next();
}

/** A count of things in words: console.counts.<what> (plural forms by language). */
const counted = (say: Say, what: string, count: number) => say(`console.counts.${what}`, { count });

/** The query string of the staff page's notice after an import: counts only, so the text cannot be forged. */
export const importedQuery = (outcome: ImportOutcome) =>
  new URLSearchParams({
    done: 'imported',
    added: String(outcome.added),
    changed: String(outcome.changed),
    unchanged: String(outcome.unchanged),
    emailed: String(outcome.emailsSent),
    unsent: String(outcome.emailsNotSent),
  }).toString();

/** The staff page's notice after an import, from its counts; undefined for any other page or a malformed count. */
export function importNotice(query: Record<string, unknown>, say: Say): string | undefined {
  if (query.done !== 'imported') return undefined;
  const counts = new Map<string, number>();
  for (const name of ['added', 'changed', 'unchanged', 'emailed', 'unsent']) {
    const value = query[name];
    if (typeof value !== 'string' || !/^\d{1,5}$/.test(value)) return say('console.notices.importDone');
    counts.set(name, Number(value));
  }
  const of = (name: string) => counts.get(name) ?? 0;
  const values = {
    added: counted(say, 'people', of('added')),
    changed: counted(say, 'levels', of('changed')),
    unchanged: counted(say, 'people', of('unchanged')),
    emailed: counted(say, 'firstTimeEmails', of('emailed')),
    unsent: counted(say, 'emails', of('unsent')),
  };
  return say(of('unsent') > 0 ? 'console.notices.importedUnsent' : 'console.notices.imported', values);
}

/** Each problem of an import, by line, in the reader's words. */
const problemsSaid = (say: Say, problems: ImportProblem[]) =>
  problems.map((problem) => say('console.import.problems.onLine', { line: problem.line, reason: say(problem.words) }));

/** Why a whole file cannot be imported, in the reader's words. */
const fileProblemSaid = (say: Say, preview: ImportPreview) =>
  preview.fileProblemWords ? say(preview.fileProblemWords) : (preview.fileProblem ?? '');

/** Staff from a CSV file: the form, a preview that writes nothing, then the import itself. */
export function importPages(router: Router, deps: PageDeps, helpers: ConsoleHelpers) {
  const { csrf, services } = deps;
  const { administrator, view, redirect, say: sayer } = helpers;
  const staffImport = services.admin.staffImport;

  async function formPage(ctx: Context, csv = '', errors: Record<string, string> = {}, status = 200) {
    const admin = await administrator(ctx);
    if (!admin) return;
    const school = await services.admin.staff.getSchool(admin.authority, idOf(ctx.params.schoolId));
    const title = sayer(ctx)('console.titles.import', { school: school.name });
    view(ctx, admin, 'admin-import', { title, tab: 'schools', school, csv, errors }, status);
  }

  function previewPage(
    ctx: Context,
    admin: NonNullable<Awaited<ReturnType<typeof administrator>>>,
    preview: ImportPreview,
    csv: string,
    status = 200,
  ) {
    const { school } = preview;
    const say = sayer(ctx);
    const nothingToDo = preview.ready && preview.added.length === 0 && preview.changed.length === 0;
    view(
      ctx,
      admin,
      'admin-import-preview',
      {
        title: say('console.titles.preview', { school: school.name }),
        tab: 'schools',
        school,
        csv,
        preview,
        problems: problemsSaid(say, preview.problems),
        counts: {
          added: counted(say, 'people', preview.added.length),
          newAccounts: counted(say, 'newAccounts', preview.added.filter((row) => row.newAccount).length),
          changed: counted(say, 'people', preview.changed.length),
          unchanged: counted(say, 'people', preview.unchanged.length),
          problems: counted(say, 'problems', preview.problems.length),
        },
        canApply: preview.ready && !nothingToDo,
        nothingToDo,
      },
      status,
    );
  }

  /** The text to import: the chosen file, or else what was pasted. */
  function csvOf(ctx: Context): { csv: string; problem?: string } {
    const form = ctx.request.body as ImportForm;
    if (form.fileProblem) return { csv: form.csv ?? '', problem: sayer(ctx)(form.fileProblem) };
    return { csv: form.file ?? form.csv ?? '' };
  }

  router.get('/admin/schools/:schoolId/import', (ctx) => formPage(ctx));

  router.post('/admin/schools/:schoolId/import/preview', importForm, csrf.verify, async (ctx) => {
    const admin = await administrator(ctx);
    if (!admin) return;
    const schoolId = idOf(ctx.params.schoolId);
    const { csv, problem } = csvOf(ctx);
    if (problem) return formPage(ctx, csv, { file: problem }, 400);
    if (csv.trim() === '') return formPage(ctx, '', { csv: sayer(ctx)('console.import.problems.nothingChosen') }, 400);
    const preview = await staffImport.preview(admin.authority, schoolId, csv);
    if (preview.fileProblem) {
      const shown = Buffer.byteLength(csv) <= IMPORT_LIMITS.bytes ? csv : '';
      return formPage(ctx, shown, { csv: fileProblemSaid(sayer(ctx), preview) }, 400);
    }
    previewPage(ctx, admin, preview, csv);
  });

  router.post('/admin/schools/:schoolId/import/apply', importForm, csrf.verify, async (ctx) => {
    const admin = await administrator(ctx);
    if (!admin) return;
    const schoolId = idOf(ctx.params.schoolId);
    const csv = (ctx.request.body as ImportForm).csv ?? '';
    try {
      const outcome = await staffImport.apply(admin.authority, schoolId, csv);
      redirect(ctx, `/admin/schools/${schoolId}?${importedQuery(outcome)}`);
    } catch (error) {
      if (!isDomainError(error) || error.kind !== 'validation') throw error;
      // Nothing was written: show what is wrong with the file as it was sent.
      const preview = await staffImport.preview(admin.authority, schoolId, csv);
      if (preview.fileProblem) return formPage(ctx, '', { csv: fileProblemSaid(sayer(ctx), preview) }, 400);
      previewPage(ctx, admin, preview, csv, 400);
    }
  });
}
