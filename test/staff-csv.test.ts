import fc from 'fast-check';
import { IMPORT_LIMITS, parseCsv, readStaffCsv } from '../src/admin/staff-csv.ts';

/** Reading a staff CSV file (fast, no database): RFC 4180 records, then the rows and their problems by line. */

const messages = (text: string) => readStaffCsv(text).problems.map((problem) => problem.message);

describe('reading a CSV file (RFC 4180)', () => {
  test('quoted fields keep commas, doubled quotes and line breaks; the record starts on its first line', () => {
    const records = parseCsv('a,"b, c","say ""hi"""\r\n"two\nlines",x\n\nlast');
    expect(records).toEqual([
      { line: 1, fields: ['a', 'b, c', 'say "hi"'] },
      { line: 2, fields: ['two\nlines', 'x'] },
      { line: 4, fields: [''] },
      { line: 5, fields: ['last'] },
    ]);
  });

  test('LF, CRLF and CR all end a line, and the BOM is not part of the first field', () => {
    expect(parseCsv('\uFEFFa\r\nb\rc\nd').map((record) => [record.line, record.fields?.[0]])).toEqual([
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
      [4, 'd'],
    ]);
  });

  test('broken quoting is a problem of its line, and reading goes on at the next', () => {
    const records = parseCsv('x"y,z\n"a"b,c\nok,1\n"never closed,\nmore');
    expect(records.map((record) => [record.line, record.problem ? 'problem' : record.fields])).toEqual([
      [1, 'problem'],
      [2, 'problem'],
      [3, ['ok', '1']],
      [4, 'problem'],
    ]);
  });

  test('any fields written the RFC 4180 way read back the same', () => {
    const field = fc.string({ unit: fc.constantFrom('a', ',', '"', '\n', '\r', ' ', 'é') });
    const quote = (value: string) => `"${value.replaceAll('"', '""')}"`;
    fc.assert(
      fc.property(fc.array(fc.array(field, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 5 }), (rows) => {
        const text = rows.map((row) => row.map(quote).join(',')).join('\r\n');
        expect(parseCsv(text).map((record) => record.fields)).toEqual(rows);
      }),
    );
  });
});

describe('reading a staff list', () => {
  test('a header row, a BOM, blank lines, level in any case or left out, name optional', () => {
    const csv = readStaffCsv(
      '\uFEFFEmail,Name,Level\r\n\r\n jo@hill.example , Jo Bloggs ,HIGHER\r\nsam@hill.example\r\n"Kim@Hill.example","Kim, Deputy",\r\n,,\r\n',
    );
    expect(csv.problems).toEqual([]);
    expect(csv.fileProblem).toBeNull();
    expect(csv.rows).toEqual([
      { line: 3, email: 'jo@hill.example', normalised: 'jo@hill.example', name: 'Jo Bloggs', level: 'higher' },
      { line: 4, email: 'sam@hill.example', normalised: 'sam@hill.example', name: null, level: 'basic' },
      { line: 5, email: 'Kim@Hill.example', normalised: 'kim@hill.example', name: 'Kim, Deputy', level: 'basic' },
    ]);
  });

  test('without a header the first line is a person', () => {
    expect(readStaffCsv('jo@hill.example,Jo,basic').rows).toHaveLength(1);
  });

  test('each bad line is reported by the line the person sees, the field and the reason in words', () => {
    const csv = readStaffCsv(
      [
        'email,name,level',
        'jo@hill.example,Jo,basic',
        'bob@,Bob,basic',
        'ann@hill.example,Ann,admin',
        ',No Address,basic',
        '"multi',
        'line@hill.example",x,basic',
        'lee@hill.example,Lee,higher,extra',
        `${'a'.repeat(250)}@hill.example`,
        `long@hill.example,${'n'.repeat(201)}`,
      ].join('\n'),
    );
    expect(csv.problems.map(({ line, field }) => [line, field])).toEqual([
      [3, 'email'],
      [4, 'level'],
      [5, 'email'],
      [6, 'email'],
      [8, 'row'],
      [9, 'email'],
      [10, 'name'],
    ]);
    expect(csv.problems[0]!.message).toBe('line 3: “bob@” is not an email address');
    expect(csv.problems[1]!.message).toBe('line 4: “admin” is not an access level: use basic or higher');
    expect(csv.problems[2]!.message).toBe('line 5: the email address is missing');
    expect(csv.problems[4]!.message).toMatch(/^line 8: there are 4 fields where 3 are expected/);
    expect(csv.problems[5]!.message).toMatch(/^line 9: “a+…” is longer than 254 characters/);
    expect(csv.rows.map((row) => row.line)).toEqual([2]);
  });

  test('one address twice, as Gatehouse compares addresses, is a problem of the later line', () => {
    // The fullwidth letters and the case fold are what normaliseEmail makes one address.
    expect(messages('jo@hill.example\nsam@hill.example\nＪＯ@Hill.Example,Jo again')).toEqual([
      'line 3: “ＪＯ@Hill.Example” is already on line 1',
    ]);
  });

  test('a stray quote mark is a problem, not a silent guess', () => {
    expect(messages('jo@hill.example,Jo "JJ" Bloggs,basic')[0]).toMatch(/^line 1: a field has a quote mark/);
  });

  test('over 2,000 rows or 256 kB, or nothing at all, the whole file is refused', () => {
    const rows = (count: number) => Array.from({ length: count }, (_, index) => `p${index}@hill.example`).join('\n');
    expect(readStaffCsv(`email\n${rows(IMPORT_LIMITS.rows)}`).fileProblem).toBeNull();
    expect(readStaffCsv(`email\n${rows(IMPORT_LIMITS.rows + 1)}`).fileProblem).toMatch(/2,001 rows; an import can have at most 2,000/);
    const large = `jo@hill.example,${'x'.repeat(IMPORT_LIMITS.bytes)}`;
    expect(readStaffCsv(large).fileProblem).toMatch(/at most 256 kB/);
    expect(readStaffCsv('email,name,level\n\n').fileProblem).toMatch(/no staff in the file/);
  });
});

