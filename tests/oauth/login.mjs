// `keyhold oauth login NAME` driven by a test: started with --no-browser, resolved once it
// printed the authorization URL, its output captured for the leak sweep.
import { spawn } from 'node:child_process';

import { keyholdBin } from '../e2e/helpers.mjs';
import { capture } from '../secrets/lib.mjs';

// Starts the login; resolves with { url, redirect, done } (done: { code, stdout, stderr }).
export async function startLogin(sandbox, configPath, name, extra = []) {
  const child = spawn(await keyholdBin(), ['oauth', '--config', configPath, 'login', name, '--no-browser', ...extra], {
    env: sandbox.env,
    cwd: sandbox.dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const done = new Promise((resolve) =>
    child.on('close', (code) => {
      capture(`oauth login ${name} (stdout)`, stdout);
      capture(`oauth login ${name} (stderr)`, stderr);
      resolve({ code, stdout, stderr });
    }),
  );
  const url = await new Promise((resolve, reject) => {
    child.stdout.on('data', (c) => {
      stdout += c;
      const line = stdout.split('\n').find((l) => l.startsWith('http'));
      if (line) resolve(line.trim());
    });
    child.on('close', () => reject(new Error(`login exited before printing a URL: ${stderr}`)));
  });
  const redirect = new URL(url).searchParams.get('redirect_uri');
  return { url, redirect, done };
}
