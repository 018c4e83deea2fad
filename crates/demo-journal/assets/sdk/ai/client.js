/**
 * `ZenalyzeAI`: sends an AI request sealed end to end to an attested
 * enclave and opens the answer (SPEC §4–5).
 *
 * For every fresh key config it fetches an attestation document with a
 * random challenge, verifies it under the caller's policy, checks that the
 * served key config is the one the document commits to, and only then seals.
 *
 * @module
 */
import { AiRequestError, AttestationError, InvalidInputError } from '../errors.js';
import { base64Decode } from '../base64.js';
import { utf8DecodeStrict, utf8Encode } from '../utf8.js';
import { keyConfigFromAttestation, verifyAttestation } from './attestation.js';
import { ENCAPSULATED_KEY_HEADER, RESPONSE_NONCE_HEADER, encodeKeyConfig, sealRequest, toHex } from './ehbp.js';
import { aiRandomBytes } from './subtle.js';
const KEY_CONFIG_PROBLEM = 'urn:ietf:params:ehbp:error:key-config';
/** The bytes as an ArrayBuffer of exactly their length (no copy when they already are one). */
function ownBuffer(bytes) {
    const buf = bytes.buffer;
    return bytes.byteOffset === 0 && bytes.byteLength === buf.byteLength ? buf : bytes.slice().buffer;
}
function equalBytes(a, b) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
}
/** Sends AI requests sealed to an attested enclave. */
export class ZenalyzeAI {
    #opts;
    #fetch;
    #now;
    #attested;
    constructor(options) {
        if (!options || typeof options.baseUrl !== 'string' || !options.policy) {
            throw new InvalidInputError('baseUrl and policy are required');
        }
        const f = options.fetch ?? globalThis.fetch;
        if (typeof f !== 'function')
            throw new InvalidInputError('no fetch available: pass `fetch`');
        this.#opts = options;
        this.#fetch = f;
        this.#now = options.now ?? (() => Date.now());
    }
    // Always invoked with `globalThis` as `this`: a browser's `fetch` (the
    // default, or `window.fetch` passed by the caller) throws "Illegal
    // invocation" when called as a method of another object.
    #send(url, init) {
        return Reflect.apply(this.#fetch, globalThis, [url, init]);
    }
    #url(path) {
        return this.#opts.baseUrl.replace(/\/+$/, '') + path;
    }
    #headers(extra = {}) {
        return this.#opts.apiKey ? { authorization: `Bearer ${this.#opts.apiKey}`, ...extra } : extra;
    }
    /**
     * Fetches and verifies a fresh attestation document (new random
     * challenge) and returns the verified key config. Called automatically.
     */
    async attest() {
        const challenge = aiRandomBytes(32, this.#opts);
        const path = this.#opts.attestationPath ?? '/v1/ai/attestation';
        const res = await this.#send(`${this.#url(path)}?nonce=${toHex(challenge)}`, { method: 'GET', headers: this.#headers({ accept: 'application/json' }) });
        const text = utf8DecodeStrict(new Uint8Array(await res.arrayBuffer()));
        if (res.status !== 200 || text === undefined)
            throw new AiRequestError(res.status, `attestation request failed with HTTP ${res.status}`);
        let doc;
        let served;
        try {
            const json = JSON.parse(text);
            if (typeof json.attestation_doc !== 'string' || typeof json.key_config !== 'string')
                throw new Error('fields');
            doc = base64Decode(json.attestation_doc);
            served = base64Decode(json.key_config);
        }
        catch {
            throw new AiRequestError(res.status, 'attestation answer is not {attestation_doc, key_config} in base64');
        }
        const now = this.#now();
        const verified = await verifyAttestation(doc, this.#opts.policy, { ...this.#subtleOpts(), nowMs: now, expectedNonce: challenge });
        const config = keyConfigFromAttestation(verified);
        if (!equalBytes(encodeKeyConfig(config), served) && !(verified.publicKey && equalBytes(verified.publicKey, served))) {
            throw new AttestationError('key_config_mismatch', 'the served key config is not the one the attestation document commits to');
        }
        this.#attested = { config, verified, at: now };
        return { keyConfig: config, attestation: verified };
    }
    #subtleOpts() {
        const o = {};
        if (this.#opts.subtle)
            o.subtle = this.#opts.subtle;
        if (this.#opts.getRandomValues)
            o.getRandomValues = this.#opts.getRandomValues;
        return o;
    }
    async #config() {
        const ttl = this.#opts.keyConfigTtlMs ?? 5 * 60 * 1000;
        const a = this.#attested;
        if (a && this.#now() - a.at <= ttl)
            return a.config;
        return (await this.attest()).keyConfig;
    }
    /**
     * Seals `request` to the attested enclave, sends it, and returns the
     * opened answer. A stale key config (HTTP 422 key-config problem) triggers
     * one fresh attestation and one retry.
     */
    async analyze(request) {
        if (!request || typeof request.prompt !== 'string' || !Array.isArray(request.inputs)) {
            throw new InvalidInputError('request must have a string prompt and an inputs array');
        }
        const plaintext = utf8Encode(JSON.stringify(request));
        try {
            for (let attempt = 0;; attempt++) {
                const config = await this.#config();
                const sealed = await sealRequest(config, plaintext, this.#subtleOpts());
                const res = await this.#send(this.#url(this.#opts.analyzePath ?? '/v1/ai/analyze'), {
                    method: 'POST',
                    headers: this.#headers({ [ENCAPSULATED_KEY_HEADER]: sealed.encapsulatedKeyHex, 'content-type': 'application/octet-stream' }),
                    body: ownBuffer(sealed.body),
                });
                const body = new Uint8Array(await res.arrayBuffer());
                const nonce = res.headers.get(RESPONSE_NONCE_HEADER);
                if (nonce === null) {
                    let type;
                    try {
                        type = JSON.parse(utf8DecodeStrict(body) ?? '').type;
                    }
                    catch {
                        type = undefined;
                    }
                    if (res.status === 422 && type === KEY_CONFIG_PROBLEM && attempt === 0) {
                        this.#attested = undefined;
                        continue;
                    }
                    throw new AiRequestError(res.status, `AI request failed with HTTP ${res.status}`, type);
                }
                const opened = await sealed.response.openResponse(nonce, body);
                const text = utf8DecodeStrict(opened);
                opened.fill(0);
                let answer;
                try {
                    answer = JSON.parse(text ?? '');
                }
                catch {
                    throw new AiRequestError(res.status, 'the opened answer is not JSON');
                }
                if (res.status !== 200) {
                    const code = typeof answer.code === 'string' ? answer.code : typeof answer.error?.code === 'string' ? (answer.error.code) : undefined;
                    throw new AiRequestError(res.status, `the enclave answered HTTP ${res.status}`, code);
                }
                return answer;
            }
        }
        finally {
            plaintext.fill(0);
        }
    }
}
