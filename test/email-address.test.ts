import crypto from 'node:crypto';
import { openDatabase, type Database } from '../src/db/database.ts';
import { repositoriesFor } from '../src/db/repositories/index.ts';
import { createTestStorage, type TestStorage } from './support/database.ts';

/** Addresses are stored, found and kept unique by one normalisation, never by PostgreSQL's lower(). */
let storage: TestStorage;
let database: Database;

beforeAll(async () => {
  storage = await createTestStorage();
  database = await openDatabase({ databaseUrl: storage.databaseUrl, dataDir: storage.dataDir });
  await database.migrate();
}, 60_000);

afterAll(async () => {
  await database?.close();
  await storage?.drop();
});

const sql = (text: string, values: unknown[] = []) => database.dataSource.query(text, values);

/** Back to the schema before email_normalised existed (undoing it and any migration after it). */
async function beforeNormalisation() {
  const hasColumn = async () =>
    (await sql(`SELECT 1 FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'email_normalised'`)).length > 0;
  while (await hasColumn()) await database.dataSource.undoLastMigration();
  await sql(`DELETE FROM accounts`);
}

async function insertRaw(email: string) {
  const id = crypto.randomUUID();
  await sql(`INSERT INTO accounts (id, email, status) VALUES ($1, $2, 'active')`, [id, email]);
  return id;
}

test('the migration backfills the normalised address, and lookups use it for every look-alike spelling', async () => {
  await beforeNormalisation();
  const jose = await insertRaw('Jos\u00e9.Kirk@Hill.example');
  const sam = await insertRaw('ＳＡＭ@hill.example');
  await database.migrate();
  const rows: Array<{ id: string; email_normalised: string }> = await sql(
    `SELECT id, email_normalised FROM accounts ORDER BY email_normalised`,
  );
  expect(rows).toEqual([
    { id: jose, email_normalised: 'jos\u00e9.kirk@hill.example' },
    { id: sam, email_normalised: 'sam@hill.example' },
  ]);

  const accounts = repositoriesFor(database.dataSource.manager).accounts;
  for (const spelling of ['jose\u0301.kirk@hill.example', 'JOS\u00c9.\u212Airk@HILL.EXAMPLE', ' jos\u00e9.kirk@hill.example ']) {
    expect((await accounts.findByEmail(spelling))?.id).toBe(jose);
  }
  for (const spelling of ['\u017Fam@hill.example', 'sam@hill.example', 'Sam@Hill.Example']) {
    expect((await accounts.findByEmail(spelling))?.id).toBe(sam);
  }
  // İ is not i once normalised: whatever PostgreSQL's lower() says, it is another address.
  const tim = await accounts.insert({ id: crypto.randomUUID(), email: 'tim@hill.example', name: null });
  expect(await accounts.findByEmail('T\u0130M@hill.example')).toBeNull();
  expect((await accounts.findByEmail('TIM@hill.example'))?.id).toBe(tim.id);
  // And a second account cannot take a look-alike of an existing address.
  await expect(accounts.insert({ id: crypto.randomUUID(), email: 'ｔｉｍ@hill.example', name: null })).rejects.toThrow(
    /accounts_email_normalised/,
  );
}, 60_000);

test('two accounts that are one address once normalised stop the migration with a clear message', async () => {
  await beforeNormalisation();
  await insertRaw('KATE@hill.example');
  await insertRaw('ｋａｔｅ@hill.example'); // fullwidth: lower() keeps it apart, so the old index allowed both
  await expect(database.migrate()).rejects.toThrow(/same email address once normalised \(kate@hill\.example\)/);
  await sql(`DELETE FROM accounts`);
  await database.migrate();
}, 60_000);
