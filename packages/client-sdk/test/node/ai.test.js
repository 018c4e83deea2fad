// Runs the shared `./ai` suite under `node --test`.
import { test } from 'node:test';
import * as ai from '../../dist/ai/index.js';
import { registerAiSuite } from '../shared/ai.suite.js';
import { loadHpkeVectors } from './load-vectors.js';

registerAiSuite({ test: (name, fn) => test(name, fn), ai, hpkeVectors: loadHpkeVectors(), env: 'node' });
