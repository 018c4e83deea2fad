// Loads test-vectors/v1.json for the Node suites. A missing file is a test
// failure unless ZENALYZE_ALLOW_MISSING_VECTORS=1 (then skipped loudly).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HPKE_VECTORS_RELATIVE_TO_PACKAGE, VECTORS_RELATIVE_TO_PACKAGE } from '../shared/vectors-path.js';

export function vectorsPath() {
  return process.env.ZENALYZE_VECTORS ?? fileURLToPath(new URL(`../../${VECTORS_RELATIVE_TO_PACKAGE}`, import.meta.url));
}

export function loadVectors() {
  const path = vectorsPath();
  const allowMissing = process.env.ZENALYZE_ALLOW_MISSING_VECTORS === '1';
  try {
    return { data: JSON.parse(readFileSync(path, 'utf8')), error: null, allowMissing, path };
  } catch (err) {
    return { data: null, error: `${path}: ${err.message}`, allowMissing, path };
  }
}

export function hpkeVectorsPath() {
  return fileURLToPath(new URL(`../../${HPKE_VECTORS_RELATIVE_TO_PACKAGE}`, import.meta.url));
}

/** Loads the RFC 9180 HPKE vectors used by the `./ai` suite (a missing file fails that suite). */
export function loadHpkeVectors() {
  const path = hpkeVectorsPath();
  try {
    return { data: JSON.parse(readFileSync(path, 'utf8')), error: null, path };
  } catch (err) {
    return { data: null, error: `${path}: ${err.message}`, path };
  }
}

/** `<workspace root>/../shared/fixtures/nitro`, or $ZENALYZE_FIXTURES/nitro. */
export function fixturesDir() {
  const base = process.env.ZENALYZE_FIXTURES ?? fileURLToPath(new URL('../../../../../shared/fixtures', import.meta.url));
  return `${base.replace(/\/$/, '')}/nitro`;
}

/** Loads the Nitro attestation fixtures, or says why they are missing. */
export function loadNitroFixtures() {
  const dir = fixturesDir();
  try {
    const index = JSON.parse(readFileSync(`${dir}/index.json`, 'utf8'));
    const docs = {};
    for (const name of Object.keys(index)) docs[name] = new Uint8Array(readFileSync(`${dir}/${name}.cose`));
    return { index, docs, dir };
  } catch (err) {
    return { error: `fixtures not found at ${dir}: ${err.message}`, dir };
  }
}