describe('the edges of a staff list', () => {
  const problemsOf = (text: string) => readStaffCsv(text).problems.map(({ line, field, reason }) => ({ line, field, reason }));

  test('spaces around a header, a level or trailing empty fields are forgiven', () => {
    const read = readStaffCsv(' Email ,name,level\njo@hill.example,Jo, Higher ,  , \n');
    expect(read.problems).toEqual([]);
    expect(read.rows).toEqual([expect.objectContaining({ line: 2, email: 'jo@hill.example', name: 'Jo', level: 'higher' })]);
  });

  test('a line with only spaces is blank; CR, CRLF and LF count lines alike', () => {
    expect(readStaffCsv('   ,  \njo@hill.example').rows.map((row) => row.line)).toEqual([2]);
    expect(parseCsv('a\r\r\nb').map((record) => record.line)).toEqual([1, 2, 3]);
    expect(parseCsv('"x\r\ny",1\nz').map((record) => record.line)).toEqual([1, 3]);
    expect(parseCsv('"x\ry",1\nz').map((record) => record.line)).toEqual([1, 3]);
  });

  test('an extra field, a bad level or a bad name is reported with the field it is about, and the row is not taken', () => {
    expect(problemsOf('jo@hill.example,Jo,basic, x ')).toEqual([
      { line: 1, field: 'row', reason: expect.stringMatching(/^there are 4 fields where 3/) },
    ]);
    expect(problemsOf('jo@hill.example,Jo, Admin ')).toEqual([
      { line: 1, field: 'level', reason: '“Admin” is not an access level: use basic or higher' },
    ]);
    expect(problemsOf('jo@hill.example,"Jo\u0007"')).toEqual([
      { line: 1, field: 'name', reason: 'the name has a line break or another control character in it' },
    ]);
    expect(problemsOf('"x\n y",1')).toEqual([{ line: 1, field: 'email', reason: expect.stringMatching(/is not an email address$/) }]);
    expect(readStaffCsv('jo@hill.example,Jo,admin').rows).toEqual([]);
  });

  test('the longest name and address are taken; one character more is not', () => {
    const local = (length: number) => 'a'.repeat(length - '@hill.example'.length);
    expect(problemsOf(`${local(254)}@hill.example,${'n'.repeat(200)}`)).toEqual([]);
    expect(problemsOf(`${local(255)}@hill.example,${'n'.repeat(201)}`)).toEqual([
      { line: 1, field: 'email', reason: expect.stringMatching(/^“a{57}…” is longer than 254 characters/) },
      { line: 1, field: 'name', reason: 'the name is longer than 200 characters' },
    ]);
    const sixty = `${'c'.repeat(60 - '@hill'.length)}@hill`;
    expect(problemsOf(`${sixty},x`)[0]?.reason).toBe(`“${sixty}” is not an email address`);
  });

  test('a duplicate is reported on the later line as an email problem; a bad address is not counted as a first', () => {
    expect(problemsOf('jo@hill.example\nJO@hill.example')).toEqual([
      { line: 2, field: 'email', reason: '“JO@hill.example” is already on line 1' },
    ]);
    expect(problemsOf('bad@\nbad@')).toEqual([
      { line: 1, field: 'email', reason: '“bad@” is not an email address' },
      { line: 2, field: 'email', reason: '“bad@” is not an email address' },
    ]);
  });

  test('a file over the size limit says its size in kB, and has no rows or problems', () => {
    const read = readStaffCsv(`jo@hill.example,${'x'.repeat(300 * 1024)}`);
    expect(read).toEqual({
      rows: [],
      problems: [],
      fileProblem: expect.stringMatching(/^The file is 301 kB; an import can be at most 256 kB/),
      fileProblemWords: { key: 'console.import.problems.fileTooLarge', values: { kb: 301 } },
      rowCount: 0,
    });
    expect(readStaffCsv('é'.repeat(IMPORT_LIMITS.bytes / 2)).fileProblem).toBeNull();
  });
});
