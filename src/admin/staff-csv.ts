import { normaliseEmail } from '../auth/email-address.ts';
import type { AccessLevel } from '../db/entities/index.ts';
import type { Message } from '../i18n/words.ts';
import { fields } from './fields.ts';

/** The most a staff import may hold: larger lists go in several files. */
export const IMPORT_LIMITS = { rows: 2000, bytes: 256 * 1024 } as const;

/**
 * One record of a CSV file (RFC 4180): its fields, and the line of the file where it starts as a
 * person counts lines in an editor (a quoted field may run over several lines). A record that
 * breaks the quoting rules has a `problem` instead.
 */
export type CsvRecord = { line: number; fields: string[]; problem?: undefined } | { line: number; fields?: undefined; problem: string };

const isLineEnd = (char: string | undefined) => char === '\n' || char === '\r';

/** What can be wrong with a record's quoting (the key of each names its words in locales/<lang>/console.json). */
const PARSE_PROBLEMS = {
  unclosedQuote: 'a field starts with a quote mark (") that is never closed',
  textAfterQuote: 'there is text after the closing quote mark of a field (a quote mark inside a quoted field must be doubled: "")',
  quoteInside: 'a field has a quote mark (") inside it: put the whole field in quotes and double the quote mark ("")',
} as const;

/**
 * A small RFC 4180 reader: commas between fields, a field in double quotes may hold commas, line
 * breaks and doubled quotes (`""`); lines end in LF, CRLF or CR; a leading UTF-8 BOM is ignored.
 * It never throws: a record it cannot read is reported with its line, and reading goes on at
 * the next line (an unclosed quote runs to the end of the file, as it would in any reader).
 */
export function parseCsv(text: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  const end = text.length;
  let at = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  while (at < end) {
    const start = line;
    const values: string[] = [];
    let problem: string | undefined;
    for (;;) {
      let value = '';
      if (text[at] === '"') {
        at += 1;
        let closed = false;
        while (at < end) {
          const char = text[at]!;
          if (char === '"') {
            if (text[at + 1] === '"') {
              value += '"';
              at += 2;
              continue;
            }
            at += 1;
            closed = true;
            break;
          }
          if (char === '\n' || (char === '\r' && text[at + 1] !== '\n')) line += 1;
          value += char;
          at += 1;
        }
        if (!closed) problem = PARSE_PROBLEMS.unclosedQuote;
        else if (at < end && text[at] !== ',' && !isLineEnd(text[at])) problem = PARSE_PROBLEMS.textAfterQuote;
      } else {
        const from = at;
        while (at < end && text[at] !== ',' && !isLineEnd(text[at])) at += 1;
        value = text.slice(from, at);
        if (value.includes('"')) problem = PARSE_PROBLEMS.quoteInside;
      }
      values.push(value);
      if (problem || text[at] !== ',') break;
      at += 1;
    }
    if (problem) while (at < end && !isLineEnd(text[at])) at += 1;
    if (isLineEnd(text[at])) {
      at += text[at] === '\r' && text[at + 1] === '\n' ? 2 : 1;
      line += 1;
    }
    records.push(problem ? { line: start, problem } : { line: start, fields: values });
  }
  return records;
}

/** A row of staff, checked: the address as typed (trimmed) and as compared, the name, the level. */
export type StaffCsvRow = { line: number; email: string; normalised: string; name: string | null; level: AccessLevel };

/**
 * What is wrong with one row, in words, with the line as the person sees it in their file:
 * `message` in English; `words`, the reason, for a page in the reader's language.
 */
export type ImportProblem = { line: number; field: 'email' | 'name' | 'level' | 'row'; reason: string; message: string; words: Message };

/** A staff list read from CSV: its good rows and the problems of the others, or why the whole file is refused (in English, and as words). */
export type StaffCsv = {
  rows: StaffCsvRow[];
  problems: ImportProblem[];
  fileProblem: string | null;
  fileProblemWords: Message | null;
  rowCount: number;
};

/** A problem's words: console.import.problems.<key> in locales/. */
type Reason = { text: string; words: Message };
const reason = (text: string, key: string, values?: Message['values']): Reason => ({
  text,
  words: { key: `console.import.problems.${key}`, values },
});

const HEADER = /^e-?mail( address)?$/i;
const CONTROL = /\p{Cc}/u;

/** A value as a message quotes it: curly quotes, cut short when long. */
const quoted = (value: string) => `“${value.length > 60 ? `${value.slice(0, 57)}…` : value}”`;

