// Runs the shared suites (test/shared/*.suite.js) inside real headless
// Chromium (Debian's /usr/bin/chromium, driven by playwright-core), serving
// the built ESM from a local 127.0.0.1 server. Prints one line per test and
// exits non-zero on any failure, on a page error, or on a timeout.
import { startServer } from './static-server.mjs';
import { launchChromium } from './chromium.mjs';
import { fixturesDir, hpkeVectorsPath, vectorsPath } from '../node/load-vectors.js';
import { binaryCandidates, findEnclaveBinary, startEnclave } from '../node/enclave-process.js';

const TIMEOUT_MS = Number(process.env.ZENALYZE_BROWSER_TIMEOUT_MS ?? 300_000);

// The Rust enclave for the browser end-to-end suite (skipped loudly without it).
const enclaveBin = findEnclaveBinary();
const enclave = enclaveBin ? await startEnclave(enclaveBin) : null;
if (!enclave) console.error(`SKIPPED: no zenalyze binary with the \`enclave\` command (looked at ${binaryCandidates().join(', ')})`);

const srv = await startServer({
  vectorsPath: vectorsPath(),
  hpkeVectorsPath: hpkeVectorsPath(),
  fixturesDir: fixturesDir(),
  index: 'test/browser/index.html',
  enclave,
});
const browser = await launchChromium();
let exitCode = 1;
try {
  const page = await browser.newPage();
  const pageErrors = [];
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  page.on('console', (msg) => {
    // A 404 for a missing vectors file is reported by the suite itself.
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) {
      pageErrors.push(`console.error: ${msg.text()}`);
    }
  });
  let n = 0;
  let resolveDone;
  const done = new Promise((resolve) => {
    resolveDone = resolve;
  });
  await page.exposeFunction('__zenalyzeDone', (summary) => resolveDone(summary));
  await page.exposeFunction('__zenalyzeReport', ({ name, status, error, ms }) => {
    n++;
    if (status === 'pass') console.log(`ok ${n} - [chromium] ${name} (${ms} ms)`);
    else if (status === 'skip') {
      console.log(`ok ${n} - [chromium] ${name} # SKIP`);
      console.error(error);
    } else console.log(`not ok ${n} - [chromium] ${name}\n  ${String(error).replace(/\n/g, '\n  ')}`);
  });
  const allow = process.env.ZENALYZE_ALLOW_MISSING_VECTORS === '1' ? '1' : '0';
  await page.goto(`${srv.origin}/?allowMissingVectors=${allow}`);
  const version = browser.version();
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve({ timeout: true }), TIMEOUT_MS);
  });
  const summary = await Promise.race([done, timeout]);
  clearTimeout(timer);
  if (summary.timeout) {
    console.log(`not ok - browser suite timed out after ${TIMEOUT_MS} ms`);
  } else {
    if (summary.fatal) console.log(`not ok - page runner crashed: ${summary.fatal}`);
    for (const e of pageErrors) console.log(`# page error: ${e}`);
    const failed = summary.failed + (pageErrors.length > 0 ? 1 : 0);
    console.log(`# Chromium ${version}: ${summary.total} tests, ${summary.skipped} skipped`);
    console.log(`${summary.passed} passed, ${failed} failed`);
    exitCode = failed === 0 && summary.total > 0 && n === summary.total ? 0 : 1;
  }
} finally {
  await browser.close();
  await srv.close();
  enclave?.stop();
}
process.exit(exitCode);
