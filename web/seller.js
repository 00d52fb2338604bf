// The seller's side: resumable uploads with tus-js-client (tus 1.0,
// served from our origin as /web/tus.min.js), one file at a time, then one
// JSON request that turns the finished uploads into a delivery.
// tus-js-client keeps each upload's URL in localStorage under a
// fingerprint of the order and the file, so an upload interrupted by a
// closed tab resumes where it stopped when the same file is chosen again.
import { t, errorText, formatSize, formatDuration } from './i18n.js';

const $ = (id) => document.getElementById(id);
const CHUNK = 16 * 1024 * 1024;

export function startSeller({ orderId, token, api, refresh, showError, announce }) {
  const tus = window.tus;
  $('seller').hidden = false;
  if (!tus || !tus.isSupported) { showError('unsupported'); return; }
  const items = [];
  let running = null, pausedAll = false;
  const prefix = `filigrane/${orderId}/`;

  const fingerprint = (file) => Promise.resolve(prefix + [file.name, file.type, file.size, file.lastModified].join('/'));

  // Uploads left unfinished by an earlier visit to this page.
  async function listResumable() {
    const ul = $('resumable');
    let prev = [];
    try { prev = await tus.defaultOptions.urlStorage.findAllUploads(); } catch { /* storage off */ }
    prev = prev.filter((p) => String(p.urlStorageKey || '').includes(prefix) &&
      !items.some((it) => it.fp && String(p.urlStorageKey).includes(it.fp)));
    ul.replaceChildren(...prev.map((p) => {
      const li = document.createElement('li');
      li.textContent = t('resumeHint', { name: (p.metadata && p.metadata.filename) || '?', size: formatSize(p.size) });
      return li;
    }));
    ul.hidden = prev.length === 0;
  }

  function uploadId(url) { return decodeURIComponent(String(url).split('?')[0].split('/').pop()); }

  function addFiles(list) {
    for (const file of list) {
      if (items.some((it) => it.file.name === file.name && it.file.size === file.size && it.file.lastModified === file.lastModified)) continue;
      const li = document.createElement('li');
      li.className = 'upload';
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = file.name;
      const bar = document.createElement('progress');
      bar.max = 1; bar.value = 0;
      bar.setAttribute('aria-label', file.name);
      const info = document.createElement('span');
      info.className = 'small info';
      info.setAttribute('aria-live', 'off');
      const rm = document.createElement('button');
      rm.type = 'button'; rm.className = 'link';
      rm.textContent = '×';
      rm.setAttribute('aria-label', t('remove', { name: file.name }));
      li.append(name, bar, info, rm);
      $('queue').append(li);
      const it = { file, li, bar, info, state: 'waiting', sent: 0, upload: null, id: null, fp: null, samples: [] };
      rm.addEventListener('click', () => {
        if (it.upload) it.upload.abort(true).catch(() => {});
        items.splice(items.indexOf(it), 1);
        li.remove();
        if (running === it) running = null;
        next(); paint();
      });
      fingerprint(file).then((fp) => { it.fp = fp; listResumable(); });
      items.push(it);
    }
    paint();
    next();
  }

  function next() {
    if (running || pausedAll) return;
    const it = items.find((x) => x.state === 'waiting');
    if (!it) { paint(); return; }
    running = it;
    it.state = 'uploading';
    it.upload = new tus.Upload(it.file, {
      endpoint: `/v1/orders/${encodeURIComponent(orderId)}/uploads`,
      headers: { Authorization: 'Bearer ' + token },
      metadata: { filename: it.file.name, filetype: it.file.type || 'application/octet-stream' },
      chunkSize: CHUNK,
      retryDelays: [0, 1000, 2000, 4000, 8000, 15000, 30000],
      fingerprint,
      storeFingerprintForResuming: true,
      // Kept until the delivery is made: a closed tab before submitting
      // still finds its finished uploads.
      removeFingerprintOnSuccess: false,
      onShouldRetry: (err) => {
        const s = err.originalResponse ? err.originalResponse.getStatus() : 0;
        it.retrying = true;
        paint();
        return s === 0 || s === 409 || s === 423 || s === 429 || s >= 500;
      },
      onChunkComplete: () => { it.retrying = false; },
      onProgress: (sent, total) => {
        it.sent = sent;
        it.samples.push([performance.now(), sent]);
        if (it.samples.length > 40) it.samples.shift();
        paint();
      },
      onSuccess: () => {
        it.state = 'done';
        it.sent = it.file.size;
        it.id = uploadId(it.upload.url);
        running = null;
        next(); paint();
      },
      onError: (err) => {
        it.state = 'failed';
        running = null;
        let code = 'network';
        const res = err.originalResponse;
        if (res) {
          try { code = JSON.parse(res.getBody()).error.code; } catch { code = { 401: 'unauthorized', 404: 'gone', 410: 'gone', 413: 'too_large', 429: 'rate_limited' }[res.getStatus()] || 'internal'; }
        }
        it.info.textContent = errorText(code);
        showError(code);
        next(); paint();
      },
    });
    it.upload.findPreviousUploads().then((prev) => {
      if (prev.length) it.upload.resumeFromPreviousUpload(prev[0]);
      if (running === it && !pausedAll) it.upload.start();
    });
  }

  function speedOf(it) {
    const s = it.samples;
    if (s.length < 2) return 0;
    const [t0, b0] = s[0], [t1, b1] = s[s.length - 1];
    return t1 > t0 ? ((b1 - b0) * 1000) / (t1 - t0) : 0;
  }

  function paint() {
    let total = 0, sent = 0;
    for (const it of items) {
      total += it.file.size; sent += it.sent;
      it.bar.value = it.file.size ? it.sent / it.file.size : 1;
      it.li.dataset.state = it.state;
      if (it.state === 'uploading' && it.retrying) it.info.textContent = t('retrying');
      else if (it.state === 'uploading') {
        const v = speedOf(it);
        it.info.textContent = t('speed', { done: formatSize(it.sent), size: formatSize(it.file.size), speed: formatSize(v), eta: formatDuration(v ? (it.file.size - it.sent) / v : NaN) });
      } else if (it.state === 'done') it.info.textContent = t('speedDone', { size: formatSize(it.file.size) });
      else if (it.state !== 'failed') it.info.textContent = t(it.state === 'waiting' ? 'waiting' : it.state);
    }
    $('total').hidden = items.length === 0;
    $('total-bar').value = total ? sent / total : 0;
    const v = running ? speedOf(running) : 0;
    $('total-text').textContent = items.length
      ? (sent >= total ? t('speedDone', { size: formatSize(total) })
        : t('speed', { done: formatSize(sent), size: formatSize(total), speed: formatSize(v), eta: formatDuration(v ? (total - sent) / v : NaN) }))
      : '';
    $('pause').hidden = pausedAll || !items.some((x) => x.state === 'uploading' || x.state === 'waiting');
    $('resume').hidden = !pausedAll && !items.some((x) => x.state === 'failed');
    $('submit').disabled = items.length === 0 || !items.every((x) => x.state === 'done');
  }

  $('pause').addEventListener('click', () => {
    pausedAll = true;
    if (running) { running.upload.abort(false); running.state = 'paused'; }
    for (const it of items) if (it.state === 'waiting') it.state = 'paused';
    running = null;
    paint();
    $('resume').focus();
  });
  $('resume').addEventListener('click', () => {
    pausedAll = false;
    for (const it of items) if (it.state === 'paused' || it.state === 'failed') { it.state = 'waiting'; it.samples = []; it.retrying = false; }
    $('alert').hidden = true;
    paint(); next();
    $('pause').focus();
  });

  const picker = $('picker');
  picker.addEventListener('change', () => { addFiles([...picker.files]); picker.value = ''; });
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer && e.dataTransfer.files) addFiles([...e.dataTransfer.files]);
  });

  $('submit').addEventListener('click', async () => {
    const ids = items.map((x) => x.id);
    const key = 'filigrane:idem:' + ids.join(',');
    let idem = sessionStorage.getItem(key);
    if (!idem) { idem = crypto.randomUUID(); sessionStorage.setItem(key, idem); }
    $('submit').disabled = true;
    announce(t('sending'));
    try {
      const d = await api(`/v1/orders/${encodeURIComponent(orderId)}/deliveries`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': idem },
        body: JSON.stringify({ uploads: ids, message: $('message').value }),
      });
      // Delivered: the uploads are no longer worth resuming.
      for (const it of items) {
        const prev = await it.upload.findPreviousUploads().catch(() => []);
        for (const p of prev) await tus.defaultOptions.urlStorage.removeUpload(p.urlStorageKey).catch(() => {});
        it.li.remove();
      }
      items.length = 0;
      $('message').value = '';
      paint();
      announce(t('sent', { n: d.number }));
      await refresh();
    } catch (e) {
      showError(e.code);
      paint();
    }
  });
  document.addEventListener('filigrane:language', () => { paint(); listResumable(); });
  listResumable();
  paint();
}
