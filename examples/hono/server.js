// Runs the journal backend on Node. Environment: ZENALYZE_API_KEY,
// ZENALYZE_BASE_URL (default http://127.0.0.1:8080), PORT (default 3000),
// DEMO_SESSION_TOKEN and DEMO_USER_ID (one demo login).
import { serve } from '@hono/node-server';
import { ZenalyzeServer } from '@zenalyze/server-sdk';
import { createApp, Sessions } from './app.js';

const zenalyze = new ZenalyzeServer({
  apiKey: process.env.ZENALYZE_API_KEY,
  baseUrl: process.env.ZENALYZE_BASE_URL ?? 'http://127.0.0.1:8080',
});
const sessions = new Sessions();
sessions.create(process.env.DEMO_SESSION_TOKEN ?? 'demo-session', process.env.DEMO_USER_ID ?? 'usr_demo');
const port = Number(process.env.PORT ?? 3000);
serve({ fetch: createApp({ zenalyze, sessions }).fetch, port, hostname: '127.0.0.1' }, () => {
  console.log(`journal backend on http://127.0.0.1:${port} (${zenalyze})`);
});
