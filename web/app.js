// The order page: the buyer's gallery and the seller's deliveries.
// The token comes in the fragment (#t=<JWT>), which browsers never send:
// it is moved to sessionStorage and taken out of the address bar, then sent
// as a bearer header. Originals and zips are plain ?token= links the
// browser downloads itself: no original is ever read into this script.
import { pickLanguage, setLanguage, currentLanguage, t, errorText, formatDate, formatSize } from './i18n.js';
import { startSeller } from './seller.js';
import { readManifest } from './manifest.js';

const $ = (id) => document.getElementById(id);
const orderId = decodeURIComponent(location.pathname.replace(/^\/o\//, ''));
const enc = encodeURIComponent;
const state = { order: null, audit: [], role: null, timer: 0, images: [], lbIndex: 0, lbOpener: null, sigs: new Map(), manifests: new Map() };

function takeToken() {
  const key = 'filigrane:t:' + orderId;
  const m = /(?:^#|&)t=([A-Za-z0-9_\-.]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(key, m[1]);
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(key);
}
const token = takeToken();

function claims(tok) {
  try {
    const p = tok.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(p + '='.repeat((4 - (p.length % 4)) % 4)));
  } catch { return {}; }
}

export class ApiError extends Error {
  constructor(code, status) { super(code); this.code = code; this.status = status; }
}

export async function api(path, opts = {}) {
  let r;
  try {
    r = await fetch(path, { ...opts, headers: { ...(opts.headers || {}), Authorization: 'Bearer ' + token }, cache: 'no-store' });
  } catch { throw new ApiError('network', 0); }
  let body = null;
  try { body = await r.json(); } catch { /* not JSON */ }
  if (!r.ok) {
    let code = body && body.error && body.error.code;
    if (!code) code = { 401: 'unauthorized', 413: 'too_large', 429: 'rate_limited', 404: 'not_found' }[r.status] || (r.status >= 500 ? 'internal' : 'unknown');
    throw new ApiError(code, r.status);
  }
  return body;
}

export function showError(code) {
  const a = $('alert');
  a.textContent = errorText(code);
  a.hidden = false;
}
export function announce(text) { $('status').textContent = text; }

const withToken = (path) => `${path}?token=${enc(token)}`;
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v; else if (k === 'text') e.textContent = v; else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids) if (k) e.append(k);
  return e;
};

function released() { return state.role !== 'buyer' || state.order.state === 'accepted'; }

function renderSummary() {
  const o = state.order;
  $('summary').hidden = false;
  $('order-id').textContent = o.id;
  const badge = $('order-state');
  badge.textContent = t('state_' + o.state);
  badge.dataset.state = o.state;
  $('role').textContent = t(state.role || 'buyer');
  const note = $('lock-note');
  note.hidden = false;
  note.classList.toggle('open', false);
  if (state.role !== 'buyer') note.hidden = true;
  else if (o.state === 'accepted') { note.textContent = t('released', { date: formatDate(o.released_at) }); note.classList.add('open'); }
  else if (o.state === 'disputed') note.textContent = t('lockNoteDisputed');
  else if (o.state === 'cancelled') note.textContent = t('lockNoteCancelled');
  else note.textContent = t('lockNote');
}

// Per file, from the audit (evidence the seller may read): the buyer's
// first view and downloads.
function buyerActivity() {
  const seen = new Map(), downloads = new Map();
  for (const e of state.audit) {
    let d = {};
    try { d = JSON.parse(e.detail); } catch { continue; }
    if (!d.file_id) continue;
    if (e.action === 'file.previewed' && !seen.has(d.file_id) && String(e.actor).startsWith('buyer')) seen.set(d.file_id, e.at);
    if (e.action === 'file.downloaded' && String(e.actor).startsWith('buyer')) downloads.set(d.file_id, Math.max(downloads.get(d.file_id) || 0, d.count || 1));
  }
  return { seen, downloads };
}

