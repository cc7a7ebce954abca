/**
 * The yardstick for sign-ins: how many times per second this machine can verify the stored
 * password hash, with as many verifications under way as the sign-in benchmark has browsers.
 * argon2 runs on libuv's threadpool (UV_THREADPOOL_SIZE, default 4), as it does in Gatehouse.
 * Run in a child process of its own (this file, run directly) so nothing else shares its threads.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import argon2 from 'argon2';
import { NODE, ROOT } from './children.ts';

export type Argon2Reference = { verificationsPerSecond: number; verifications: number; concurrency: number };

export async function argon2Reference(options: {
  passwordHash: string;
  password: string;
  concurrency: number;
  durationSeconds: number;
}): Promise<Argon2Reference> {
  const env = {
    ...process.env,
    BENCH_HASH: options.passwordHash,
    BENCH_PASSWORD: options.password,
    BENCH_CONCURRENCY: String(options.concurrency),
    BENCH_SECONDS: String(options.durationSeconds),
  };
  const { stdout } = await promisify(execFile)(NODE, ['bench/argon2.ts'], { cwd: ROOT, env });
  return JSON.parse(stdout) as Argon2Reference;
}

async function verifyLoops(): Promise<void> {
  const hash = String(process.env.BENCH_HASH);
  const password = String(process.env.BENCH_PASSWORD);
  const concurrency = Number(process.env.BENCH_CONCURRENCY);
  const deadline = performance.now() + Number(process.env.BENCH_SECONDS) * 1000;
  let verifications = 0;
  const started = performance.now();
  const loop = async () => {
    while (performance.now() < deadline) {
      if (!(await argon2.verify(hash, password))) throw new Error('the stored hash does not verify the password');
      verifications += 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const seconds = (performance.now() - started) / 1000;
  const result: Argon2Reference = { verificationsPerSecond: verifications / seconds, verifications, concurrency };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (import.meta.main) await verifyLoops();
