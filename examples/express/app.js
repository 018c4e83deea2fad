// A journal backend in the shape of the design's "Integration with Zenalyze
// App": entries are encrypted in the browser (client SDK) and stored for the
// logged-in user; AI requests are sealed in the browser and forwarded. The
// backend never sees plaintext and never holds a user key.
import express from 'express';
import {
  ZenalyzeServer, ApiError, InvalidEnvelopeError, InvalidArgumentError, NotFoundError, RateLimitError,
} from '@zenalyze/server-sdk';

/** Sessions of the demo: bearer token → opaque user id (use your real auth). */
export class Sessions {
  #byToken = new Map();
  create(token, userId) {
    this.#byToken.set(token, userId);
  }
  userOf(req) {
    const m = /^Bearer (\S+)$/.exec(req.get('authorization') ?? '');
    return m ? this.#byToken.get(m[1]) : undefined;
  }
}

const INSTRUCTIONS = 'You are a supportive journaling assistant. Reflect the mood of the entries; never give medical advice.';

/** Maps SDK errors to answers for the browser (no details of other tenants, no data echoed). */
function fail(res, err) {
  if (err instanceof InvalidEnvelopeError) return res.status(422).json({ error: 'not_an_envelope', code: err.code });
  if (err instanceof InvalidArgumentError) return res.status(400).json({ error: 'invalid_request' });
  if (err instanceof NotFoundError) return res.status(404).json({ error: 'not_found' });
  if (err instanceof RateLimitError) {
    if (err.retryAfterMs !== undefined) res.set('retry-after', String(Math.ceil(err.retryAfterMs / 1000)));
    return res.status(429).json({ error: 'rate_limited' });
  }
  if (err instanceof ApiError) return res.status(502).json({ error: 'upstream', requestId: err.requestId });
  return res.status(502).json({ error: 'upstream_unreachable' });
}

/**
 * @param {{ zenalyze: ZenalyzeServer, sessions: Sessions }} deps
 */
export function createApp({ zenalyze, sessions }) {
  const app = express();
  app.use(express.json({ limit: '12mb' }));
  const auth = (req, res, next) => {
    const userId = sessions.userOf(req);
    if (!userId) return res.status(401).json({ error: 'login_required' });
    req.userId = userId;
    next();
  };

  // Store an entry the browser encrypted (envelope v1, base64).
  app.post('/journal', auth, async (req, res) => {
    try {
      const rec = await zenalyze.storeEncrypted({ userId: req.userId, encryptedData: req.body?.encryptedData, metadata: { kind: 'journal' } });
      res.status(201).json({ id: rec.id, createdAt: rec.createdAt });
    } catch (err) {
      fail(res, err);
    }
  });

  // The user's entries, newest first (ciphertext: the browser decrypts).
  app.get('/journal', auth, async (req, res) => {
    try {
      const cursor = typeof req.query.cursor === 'string' ? req.query.cursor : undefined;
      const page = await zenalyze.listRecords({ userId: req.userId, limit: 20, ...(cursor ? { cursor } : {}) });
      res.json({ entries: page.records.map(({ id, encryptedData, createdAt }) => ({ id, encryptedData, createdAt })), nextCursor: page.nextCursor });
    } catch (err) {
      fail(res, err);
    }
  });

  app.get('/journal/:id', auth, async (req, res) => {
    try {
      const rec = await zenalyze.getRecord(req.params.id);
      // Records are tenant-scoped by the gateway; users are scoped here.
      if (rec.userId !== req.userId) return res.status(404).json({ error: 'not_found' });
      res.json({ id: rec.id, encryptedData: rec.encryptedData, createdAt: rec.createdAt });
    } catch (err) {
      fail(res, err);
    }
  });

  // Forward a request the browser sealed to the attested enclave; return the sealed answer.
  app.post('/journal/analyze', auth, async (req, res) => {
    try {
      const { sealedRequest, recordIds = [] } = req.body ?? {};
      if (!Array.isArray(recordIds)) return res.status(400).json({ error: 'invalid_request' });
      for (const id of recordIds) {
        const rec = await zenalyze.getRecord(String(id));
        if (rec.userId !== req.userId) return res.status(404).json({ error: 'not_found' });
      }
      const answer = await zenalyze.analyzeWithAI({ encryptedData: sealedRequest, instructions: INSTRUCTIONS, recordIds });
      if (!('responseNonce' in answer)) return res.status(502).json({ error: 'unexpected_job' });
      res.json({ status: answer.status, responseNonce: answer.responseNonce, body: answer.bodyBase64 });
    } catch (err) {
      fail(res, err);
    }
  });

  return app;
}