function emailProblem(email: string): Reason | null {
  if (email === '') return reason('the email address is missing', 'emailMissing');
  if (email.length > 254)
    return reason(`${quoted(email)} is longer than 254 characters, too long for an email address`, 'emailTooLong', {
      value: quoted(email),
    });
  // fields.email already refuses NUL and lone surrogates; a tab or other control character is refused here.
  if (!fields.email.safeParse(email).success || CONTROL.test(email))
    return reason(`${quoted(email)} is not an email address`, 'notEmail', { value: quoted(email) });
  return null;
}

function nameProblem(name: string): Reason | null {
  if (name.length > 200) return reason(`the name is longer than 200 characters`, 'nameTooLong');
  if (!name.isWellFormed() || CONTROL.test(name))
    return reason('the name has a line break or another control character in it', 'nameControl');
  return null;
}

/**
 * Reads an import of `email,name,level`: an optional header row (its first cell `email`), name
 * optional, level basic or higher in any case (empty is basic). Blank lines are skipped. The same
 * address twice (as Gatehouse compares addresses) is a problem of the later line.
 */
export function readStaffCsv(text: string): StaffCsv {
  const refuse = (fileProblem: Reason, rowCount = 0): StaffCsv => ({
    rows: [],
    problems: [],
    fileProblem: fileProblem.text,
    fileProblemWords: fileProblem.words,
    rowCount,
  });
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > IMPORT_LIMITS.bytes) {
    const kb = Math.ceil(bytes / 1024);
    return refuse(reason(`The file is ${kb} kB; an import can be at most 256 kB. Split it into smaller files.`, 'fileTooLarge', { kb }));
  }
  const records = parseCsv(text).filter((record) => !record.fields || record.fields.some((value) => value.trim() !== ''));
  if (records[0]?.fields && HEADER.test(records[0].fields[0]!.trim())) records.shift();
  if (records.length === 0)
    return refuse(reason('There are no staff in the file: it should have one line for each person, email,name,level.', 'noStaff'));
  if (records.length > IMPORT_LIMITS.rows)
    return refuse(
      reason(
        `The file has ${records.length.toLocaleString('en-GB')} rows; an import can have at most 2,000. Split it into smaller files.`,
        'tooManyRows',
        { rows: records.length },
      ),
      records.length,
    );

  const rows: StaffCsvRow[] = [];
  const problems: ImportProblem[] = [];
  const firstLineOf = new Map<string, number>();
  const report = (line: number, field: ImportProblem['field'], { text, words }: Reason) =>
    problems.push({
      line,
      field,
      reason: text,
      message: `line ${line}: ${text}`,
      words,
    });

  for (const record of records) {
    const { line } = record;
    if (!record.fields) {
      const key = Object.entries(PARSE_PROBLEMS).find(([, text]) => text === record.problem)?.[0] ?? 'unreadable';
      report(line, 'row', reason(record.problem, key));
      continue;
    }
    const [rawEmail = '', rawName = '', rawLevel = '', ...extra] = record.fields;
    const before = problems.length;
    if (extra.some((value) => value.trim() !== ''))
      report(
        line,
        'row',
        reason(
          `there are ${record.fields.length} fields where 3 are expected (email, name, level): a name with a comma in it must be in quotes`,
          'tooManyFields',
          { fields: record.fields.length },
        ),
      );
    const email = rawEmail.trim();
    const badEmail = emailProblem(email);
    if (badEmail) report(line, 'email', badEmail);
    const name = rawName.trim();
    const badName = name === '' ? null : nameProblem(name);
    if (badName) report(line, 'name', badName);
    const level = rawLevel.trim().toLowerCase() || 'basic';
    if (level !== 'basic' && level !== 'higher')
      report(
        line,
        'level',
        reason(`${quoted(rawLevel.trim())} is not an access level: use basic or higher`, 'notLevel', { value: quoted(rawLevel.trim()) }),
      );
    if (badEmail) continue;
    const normalised = normaliseEmail(email);
    const first = firstLineOf.get(normalised);
    if (first !== undefined) {
      report(line, 'email', reason(`${quoted(email)} is already on line ${first}`, 'duplicate', { value: quoted(email), first }));
      continue;
    }
    firstLineOf.set(normalised, line);
    if (problems.length === before) rows.push({ line, email, normalised, name: name || null, level: level as AccessLevel });
  }
  return { rows, problems, fileProblem: null, fileProblemWords: null, rowCount: records.length };
}
