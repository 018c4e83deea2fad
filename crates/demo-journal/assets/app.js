// The demo journal's page script. It plays the browser part of a customer's
// app with the Zenalyze client SDK:
//   - derives the user's key from email + password, here (non-extractable);
//   - encrypts entries here and gives the demo backend envelopes only;
//   - decrypts what the backend lists;
//   - "Analyze my journal": attests the enclave, seals the decrypted text to
//     it (HPKE/EHBP) and opens the sealed answer.
// Every piece of user text is put in the DOM with textContent, never as HTML.
import { ZenalyzeEncryption, normalizeEmail, utf8Encode } from './sdk/index.js';
import { ZenalyzeAI } from './sdk/ai/index.js';

const $ = (id) => document.getElementById(id);

const state = {
  enc: null, // ZenalyzeEncryption of the signed-in user
  userId: null,
  entries: [], // { id, createdAt, envelope, value: {text, written_at} | null }
  config: null, // GET /demo/api/config
  ai: null, // ZenalyzeAI, created on first analysis
  envelopesSent: 0,
  envelopesListed: 0,
};

const PROMPT = 'Analyze my journal: mood, risk language, themes and a short summary.';

// ---- small helpers --------------------------------------------------------

function show(el, on) {
  el.classList.toggle('hidden', !on);
}

/** Builds an element; `text` is set with textContent. */
function el(tag, { cls, text, testid, title } = {}, ...children) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (testid) e.dataset.testid = testid;
  if (title) e.title = title;
  for (const c of children) if (c) e.append(c);
  return e;
}

function setStatus(message, kind = 'info') {
  const s = $('status');
  s.textContent = message;
  s.dataset.kind = kind;
}

function describeError(err) {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') {
    return `${err.message} (${err.code})`;
  }
  return err instanceof Error ? err.message : String(err);
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function formatDate(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? 'unknown date' : d.toLocaleString();
}

/**
 * Runs `fn` with the page's enabled buttons disabled; reports a failure in
 * the status line. Resolves true when `fn` succeeded.
 */
async function busy(label, fn) {
  const buttons = [...document.querySelectorAll('button')].filter((b) => !b.disabled);
  buttons.forEach((b) => (b.disabled = true));
  document.body.dataset.busy = 'true';
  setStatus(`${label}…`, 'busy');
  try {
    await fn();
    return true;
  } catch (err) {
    setStatus(`${label} failed: ${describeError(err)}`, 'error');
    return false;
  } finally {
    buttons.forEach((b) => (b.disabled = false));
    delete document.body.dataset.busy;
  }
}

/** Calls the demo backend; throws with the problem's detail on an error status. */
async function api(path, init = {}) {
  const res = await fetch(path, { ...init, headers: { accept: 'application/json', ...(init.headers ?? {}) } });
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) {
    throw new Error(body && typeof body.detail === 'string' ? `${body.title ?? 'Error'}: ${body.detail}` : `HTTP ${res.status}`);
  }
  return body;
}

async function config() {
  if (!state.config) state.config = await api('/demo/api/config');
  return state.config;
}

// ---- identity --------------------------------------------------------------

/**
 * The demo's user id: `u_` + the first 32 hex digits of
 * SHA-256("zenalyze-demo-journal/user-id:" + normalized email). The backend
 * never needs the email. (A real app uses its own account ids.)
 */
async function deriveUserId(email) {
  const digest = await crypto.subtle.digest('SHA-256', utf8Encode(`zenalyze-demo-journal/user-id:${normalizeEmail(email)}`));
  return `u_${hex(new Uint8Array(digest)).slice(0, 32)}`;
}

/** Associated data of every entry: binds the envelope to its user. */
const contextFor = (userId) => `demo-journal:${userId}`;

function isEntryValue(v) {
  return v !== null && typeof v === 'object' && typeof v.text === 'string' && typeof v.written_at === 'string';
}

