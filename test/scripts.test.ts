import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './support/process.ts';

/** The npm scripts the README promises run what they say (a script naming a missing jest project fails). */
test('npm run test:smoke runs the smoke test file, and only it', async () => {
  const { stdout } = await promisify(execFile)('npm', ['run', '-s', 'test:smoke', '--', '--listTests'], { cwd: ROOT, env: process.env });
  expect(
    stdout
      .trim()
      .split('\n')
      .map((file) => path.relative(ROOT, file)),
  ).toEqual(['test/smoke.test.ts']);
});
