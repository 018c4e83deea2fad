// Loads the TypeScript client SDK's `./ai` entry (used by the tests to seal
// AI requests as a browser would), building it first when needed.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const clientDir = fileURLToPath(new URL('../../client-sdk/', import.meta.url));

export async function ensureClientSdk() {
  const entry = path.join(clientDir, 'dist/ai/index.js');
  if (!existsSync(entry)) {
    const run = (args) => execFileSync('npm', args, { cwd: clientDir, stdio: ['ignore', 'inherit', 'inherit'] });
    if (!existsSync(path.join(clientDir, 'node_modules/typescript'))) run(['ci', '--no-audit', '--no-fund']);
    run(['run', 'build']);
  }
  return import(pathToFileURL(entry).href);
}