async function decryptEntry(envelope) {
  try {
    const value = await state.enc.decrypt(envelope, { context: contextFor(state.userId) });
    return isEntryValue(value) ? value : null;
  } catch {
    return null; // another key (another password) or a damaged envelope
  }
}

// ---- sign in / out ------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const email = form.elements.email.value;
  const password = form.elements.password.value;
  form.elements.password.value = '';
  await busy('Deriving your key', async () => {
    const enc = await ZenalyzeEncryption.create({ email, password });
    state.enc = enc;
    state.userId = await deriveUserId(email);
    $('user-email').textContent = normalizeEmail(email);
    $('user-id').textContent = state.userId;
    show($('session'), true);
    show($('sign-in-card'), false);
    show($('journal'), true);
    $('who-browser').textContent = 'Key derived here (PBKDF2, non-extractable CryptoKey); the password was dropped.';
    await loadEntries();
    setStatus('Signed in. Your key exists only in this tab: reloading asks for your password again.', 'ok');
  });
}

function signOut() {
  state.enc?.dispose();
  state.enc = null;
  state.userId = null;
  state.entries = [];
  state.ai = null;
  renderEntries();
  show($('reader'), false);
  show($('analysis'), false);
  $('analysis').replaceChildren();
  show($('session'), false);
  show($('journal'), false);
  show($('sign-in-card'), true);
  $('who-browser').textContent = 'Signed out: the key reference was dropped.';
  setStatus('Signed out.', 'ok');
}

// ---- entries -----------------------------------------------------------------

async function loadEntries() {
  const { entries, more } = await api(`/demo/api/entries?user_id=${encodeURIComponent(state.userId)}`);
  const list = [];
  for (const e of entries) {
    list.push({ id: e.id, createdAt: e.created_at, envelope: e.envelope, value: await decryptEntry(e.envelope) });
  }
  state.entries = list;
  state.envelopesListed += entries.length;
  renderEntries(more);
  if (entries.length > 0) {
    noteBackend(`listed ${entries.length} envelope(s), e.g. ${entries[0].envelope.slice(0, 24)}…`);
    $('who-gateway').textContent = `Holds ${entries.length}${more ? '+' : ''} envelope(s) of user ${state.userId}, newest ${entries[0].id}. Audit events name the operation, user id and record id, no content.`;
  }
}

function renderEntries(more = false) {
  const ol = $('entries');
  ol.replaceChildren();
  for (const e of state.entries) {
    const preview = e.value
      ? el('span', { cls: 'preview', text: e.value.text.length > 90 ? `${e.value.text.slice(0, 90)}…` : e.value.text })
      : el('span', { cls: 'preview locked', text: 'Cannot decrypt with this key (written with another password?)' });
    const read = el('button', { cls: 'secondary', text: 'Read', testid: 'read-entry' });
    read.type = 'button';
    read.disabled = !e.value;
    read.addEventListener('click', () => readEntry(e.id));
    const li = el('li', { testid: 'entry' }, el('time', { text: formatDate(e.value?.written_at ?? e.createdAt) }), preview, read);
    li.dataset.id = e.id;
    ol.append(li);
  }
  show($('entries-empty'), state.entries.length === 0);
  if (more) ol.append(el('li', { cls: 'muted small', text: 'Older entries are not listed.' }));
}

async function saveEntry(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const text = form.elements.text.value.trim();
  if (!text) {
    setStatus('Write something first.', 'error');
    return;
  }
  await busy('Encrypting and saving', async () => {
    const envelope = await state.enc.encrypt({ text, written_at: new Date().toISOString() }, { context: contextFor(state.userId) });
    const created = await api('/demo/api/entries', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: state.userId, envelope }),
    });
    form.elements.text.value = '';
    state.envelopesSent += 1;
    noteBackend(`received ${state.envelopesSent} envelope(s) from this page; the last began ${created.received_prefix}`);
    $('who-gateway').textContent = `Stored ${created.id}: ${created.size} bytes of envelope. Its audit event names the operation, user id and record id, no content.`;
    await loadEntries();
    setStatus('Saved: encrypted here, stored as an envelope.', 'ok');
  });
}