function fileCard(f, activity) {
  const li = el('li', { class: 'file', 'data-file': f.id, 'data-preview': f.preview });
  const fig = el('div', { class: 'thumb' });
  const previewUrl = withToken(`/v1/files/${enc(f.id)}/preview`);
  if (f.purged_at) fig.append(el('p', { class: 'muted', text: t('preview_purged', { date: formatDate(f.purged_at) }) }));
  else if (f.preview === 'processing') fig.append(el('p', { class: 'processing', text: t('preview_processing') }));
  else if (f.preview === 'withheld') fig.append(el('p', { class: 'muted', text: t('preview_withheld') }));
  else if (f.preview === 'failed') fig.append(el('p', { class: 'muted', text: t('preview_failed', { reason: f.reason || '' }) }));
  else if (state.order.state === 'cancelled' && state.role === 'buyer') fig.append(el('p', { class: 'muted', text: t('err_revoked') }));
  else if (f.kind === 'image') {
    const idx = state.images.length;
    state.images.push({ src: previewUrl, name: f.name });
    const b = el('button', { type: 'button', class: 'thumb-button', 'aria-label': t('viewImage', { name: f.name }) },
      el('img', { src: previewUrl, alt: t('previewAlt', { name: f.name }), loading: 'lazy' }));
    b.addEventListener('click', () => openLightbox(idx, b));
    fig.append(b);
  } else if (f.kind === 'video') fig.append(el('video', { src: previewUrl, controls: true, preload: 'metadata', 'aria-label': t('previewAlt', { name: f.name }) }));
  else if (f.kind === 'audio') fig.append(el('audio', { src: previewUrl, controls: true, preload: 'none', 'aria-label': t('previewAlt', { name: f.name }) }));
  else if (f.kind === 'archive') {
    fig.append(el('a', { href: previewUrl, class: 'button', text: t('openZip') }));
    li.dataset.archive = '1';
  }
  else fig.append(el('a', { href: previewUrl, target: '_blank', rel: 'noopener noreferrer', class: 'button', text: t('openPdf') }));
  li.append(fig);

  const meta = el('div', { class: 'meta' });
  meta.append(el('h4', { class: 'name', text: f.name }));
  const dl = el('dl', { class: 'kv' });
  const row = (k, v, cls) => dl.append(el('div', {}, el('dt', { text: k }), el('dd', { text: v, class: cls })));
  row(t('size'), formatSize(f.size));
  row(t('type'), f.type);
  if (f.sha256) row(t('sha256'), f.sha256, 'hash');
  else if (f.commitment) {
    row(t('commitment'), f.commitment, 'hash');
    dl.append(el('p', { class: 'small muted', text: t('commitmentHelp') }));
  }
  meta.append(dl);
  if (state.role === 'seller' || state.role === 'admin') {
    const at = activity.seen.get(f.id), n = activity.downloads.get(f.id) || 0;
    meta.append(el('p', { class: 'small seen', text: at ? t('firstSeen', { date: formatDate(at) }) : t('notSeen') }));
    meta.append(el('p', { class: 'small downloads', text: n === 0 ? t('downloads0') : n === 1 ? t('downloads1') : t('downloads', { n }) }));
  }
  if (!f.purged_at) {
    if (released()) meta.append(el('a', { class: 'button original', href: withToken(`/v1/files/${enc(f.id)}/original`), download: f.name, text: t('original') }));
    else meta.append(el('p', { class: 'locked', text: t('originalLocked') }));
  }
  li.append(meta);
  if (li.dataset.archive && f.preview === 'ready' && !f.purged_at) li.append(manifestTable(f));
  return li;
}

// An archive's manifest as a table, read once per file from the end of
// its preview zip (manifest.js).
function manifestTable(f) {
  const box = el('div', { class: 'manifest' });
  const draw = () => {
    const m = state.manifests.get(f.id);
    if (!m) { box.replaceChildren(el('p', { class: 'small muted', text: t('manifestLoading') })); return; }
    if (m.error) { box.replaceChildren(el('p', { class: 'small muted', text: t('manifestError') })); return; }
    const head = el('tr', {}, ...['mState', 'mSize', 'mType', 'mName', 'mNote'].map((k) => el('th', { scope: 'col', text: t(k) })));
    const rows = m.rows.slice(0, 2000).map(([st, size, , type, name, note]) => el('tr', { 'data-state': st },
      el('td', { text: t('m_' + st) === 'm_' + st ? st : t('m_' + st) }), el('td', { text: size === '-' || Number(size) < 0 ? '' : formatSize(size) }),
      el('td', { text: type === '-' ? '' : type }), el('td', { text: name }), el('td', { text: note === '-' ? '' : note })));
    box.replaceChildren(el('table', {}, el('caption', { text: t('manifestCaption', { n: m.rows.length }) }), el('thead', {}, head), el('tbody', {}, ...rows)));
  };
  if (!state.manifests.has(f.id)) {
    state.manifests.set(f.id, null);
    readManifest(`/v1/files/${enc(f.id)}/preview`, token)
      .then((rows) => state.manifests.set(f.id, { rows }), () => state.manifests.set(f.id, { error: true }))
      .then(() => { state.sigs.clear(); render(); });
  }
  draw();
  return box;
}

function renderDeliveries() {
  const o = state.order;
  $('deliveries').hidden = false;
  const list = $('delivery-list');
  const ds = [...(o.deliveries || [])].sort((a, b) => b.number - a.number);
  $('no-deliveries').hidden = ds.length > 0;
  state.images = [];
  const activity = buyerActivity();
  const frag = document.createDocumentFragment();
  for (const d of ds) {
    const art = el('article', { class: 'delivery', 'data-number': d.number, 'data-state': d.state, 'aria-labelledby': 'd-h-' + d.number });
    art.append(el('h3', { id: 'd-h-' + d.number, text: t('deliveryH', { n: d.number }) }));
    art.append(el('p', { class: 'small muted' , text: `${t('deliveredOn', { date: formatDate(d.created_at) })} · ${t('dstate_' + d.state)}` }));
    if (d.message) art.append(el('blockquote', { class: 'message', text: d.message }));
    if (released()) art.append(el('a', { class: 'button zip', href: withToken(`/v1/orders/${enc(o.id)}/deliveries/${d.number}/archive`), download: `${o.id}-${d.number}.zip`, text: t('zip') }));
    else art.append(el('p', { class: 'locked', text: t('zipLocked') + ' — ' + t('originalLocked').replace(/^[^:]*:\s*/, '') }));
    const ul = el('ul', { class: 'files' });
    for (const f of d.files || []) ul.append(fileCard(f, activity));
    art.append(ul);
    frag.append(art);
  }
  // Replaced only when something changed, so images are not refetched
  // on every poll.
  const sig = JSON.stringify([o, currentLanguage(), [...activity.seen], [...activity.downloads]]);
  if (state.sigs.get('d') !== sig) {
    const focused = document.activeElement && document.activeElement.closest('#delivery-list') ? document.activeElement.getAttribute('href') : null;
    list.replaceChildren(frag);
    state.sigs.set('d', sig);
    if (focused) list.querySelector(`[href="${CSS.escape(focused)}"]`)?.focus();
  }
}

