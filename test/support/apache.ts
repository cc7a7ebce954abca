import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './gatehouse.ts';

/** Debian's Apache and its mod_auth_openidc (2.4.12 on Debian 12), never a build of our own. */
export const APACHE = process.env.APACHE2_PATH ?? '/usr/sbin/apache2';
export const APACHE_MODULES = process.env.APACHE2_MODULES ?? '/usr/lib/apache2/modules';

/**
 * Only what the guide's configuration needs: an MPM, authentication and authorization (AuthType,
 * Require valid-user, Require claim), mod_auth_openidc and the reverse proxy to the application.
 */
const MODULES: Array<[name: string, file: string]> = [
  ['mpm_event_module', 'mod_mpm_event.so'],
  ['authn_core_module', 'mod_authn_core.so'],
  ['authz_core_module', 'mod_authz_core.so'],
  ['authz_user_module', 'mod_authz_user.so'],
  ['proxy_module', 'mod_proxy.so'],
  ['proxy_http_module', 'mod_proxy_http.so'],
  ['auth_openidc_module', 'mod_auth_openidc.so'],
];

/** Fails, naming the Debian packages to install, when Apache or the module is missing: never a silent skip. */
export function assertApacheInstalled(): void {
  const missing: string[] = [];
  if (!fs.existsSync(APACHE)) missing.push(`${APACHE} (Debian package apache2)`);
  const openidc = path.join(APACHE_MODULES, 'mod_auth_openidc.so');
  if (!fs.existsSync(openidc)) missing.push(`${openidc} (Debian package libapache2-mod-auth-openidc)`);
  if (missing.length > 0) {
    throw new Error(
      `Apache with mod_auth_openidc is not installed: missing ${missing.join(' and ')}. ` +
        'Run "apt-get install apache2 libapache2-mod-auth-openidc" (the CI script does).',
    );
  }
}

export type RunningApache = {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  /** Everything Apache wrote to its error log (and stderr) so far. */
  errorLog(): string;
  stop(): Promise<void>;
};

export type ApacheOptions = {
  /** The configuration file to `Include` inside the virtual host, used as it is. */
  include: string;
  /** The environment Apache starts with: the `${VARIABLES}` the included file uses. */
  env: Record<string, string>;
  /** A port chosen beforehand (e.g. because a URL registered elsewhere names it); default a free one. */
  port?: number;
  /** Apache's LogLevel; default `warn auth_openidc:info`, or APACHE_LOG_LEVEL. */
  logLevel?: string;
};

/**
 * Apache in the foreground (`apache2 -DFOREGROUND -f …`) on 127.0.0.1 and a free port, in a temporary
 * ServerRoot with its own PidFile, ErrorLog and Mutex directory, serving one virtual host that
 * `Include`s the given file. Resolves once it accepts connections; fails with its error log if it
 * exits first.
 */
export async function startApache(options: ApacheOptions): Promise<RunningApache> {
  assertApacheInstalled();
  const port = options.port ?? (await freePort());
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'gatehouse-apache-'));
  // Apache's children drop root for www-data; they need to reach nothing in here but the mutexes.
  await fsp.chmod(root, 0o755);
  await fsp.mkdir(path.join(root, 'mutex'), { mode: 0o755 });
  const errorLogPath = path.join(root, 'error.log');
  const runAs = process.getuid?.() === 0 ? ['User www-data', 'Group www-data'] : [];
  const config = [
    `ServerRoot "${root}"`,
    `DefaultRuntimeDir "${root}"`,
    `PidFile "${path.join(root, 'httpd.pid')}"`,
    `ErrorLog "${errorLogPath}"`,
    `LogLevel ${options.logLevel ?? process.env.APACHE_LOG_LEVEL ?? 'warn auth_openidc:info'}`,
    // (no quotes: Apache reads the quote as part of the directory name here)
    `Mutex file:${path.join(root, 'mutex')} default`,
    ...MODULES.map(([name, file]) => `LoadModule ${name} "${path.join(APACHE_MODULES, file)}"`),
    ...runAs,
    'ServerName 127.0.0.1',
    `Listen 127.0.0.1:${port}`,
    'StartServers 1',
    'ServerLimit 2',
    'ThreadsPerChild 16',
    'MaxRequestWorkers 32',
    'MinSpareThreads 8',
    'MaxSpareThreads 32',
    `<VirtualHost 127.0.0.1:${port}>`,
    `  ServerName 127.0.0.1:${port}`,
    `  Include "${options.include}"`,
    '</VirtualHost>',
    '',
  ].join('\n');
  const configPath = path.join(root, 'httpd.conf');
  await fsp.writeFile(configPath, config);

  const child = spawn(APACHE, ['-DFOREGROUND', '-f', configPath], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let console = '';
  child.stdout.on('data', (chunk) => (console += chunk));
  child.stderr.on('data', (chunk) => (console += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const errorLog = () => {
    const file = fs.existsSync(errorLogPath) ? fs.readFileSync(errorLogPath, 'utf8') : '';
    return [console.trim(), file.trim()].filter(Boolean).join('\n');
  };

  const deadline = Date.now() + 15_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      const log = errorLog();
      await fsp.rm(root, { recursive: true, force: true });
      throw new Error(`Apache did not start (${APACHE} -f ${configPath}):\n${config}\n--- error log ---\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    errorLog,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        // SIGTERM: Apache stops its children and exits (no graceful wait for open connections).
        child.kill('SIGTERM');
        const timeout = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timeout);
      }
      await fsp.rm(root, { recursive: true, force: true });
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.end();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Runs a test body and, if it fails, adds Apache's error log to the failure: what mod_auth_openidc
 * said is usually the reason.
 */
export async function withApacheLog(apache: () => RunningApache | undefined, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    const log = apache()?.errorLog() ?? '(Apache is not running)';
    if (error instanceof Error) {
      error.message += `\n\n--- Apache error log ---\n${log}`;
    }
    throw error;
  }
}