async function readEntry(id) {
  await busy('Reading', async () => {
    const e = await api(`/demo/api/entries/${encodeURIComponent(id)}?user_id=${encodeURIComponent(state.userId)}`);
    const value = await decryptEntry(e.envelope);
    if (!value) throw new Error('this entry cannot be decrypted with your key');
    $('reader-title').textContent = `Entry of ${formatDate(value.written_at)}`;
    $('reader-text').textContent = value.text;
    $('reader-meta').textContent = `Record ${e.id} · the backend returned an envelope of ${e.envelope.length} base64 characters (${e.envelope.slice(0, 24)}…), decrypted on this page.`;
    show($('reader'), true);
    noteBackend(`returned envelope ${e.envelope.slice(0, 24)}… for ${e.id}`);
    setStatus('Decrypted on this page.', 'ok');
  });
}

function noteBackend(text) {
  $('who-backend').textContent = `Envelopes only: ${text}`;
}

// ---- analysis ----------------------------------------------------------------

async function analyze() {
  await busy('Attesting the enclave and analysing', async () => {
    const cfg = await config();
    await loadEntries();
    const readable = state.entries.filter((e) => e.value).reverse(); // oldest first
    if (readable.length === 0) throw new Error(state.entries.length > 0 ? 'none of the listed entries opens with this key' : 'write an entry first');
    state.ai ??= new ZenalyzeAI({ baseUrl: window.location.origin, apiKey: cfg.publishable_key, policy: cfg.attestation_policy });
    const { attestation } = await state.ai.attest();
    renderAttestation(attestation, readable.length);
    const answer = await state.ai.analyze({
      prompt: PROMPT,
      inputs: readable.map((e) => ({ kind: 'text', text: e.value.text })),
    });
    renderAnalysis(answer);
    setStatus(`Analysed ${readable.length} entr${readable.length === 1 ? 'y' : 'ies'} inside the attested enclave; the answer was opened on this page.`, 'ok');
  });
}

function renderAttestation(a, count) {
  const pcr0 = a.pcrs.get(0);
  const pcr0Hex = pcr0 ? hex(pcr0) : '';
  const debug = a.measurements.kind === 'debug';
  const box = $('who-enclave');
  box.replaceChildren(
    el('span', { text: `Saw ${count} entr${count === 1 ? 'y' : 'ies'} in plaintext, sealed to it. Verified attestation: ` }),
    el('span', { cls: 'kv', text: `root ${a.rootSha256.slice(0, 16)}… (pinned)`, testid: 'enclave-root', title: a.rootSha256 }),
    el('span', { cls: 'kv', text: `PCR0 ${pcr0Hex.slice(0, 16)}…${debug ? ' (debug mode: all zero)' : ''}`, testid: 'enclave-pcr0' }),
    el('span', { cls: 'kv', text: `issued ${new Date(a.timestampMs).toISOString()}`, testid: 'enclave-time' }),
    el('span', { cls: 'kv', text: `module ${a.moduleId}${a.nonceChecked ? ', fresh challenge checked' : ''}` }),
  );
  box.dataset.rootSha256 = a.rootSha256;
}

function section(title, ...children) {
  return el('div', { cls: 'block' }, el('h3', { text: title }), ...children);
}

