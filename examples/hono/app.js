// A journal backend on Hono: same routes as the Express example. Entries
// are encrypted in the browser; AI requests are sealed in the browser and
// forwarded. The backend never sees plaintext and never holds a user key.
import { Hono } from 'hono';
import {
  ZenalyzeServer, ApiError, InvalidEnvelopeError, InvalidArgumentError, NotFoundError, RateLimitError,
} from '@zenalyze/server-sdk';

/** Sessions of the demo: bearer token → opaque user id (use your real auth). */
export class Sessions {
  #byToken = new Map();
  create(token, userId) {
    this.#byToken.set(token, userId);
  }
  userOf(header) {
    const m = /^Bearer (\S+)$/.exec(header ?? '');
    return m ? this.#byToken.get(m[1]) : undefined;
  }
}

const INSTRUCTIONS = 'You are a supportive journaling assistant. Reflect the mood of the entries; never give medical advice.';

function fail(c, err) {
  if (err instanceof InvalidEnvelopeError) return c.json({ error: 'not_an_envelope', code: err.code }, 422);
  if (err instanceof InvalidArgumentError) return c.json({ error: 'invalid_request' }, 400);
  if (err instanceof NotFoundError) return c.json({ error: 'not_found' }, 404);
  if (err instanceof RateLimitError) {
    if (err.retryAfterMs !== undefined) c.header('retry-after', String(Math.ceil(err.retryAfterMs / 1000)));
    return c.json({ error: 'rate_limited' }, 429);
  }
  if (err instanceof ApiError) return c.json({ error: 'upstream', requestId: err.requestId }, 502);
  return c.json({ error: 'upstream_unreachable' }, 502);
}

async function body(c) {
  try {
    return await c.req.json();
  } catch {
    return undefined;
  }
}

/**
 * @param {{ zenalyze: ZenalyzeServer, sessions: Sessions }} deps
 */
export function createApp({ zenalyze, sessions }) {
  const app = new Hono();
  app.use('/journal/*', async (c, next) => {
    const userId = sessions.userOf(c.req.header('authorization'));
    if (!userId) return c.json({ error: 'login_required' }, 401);
    c.set('userId', userId);
    await next();
  });
  app.use('/journal', async (c, next) => {
    const userId = sessions.userOf(c.req.header('authorization'));
    if (!userId) return c.json({ error: 'login_required' }, 401);
    c.set('userId', userId);
    await next();
  });

  app.post('/journal', async (c) => {
    try {
      const rec = await zenalyze.storeEncrypted({ userId: c.get('userId'), encryptedData: (await body(c))?.encryptedData, metadata: { kind: 'journal' } });
      return c.json({ id: rec.id, createdAt: rec.createdAt }, 201);
    } catch (err) {
      return fail(c, err);
    }
  });

  app.get('/journal', async (c) => {
    try {
      const cursor = c.req.query('cursor');
      const page = await zenalyze.listRecords({ userId: c.get('userId'), limit: 20, ...(cursor ? { cursor } : {}) });
      return c.json({ entries: page.records.map(({ id, encryptedData, createdAt }) => ({ id, encryptedData, createdAt })), nextCursor: page.nextCursor });
    } catch (err) {
      return fail(c, err);
    }
  });

  app.post('/journal/analyze', async (c) => {
    try {
      const { sealedRequest, recordIds = [] } = (await body(c)) ?? {};
      if (!Array.isArray(recordIds)) return c.json({ error: 'invalid_request' }, 400);
      for (const id of recordIds) {
        const rec = await zenalyze.getRecord(String(id));
        if (rec.userId !== c.get('userId')) return c.json({ error: 'not_found' }, 404);
      }
      const answer = await zenalyze.analyzeWithAI({ encryptedData: sealedRequest, instructions: INSTRUCTIONS, recordIds });
      if (!('responseNonce' in answer)) return c.json({ error: 'unexpected_job' }, 502);
      return c.json({ status: answer.status, responseNonce: answer.responseNonce, body: answer.bodyBase64 });
    } catch (err) {
      return fail(c, err);
    }
  });

  app.get('/journal/:id', async (c) => {
    try {
      const rec = await zenalyze.getRecord(c.req.param('id'));
      if (rec.userId !== c.get('userId')) return c.json({ error: 'not_found' }, 404);
      return c.json({ id: rec.id, encryptedData: rec.encryptedData, createdAt: rec.createdAt });
    } catch (err) {
      return fail(c, err);
    }
  });

  return app;
}
