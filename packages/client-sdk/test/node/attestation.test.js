// Runs the shared attestation suite under `node --test` on the AWS fixtures.
import { test } from 'node:test';
import * as ai from '../../dist/ai/index.js';
import { registerAttestationSuite } from '../shared/attestation.suite.js';
import { loadNitroFixtures } from './load-vectors.js';

const fixtures = loadNitroFixtures();
if (fixtures.error) process.stderr.write(`\n*** SKIPPED: attestation fixtures not found at ${fixtures.dir} ***\n\n`);
registerAttestationSuite({
  test: (name, fn, opts = {}) => (opts.skip ? test(name, { skip: opts.skip }, () => {}) : test(name, fn)),
  ai,
  fixtures,
});
