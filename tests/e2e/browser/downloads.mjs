// Downloads in a real browser: Debian's Chromium driven by playwright-core
// (no browser download). Run by tests/e2e/test_browser_downloads.py, which
// starts filigrane and passes the URLs in FILIGRANE_BROWSER_CASE (JSON).
// Prints TAP lines; writes screenshots where the case says.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const c = JSON.parse(process.env.FILIGRANE_BROWSER_CASE);
let failed = 0;
const check = (name, ok, detail) => {
  console.log(`${ok ? 'ok' : 'not ok'} - ${name}`);
  if (!ok) {
    failed++;
    if (detail !== undefined) console.error('  ' + String(detail).slice(0, 2000));
  }
};

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'filigrane-chromium-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  acceptDownloads: true,
  viewport: { width: 1000, height: 700 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = ctx.pages()[0] || await ctx.newPage();
  // Anything the uploaded page's script would do, seen from outside it.
  const hits = [];
  const dialogs = [];
  await ctx.route('**/ran*', (route) => { hits.push(route.request().url()); route.fulfill({ status: 204 }); });
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  const downloads = [];
  page.on('download', (d) => downloads.push(d.suggestedFilename()));

  // 1. The PDF preview opens in Chromium's own viewer.
  const pdf = await page.goto(c.pdf_preview, { waitUntil: 'load' });
  await page.waitForTimeout(2500);
  const frames = page.frames().map((f) => f.url());
  check('the PDF preview is answered 200 as application/pdf',
        pdf && pdf.status() === 200 && pdf.headers()['content-type'] === 'application/pdf',
        pdf && JSON.stringify(pdf.headers()));
  check('the PDF preview opens in the built-in PDF viewer',
        frames.some((u) => u.startsWith('chrome-extension://mhjfbmdgcfjbbpaeojofohoefgiehjai/')),
        frames.join(' '));
  check('the PDF preview is not downloaded instead of shown', downloads.length === 0, downloads);
  await page.screenshot({ path: c.pdf_shot });

  // 2. An image preview shows inline under the sandbox CSP.
  const img = await page.goto(c.image_preview, { waitUntil: 'load' });
  await page.waitForTimeout(500);
  await page.screenshot({ path: c.image_shot });
  check('the image preview is answered 200 as an image',
        img && img.status() === 200 && /^image\//.test(img.headers()['content-type'] || ''));

  // 3. An uploaded page with script, opened by its original's link and
  //    framed: nothing of it runs (no request, no dialog, no navigation).
  for (const [what, url] of [['opened', c.html_original], ['framed', null]]) {
    const before = downloads.length;
    if (url) {
      try { await page.goto(url, { waitUntil: 'load', timeout: 10000 }); } catch (e) { /* a download */ }
    } else {
      await page.goto(c.blank, { waitUntil: 'load' });
      await page.setContent(`<iframe src="${c.html_original}"></iframe>`);
    }
    await page.waitForTimeout(1500);
    const title = await page.title().catch(() => '');
    check(`an uploaded HTML page ${what} as an original runs no script`,
          hits.length === 0 && dialogs.length === 0 && title !== 'RAN' && !page.url().includes('/ran'),
          JSON.stringify({ hits, dialogs, title, url: page.url() }));
    if (url)
      check(`an uploaded HTML page ${what} as an original is saved, not rendered`,
            downloads.length === before + 1, downloads);
  }

  // 4. Headers on every download route, as the browser receives them.
  for (const [what, url, csp] of c.routes) {
    const r = await ctx.request.get(url);
    const h = r.headers();
    check(`${what}: nosniff and ${csp ? 'a sandbox CSP' : 'no CSP (a PDF)'}`,
          r.status() === 200 && h['x-content-type-options'] === 'nosniff' &&
          (csp ? h['content-security-policy'] === 'sandbox' : h['content-security-policy'] === undefined),
          `${r.status()} ${JSON.stringify(h)}`);
  }
} finally {
  await ctx.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
