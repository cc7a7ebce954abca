import { parseArgs } from 'node:util';
import { ConfigError } from '../config/config-error.ts';
import { loadConfig } from '../config/index.ts';
import { openDatabase } from '../db/database.ts';
import { EmbeddedDatabaseBusyError } from '../db/embedded.ts';
import { isDomainError } from '../domain/errors.ts';
import { createLogger } from '../logger.ts';
import { createServices } from '../services.ts';
import { operatorAuthority } from './authority.ts';
import { commands } from './commands.ts';

const USAGE = `Usage: npm run -s admin -- <command> [options] [--json]

  school add --name <name> --postcode <postcode>
  school list
  client add --name <name> --school <schoolId> [--school ...] --redirect-uri <uri> [--redirect-uri ...]
             [--post-logout-redirect-uri <uri>] [--initiate-login-uri <uri>] [--backchannel-logout-uri <uri>]
             [--token-endpoint-auth-method client_secret_basic|client_secret_post]   (default client_secret_basic)
             [--pkce required|optional]   (default required; optional only for the OpenID conformance suite's clients)
  client add --name <name> --school <schoolId> --grant-type client_credentials     (a machine client)
  client link --client <clientId> --school <schoolId> [--school ...]
  token initial-access [--expires-in-days <1-90>]
  keys rotate            (publish a next key; every process takes it within seconds)
  keys activate          (the next key signs; wait 5 minutes after rotate first)
  keys list
  user add --email <email> [--name <name>] --school <schoolId>[:basic|:higher] [--school ...]
  user mfa-reset --email <email> [--reason <text>]   (the person is mailed, with the reason)
  audit --email <email> [--limit <n>]
  user lock --email <email>
  user unlock --email <email>
  role grant --email <email> --role helpdesk
  role grant --email <email> --role school-admin --school <schoolId>
  role grant --client <clientId> --role helpdesk|school-admin [--school <schoolId>]
  role revoke (the same options as role grant)
  role list [--cursor <cursor>]
  client add --name <name> --grant-type client_credentials --api-role helpdesk
  client add --name <name> --grant-type client_credentials --api-role school-admin --school <schoolId>
             (a machine client of the management API at /api/v1)
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
  'token-endpoint-auth-method': { type: 'string', multiple: true },
  pkce: { type: 'string', multiple: true },
  'grant-type': { type: 'string', multiple: true },
  client: { type: 'string', multiple: true },
  'expires-in-days': { type: 'string', multiple: true },
  limit: { type: 'string', multiple: true },
  role: { type: 'string', multiple: true },
  'api-role': { type: 'string', multiple: true },
  reason: { type: 'string', multiple: true },
  cursor: { type: 'string', multiple: true },
} as const;

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
  // On stderr: stdout is the command's answer (--json is parsed), and a mail outboxed without SMTP_URL logs its link at warn.
  const logger = createLogger('warn', {}, 2);
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
    // The administration service audits every act, naming the system user who ran the command.
    const result = await command(services, parsed.values, operatorAuthority(process.env.USER ?? 'unknown'));
    process.stdout.write(parsed.values.json ? `${JSON.stringify(result.json)}\n` : `${result.text}\n`);
  } catch (error) {
    process.exitCode = 1;
    const message = isDomainError(error) ? error.message : `The command failed: ${(error as Error).message}`;
    process.stderr.write(wantsJson ? `${JSON.stringify({ error: message })}\n` : `${message}\n`);
  } finally {
    await database.close();
  }
}

await main(process.argv.slice(2));
