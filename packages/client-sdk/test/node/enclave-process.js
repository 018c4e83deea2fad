// Starts the Rust enclave (`zenalyze enclave`, development attestor, offline
// analyzer) on a loopback port for the cross-language tests. The binary is
// $ZENALYZE_BIN, else $CARGO_TARGET_DIR/debug/zenalyze, else
// /root/.cache/zenalyze-target/debug/zenalyze, and must have `enclave`.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

export function binaryCandidates() {
  const candidates = [];
  if (process.env.ZENALYZE_BIN) candidates.push(process.env.ZENALYZE_BIN);
  if (process.env.CARGO_TARGET_DIR) candidates.push(path.join(process.env.CARGO_TARGET_DIR, 'debug', 'zenalyze'));
  candidates.push('/root/.cache/zenalyze-target/debug/zenalyze');
  return candidates;
}

/** The first candidate binary that has the `enclave` command, or null. */
export function findEnclaveBinary() {
  for (const c of binaryCandidates()) {
    if (existsSync(c) && spawnSync(c, ['enclave', '--help'], { timeout: 20_000 }).status === 0) return c;
  }
  return null;
}

/** Starts the enclave; resolves with its listening line, base URL and a stop(). */
export async function startEnclave(bin) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'zenalyze-enclave-'));
  const child = spawn(bin, ['enclave', '--listen', 'tcp:127.0.0.1:0', '--data-dir', path.join(dataDir, 'data'), '--provider', 'offline'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: 'warn' },
  });
  child.stderr.resume();
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const info = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('enclave did not print its listening line within 60 s')), 60_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`enclave exited early with ${code}`));
      });
      createInterface({ input: child.stdout }).on('line', (line) => {
        try {
          const j = JSON.parse(line);
          if (j.event === 'listening') {
            clearTimeout(timer);
            resolve(j);
          }
        } catch {
          // not the JSON line
        }
      });
    });
    return { info, baseUrl: `http://${info.address.replace(/^tcp:/, '')}`, stop };
  } catch (err) {
    stop();
    throw err;
  }
}
