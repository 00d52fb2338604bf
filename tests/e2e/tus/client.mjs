// The reference tus client, tus-js-client, in Node, against filigrane's API
// alone (tests/e2e/test_tus_client.py starts the service and checks what
// this prints). One scenario per argument; each prints one JSON line of
// what it saw.
//
//   BASE=http://127.0.0.1:PORT ORDER=... TOKEN=... OTHER=... FILE=...
//   node tus/client.mjs resume terminate other checksum | expiry
import fs from 'node:fs';
import { Upload } from 'tus-js-client';

const { BASE, ORDER, TOKEN, OTHER, FILE } = process.env;
const endpoint = `${BASE}/v1/orders/${ORDER}/uploads`;
const data = fs.readFileSync(FILE);
const CHUNK = 256 * 1024;

function options(token, extra) {
  return {
    endpoint,
    chunkSize: CHUNK,
    retryDelays: [],
    storeFingerprintForResuming: false,
    metadata: { filename: 'big.bin' },
    headers: { Authorization: `Bearer ${token}` },
    ...extra,
  };
}

// Starts an upload and aborts it (mid-chunk) once more than `after`
// bytes went out; resolves with its URL and the server's offset then.
function startAndAbort(after) {
  return new Promise((resolve, reject) => {
    let done = false;
    const up = new Upload(data, options(TOKEN, {
      onProgress(sent) {
        if (!done && sent > after && up.url) {
          done = true;
          up.abort(false).then(() => resolve(up.url), reject);
        }
      },
      onError: reject,
      onSuccess: () => reject(new Error('finished before the abort')),
    }));
    up.start();
  });
}

async function head(url, token) {
  const r = await fetch(url, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${token}` } });
  return { status: r.status, offset: r.headers.get('upload-offset') };
}

// A new client (nothing shared with the first but the URL) takes the
// upload up where the server says it is.
function resume(url, token, extra) {
  const seen = { patchOffsets: [], heads: [], url: null, error: null };
  return new Promise((resolve) => {
    const up = new Upload(data, options(token, {
      uploadUrl: url,
      onBeforeRequest(req) {
        if (req.getMethod() === 'PATCH') seen.patchOffsets.push(Number(req.getHeader('Upload-Offset')));
      },
      onAfterResponse(req, res) {
        if (req.getMethod() === 'HEAD') seen.heads.push(res.getStatus());
      },
      onError(err) {
        seen.error = { message: String(err.message).slice(0, 300), status: err.originalResponse ? err.originalResponse.getStatus() : null };
        resolve(seen);
      },
      onSuccess() { seen.url = up.url; resolve(seen); },
      ...extra,
    }));
    up.start();
  });
}

const scenarios = {
  async resume() {
    const url = await startAndAbort(CHUNK * 2 + 1000);
    const before = await head(url, TOKEN);
    const seen = await resume(url, TOKEN);
    const after = await head(url, TOKEN);
    return { url, before, seen, after, length: data.length };
  },
  async terminate() {
    const url = await startAndAbort(CHUNK + 10);
    let terminated = null;
    try {
      await Upload.terminate(url, { headers: { Authorization: `Bearer ${TOKEN}` } });
      terminated = true;
    } catch (e) { terminated = String(e.message).slice(0, 300); }
    return { url, terminated, after: await head(url, TOKEN) };
  },
  async other() {
    const url = await startAndAbort(CHUNK + 10);
    const seen = await resume(url, OTHER, { endpoint: null });
    const create = await new Promise((resolve) => {
      const up = new Upload(data, options(OTHER, {
        onError: (err) => resolve(err.originalResponse ? err.originalResponse.getStatus() : String(err)),
        onSuccess: () => resolve('created'),
      }));
      up.start();
    });
    return { url, seen, create, after: await head(url, TOKEN) };
  },
  async checksum() {
    // tus-js-client sends no Upload-Checksum: a raw PATCH does.
    const url = await startAndAbort(CHUNK + 10);
    const { offset } = await head(url, TOKEN);
    const chunk = data.subarray(Number(offset), Number(offset) + 1000);
    const wrong = Buffer.alloc(32, 7).toString('base64');
    const r = await fetch(url, {
      method: 'PATCH',
      headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': offset, 'Upload-Checksum': `sha256 ${wrong}` },
      body: chunk,
    });
    return { url, status: r.status, offsetBefore: offset, after: await head(url, TOKEN) };
  },
  async expiry() {
    const url = await startAndAbort(CHUNK + 10);
    await new Promise((r) => setTimeout(r, Number(process.env.WAIT_MS || 3000)));
    const direct = await head(url, TOKEN);
    const seen = await resume(url, TOKEN);
    return { url, direct, seen };
  },
};

for (const name of process.argv.slice(2)) {
  try {
    console.log(JSON.stringify({ scenario: name, ...(await scenarios[name]()) }));
  } catch (e) {
    console.log(JSON.stringify({ scenario: name, failed: String(e && e.message).slice(0, 500) }));
  }
}