function renderHistory() {
  $('history').hidden = false;
  const ol = $('timeline');
  const items = [...state.audit].reverse().map((e) => {
    const key = 'act_' + e.action.replace(/\./g, '_');
    const label = t(key) === key ? e.action : t(key);
    let name = '';
    try { const d = JSON.parse(e.detail); name = d.name || (d.number ? t('deliveryH', { n: d.number }) : ''); } catch { /* kept short */ }
    return el('li', {}, el('time', { datetime: e.at, text: formatDate(e.at) }), el('span', { text: ` ${label}${name ? ' — ' + name : ''}` }));
  });
  ol.replaceChildren(...items.slice(0, 200));
}

async function loadAudit() {
  const all = [];
  let after = 0;
  for (let i = 0; i < 20; i++) {
    const page = await api(`/v1/orders/${enc(orderId)}/audit?after=${after}&limit=5000`);
    all.push(...(page.entries || page.audit || []));
    if (!page.next) break;
    after = page.next;
  }
  state.audit = all;
}

function busy() {
  return (state.order.deliveries || []).some((d) => d.state === 'processing' || (d.files || []).some((f) => f.preview === 'processing'));
}

export async function refresh() {
  clearTimeout(state.timer);
  const wasBusy = state.order && busy();
  try {
    const o = await api(`/v1/orders/${enc(orderId)}`);
    // The audit (timeline, the buyer's views and downloads) is read again
    // only when the order changed: polling reads one small document.
    const sig = JSON.stringify(o);
    if (sig !== state.orderSig) {
      await loadAudit();
      state.orderSig = sig;
    }
    state.order = o;
    $('alert').hidden = true;
  } catch (e) {
    showError(e.code);
    if (e.code === 'network' || e.code === 'internal' || e.code === 'rate_limited') state.timer = setTimeout(refresh, 5000);
    return;
  }
  render();
  if (busy()) state.timer = setTimeout(refresh, 2000);
  else if (wasBusy) announce(t('updated'));
}

function render() {
  if (!state.order) return;
  renderSummary();
  renderDeliveries();
  renderHistory();
}

// ---- lightbox: arrows move, Escape closes (the dialog's own cancel) ----
function openLightbox(i, opener) {
  state.lbOpener = opener;
  showImage(i);
  $('lightbox').showModal();
  $('lb-close').focus();
}
function showImage(i) {
  const n = state.images.length;
  if (!n) return;
  state.lbIndex = (i + n) % n;
  const im = state.images[state.lbIndex];
  $('lb-img').src = im.src;
  $('lb-img').alt = t('previewAlt', { name: im.name });
  $('lb-caption').textContent = `${im.name} (${state.lbIndex + 1}/${n})`;
}
function setupLightbox() {
  const lb = $('lightbox');
  $('lb-prev').addEventListener('click', () => showImage(state.lbIndex - 1));
  $('lb-next').addEventListener('click', () => showImage(state.lbIndex + 1));
  $('lb-close').addEventListener('click', () => lb.close());
  lb.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowLeft') { e.preventDefault(); showImage(state.lbIndex - 1); }
    if (e.key === 'ArrowRight') { e.preventDefault(); showImage(state.lbIndex + 1); }
  });
  lb.addEventListener('close', () => state.lbOpener?.focus());
}

function setupLanguage() {
  setLanguage(pickLanguage());
  const b = $('lang');
  const label = () => { b.textContent = t('langButton'); b.lang = currentLanguage() === 'fr' ? 'en' : 'fr'; };
  label();
  b.addEventListener('click', () => {
    const next = currentLanguage() === 'fr' ? 'en' : 'fr';
    localStorage.setItem('filigrane:lang', next);
    setLanguage(next);
    label();
    state.sigs.clear();
    render();
    document.dispatchEvent(new Event('filigrane:language'));
  });
}

async function main() {
  setupLanguage();
  setupLightbox();
  if (!token) { showError('unauthorized'); $('alert').textContent = t('noToken'); return; }
  state.role = claims(token).role || 'buyer';
  announce(t('loading'));
  await refresh();
  if (state.order) announce('');
  if (state.role === 'seller' && state.order && (state.order.state === 'open' || state.order.state === 'disputed'))
    startSeller({ orderId, token, api, refresh, showError, announce });
}
main();
