// An archive's preview is a zip of stamped entries plus MANIFEST.txt, the
// list of every entry of the original archive (tab-separated, written
// last, deflated). Only the end of the preview zip is fetched (a Range
// request: the end-of-central-directory record, the directory, and the
// manifest just before it), never the whole zip and never an original.
const TAIL = 256 * 1024;

async function range(url, token, from, to) {
  const r = await fetch(url, { headers: { Authorization: 'Bearer ' + token, Range: `bytes=${from === null ? '-' + to : from + '-' + to}` }, cache: 'no-store' });
  if (r.status !== 206 && r.status !== 200) throw new Error('http ' + r.status);
  const total = Number((r.headers.get('Content-Range') || '').split('/')[1]) || 0;
  return { buf: new Uint8Array(await r.arrayBuffer()), total};
}

export async function readManifest(url, token) {
  let { buf, total } = await range(url, token, null, TAIL);
  let base = Math.max(0, total - buf.length);
  const dv = () => new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let eocd = -1;
  for (let i = buf.length - 22; i >= 0; i--) if (dv().getUint32(i, true) === 0x06054b50) { eocd = i; break; }
  if (eocd < 0) throw new Error('no end of central directory');
  const cdSize = dv().getUint32(eocd + 12, true), cdOff = dv().getUint32(eocd + 16, true);
  let p = cdOff - base, entry = null;
  while (p >= 0 && p < eocd && dv().getUint32(p, true) === 0x02014b50) {
    const method = dv().getUint16(p + 10, true), csize = dv().getUint32(p + 20, true);
    const nlen = dv().getUint16(p + 28, true), xlen = dv().getUint16(p + 30, true), clen = dv().getUint16(p + 32, true);
    const off = dv().getUint32(p + 42, true);
    const name = new TextDecoder().decode(buf.subarray(p + 46, p + 46 + nlen));
    if (name === 'MANIFEST.txt') entry = { method, csize, off };
    p += 46 + nlen + xlen + clen;
  }
  if (!entry || cdSize === 0xffffffff) throw new Error('no manifest');
  if (entry.off < base) {
    // A long manifest: fetch from its local header to the directory.
    ({ buf } = await range(url, token, entry.off, cdOff - 1));
    base = entry.off;
  }
  const lp = entry.off - base;
  const nlen = dv().getUint16(lp + 26, true), xlen = dv().getUint16(lp + 28, true);
  const data = buf.subarray(lp + 30 + nlen + xlen, lp + 30 + nlen + xlen + entry.csize);
  let text;
  if (entry.method === 0) text = new TextDecoder().decode(data);
  else if (entry.method === 8) {
    const s = new Blob([data]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
    text = await new Response(s).text();
  } else throw new Error('unknown method');
  return text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split('\t'));
}
