import { parseArgs } from 'node:util';
import { ConfigError } from '../config/config-error.ts';
import { loadConfig } from '../config/index.ts';
import { openDatabase } from '../db/database.ts';
import { EmbeddedDatabaseBusyError } from '../db/embedded.ts';
import { isDomainError } from '../domain/errors.ts';
import { createLogger } from '../logger.ts';
import { createServices } from '../services.ts';
import { commands } from './commands.ts';

const USAGE = `Usage: npm run -s admin -- <command> [options] [--json]

  school add --name <name> --postcode <postcode>
  school list
  client add --name <name> --school <schoolId> [--school ...] --redirect-uri <uri> [--redirect-uri ...]
             [--post-logout-redirect-uri <uri>] [--initiate-login-uri <uri>] [--backchannel-logout-uri <uri>]
  client add --name <name> --school <schoolId> --grant-type client_credentials     (a machine client)
  client link --client <clientId> --school <schoolId> [--school ...]
  token initial-access [--expires-in-days <1-90>]
  keys rotate            (publish a next key; restart every process)
  keys activate          (the next key signs; restart every process)
  keys list
  user add --email <email> [--name <name>] --school <schoolId>[:basic|:higher] [--school ...]
  user mfa-reset --email <email>
  audit --email <email> [--limit <n>]
  user lock --email <email>
  user unlock --email <email>
`;

const OPTIONS = {
  json: { type: 'boolean' },
  help: { type: 'boolean' },
  name: { type: 'string', multiple: true },
  postcode: { type: 'string', multiple: true },
  school: { type: 'string', multiple: true },
  email: { type: 'string', multiple: true },
  'redirect-uri': { type: 'string', multiple: true },
  'post-logout-redirect-uri': { type: 'string', multiple: true },
  'initiate-login-uri': { type: 'string', multiple: true },
  'backchannel-logout-uri': { type: 'string', multiple: true },
  'grant-type': { type: 'string', multiple: true },
  client: { type: 'string', multiple: true },
  'expires-in-days': { type: 'string', multiple: true },
  limit: { type: 'string', multiple: true },
} as const;

const one = (value: unknown) => (Array.isArray(value) ? String(value.at(-1)) : typeof value === 'string' ? value : undefined);

/** The options of an admin action, for the audit trail (nothing secret is ever an option). */
function auditDetail(values: Record<string, unknown>): Record<string, unknown> {
  const { json: _json, help: _help, ...rest } = values;
  return { ...rest, actor: process.env.USER ?? 'unknown' };
}

function fail(message: string, json: boolean, code = 1): never {
  process.stderr.write(json ? `${JSON.stringify({ error: message })}\n` : `${message}\n`);
  process.exit(code);
}

async function main(argv: string[]) {
  const wantsJson = argv.includes('--json');
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    fail(`${(error as Error).message}\n\n${USAGE}`, wantsJson, 2);
  }
  const name = parsed.positionals.slice(0, 2).join(' ');
  const command = commands[name];
  if (parsed.values.help || !command || parsed.positionals.length > 2) {
    if (parsed.values.help) {
      process.stdout.write(USAGE);
      return;
    }
    fail(`Unknown command "${parsed.positionals.join(' ')}".\n\n${USAGE}`, wantsJson, 2);
  }

  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message, wantsJson);
    throw error;
  }
  const logger = createLogger('warn');
  let database;
  try {
    database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 2, role: 'command' });
  } catch (error) {
    // E.g. the embedded database's server is paused: say so in one sentence, change nothing.
    fail(
      error instanceof EmbeddedDatabaseBusyError ? error.message : `The command could not open the database: ${(error as Error).message}`,
      wantsJson,
    );
  }
  try {
    await database.migrate();
    const services = await createServices(database, config, logger);
    const audited = { event: `admin.${name.replace(' ', '.')}`, email: one(parsed.values.email), detail: auditDetail(parsed.values) };
    try {
      const result = await command(services, parsed.values);
      if (name !== 'audit' && name !== 'school list' && name !== 'keys list')
        await services.audit.record({ ...audited, outcome: 'success' });
      process.stdout.write(parsed.values.json ? `${JSON.stringify(result.json)}\n` : `${result.text}\n`);
    } catch (error) {
      if (name !== 'audit') await services.audit.record({ ...audited, outcome: 'failure', reason: (error as Error).message });
      throw error;
    }
  } catch (error) {
    process.exitCode = 1;
    const message = isDomainError(error) ? error.message : `The command failed: ${(error as Error).message}`;
    process.stderr.write(wantsJson ? `${JSON.stringify({ error: message })}\n` : `${message}\n`);
  } finally {
    await database.close();
  }
}

await main(process.argv.slice(2));
