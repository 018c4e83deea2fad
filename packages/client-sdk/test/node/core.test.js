// Runs the shared core suite under `node --test`.
import { test } from 'node:test';
import * as sdk from '../../dist/index.js';
import { registerCoreSuite } from '../shared/core.suite.js';
import { loadVectors } from './load-vectors.js';

registerCoreSuite({
  test: (name, fn, opts = {}) => {
    if (opts.skip) {
      process.stderr.write(`${opts.skip}\n`);
      test(name, { skip: opts.skip }, () => {});
    } else {
      test(name, fn);
    }
  },
  sdk,
  vectors: loadVectors(),
  env: 'node',
});