function renderAnalysis(answer) {
  const out = $('analysis');
  out.replaceChildren();
  const r = answer.output;
  if (typeof r === 'string') {
    out.append(section('Answer', el('p', { cls: 'entry-text', text: r })));
  } else if (r && typeof r === 'object' && r.kind === 'journal_analysis') {
    const mood = r.sentiment?.mood ?? 'unknown';
    const compound = Number(r.sentiment?.overall?.compound ?? 0);
    out.append(
      section(
        'Mood',
        el('p', {}, el('span', { cls: `badge mood-${mood}`, text: mood.replace(/_/g, ' '), testid: 'analysis-mood' }),
          el('span', { cls: 'muted', text: ` compound ${compound.toFixed(2)}${r.sentiment?.mixed ? ' · mixed feelings' : ''}` })),
      ),
    );
    const flags = Array.isArray(r.risk?.flags) ? r.risk.flags : [];
    const risk = section('Risk language', el('p', {}, el('span', { cls: `badge risk-${r.risk?.level}`, text: String(r.risk?.level ?? 'unknown'), testid: 'analysis-risk' })));
    if (flags.length > 0) {
      risk.append(el('ul', {}, ...flags.map((f) => el('li', { text: `${String(f.category).replace(/_/g, ' ')}: “${f.phrase}”${f.negated ? ' (negated)' : ''}` }))));
    }
    if (typeof r.risk?.guidance === 'string') risk.append(el('p', { cls: 'guidance', text: r.risk.guidance }));
    out.append(risk);
    const themes = Array.isArray(r.themes) ? r.themes : [];
    out.append(
      section(
        'Themes',
        themes.length > 0
          ? el('p', { cls: 'chips' }, ...themes.map((t) => el('span', { cls: 'chip', text: t.theme, title: (t.matched_terms ?? []).join(', ') })))
          : el('p', { cls: 'muted', text: 'None of the known themes.' }),
      ),
    );
    const keywords = Array.isArray(r.keywords) ? r.keywords : [];
    if (keywords.length > 0) {
      out.append(section('Keywords', el('p', { cls: 'chips' }, ...keywords.map((k) => el('span', { cls: 'chip light', text: `${k.term} ×${k.count}` })))));
    }
    const summary = Array.isArray(r.summary) ? r.summary : [];
    out.append(section('Summary', el('ul', { cls: 'summary', testid: 'analysis-summary' }, ...summary.map((s) => el('li', { text: s })))));
    if (r.stats) {
      out.append(el('p', { cls: 'muted small', text: `${r.stats.sentences} sentences, ${r.stats.words} words from ${r.stats.text_sources} entr${r.stats.text_sources === 1 ? 'y' : 'ies'}.` }));
    }
  } else {
    out.append(section('Answer', el('pre', { cls: 'small', text: JSON.stringify(r, null, 2) })));
  }
  out.append(el('p', { cls: 'muted small', text: `${answer.provider} · ${answer.model}${typeof answer.elapsed_ms === 'number' ? ` · ${answer.elapsed_ms} ms in the enclave` : ''}` }));
  if (typeof answer.note === 'string') out.append(el('p', { cls: 'muted small', text: answer.note }));
  show(out, true);
}

// ---- start -------------------------------------------------------------------

async function start() {
  if (!window.isSecureContext || !globalThis.crypto?.subtle) {
    show($('no-crypto'), true);
    document.querySelectorAll('button, input, textarea').forEach((e) => (e.disabled = true));
    return;
  }
  $('sign-in-form').addEventListener('submit', signIn);
  $('entry-form').addEventListener('submit', saveEntry);
  $('sign-out').addEventListener('click', signOut);
  $('refresh').addEventListener('click', async () => {
    if (await busy('Refreshing', loadEntries)) setStatus('Refreshed.', 'ok');
  });
  $('analyze').addEventListener('click', analyze);
  $('reader-close').addEventListener('click', () => show($('reader'), false));
  try {
    const cfg = await config();
    $('trust-note').textContent = cfg.trust_note;
    $('root-pem').textContent = `Pinned root SHA-256: ${cfg.attestation_policy.trustedRootSha256}\n\n${cfg.development_root_certificate_pem}`;
    document.body.dataset.ready = 'true';
  } catch (err) {
    setStatus(`The demo backend is not available: ${describeError(err)}`, 'error');
  }
}

start();
