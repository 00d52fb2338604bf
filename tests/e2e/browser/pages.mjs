// The order page in a real browser: Debian's Chromium driven by
// playwright-core. Run by tests/e2e/test_pages.py, which starts filigrane,
// makes the files and passes everything in FILIGRANE_PAGES_CASE
// (a JSON file's path); FILIGRANE_PAGES_PHASE is "before" (seller uploads, buyer before release)
// or "after" (buyer after the acceptance webhook). Prints TAP lines and
// writes a screenshot of each step into c.shots.
import { chromium } from 'playwright-core';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const c = JSON.parse(fs.readFileSync(process.env.FILIGRANE_PAGES_CASE, 'utf8'));
const phase = process.env.FILIGRANE_PAGES_PHASE;
let failed = 0;
const check = (name, ok, detail) => {
  console.log(`${ok ? 'ok' : 'not ok'} - ${name}`);
  if (!ok) {
    failed++;
    if (detail !== undefined) console.error('  ' + String(detail).slice(0, 2000));
  }
  return ok;
};
const shot = async (page, name) => page.screenshot({ path: path.join(c.shots, `${phase}-${name}.png`), fullPage: true });
const pageUrl = (tok, order = c.order) => `${c.base}/o/${encodeURIComponent(order)}#t=${tok}`;
const sha256 = (file) => new Promise((res, rej) => {
  const h = crypto.createHash('sha256');
  fs.createReadStream(file).on('data', (d) => h.update(d)).on('end', () => res(h.digest('hex'))).on('error', rej);
});

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'filigrane-pages-'));
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
// Every request any page makes, and every CSP complaint.
const foreign = [], cspErrors = [];
async function context(opts = {}) {
  const ctx = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 800 }, locale: 'en-GB', ...opts });
  // Network requests only: the PDF viewer's own chrome:// and
  // chrome-extension:// resources come from the browser itself.
  ctx.on('request', (r) => { if (/^(https?|wss?|ftp):/.test(r.url()) && !r.url().startsWith(c.base + '/')) foreign.push(r.url()); });
  ctx.on('page', (p) => p.on('console', (m) => { if (/Content Security Policy|Refused to/.test(m.text())) cspErrors.push(m.text()); }));
  return ctx;
}
async function open(ctx, tok, order) {
  const page = await ctx.newPage();
  page.on('console', (m) => { if (/Content Security Policy|Refused to/.test(m.text())) cspErrors.push(m.text()); });
  const resp = await page.goto(pageUrl(tok, order), { waitUntil: 'load' });
  await page.waitForSelector('#summary:not([hidden]), #alert:not([hidden])', { timeout: 20000 });
  return { page, resp };
}
const previews = (page) => page.$$eval('li.file', (xs) => xs.map((x) => x.dataset.preview));

try {
  if (phase === 'before') {
    // ---- the seller ----
    const sctx = await context();
    const { page: seller, resp } = await open(sctx, c.seller);
    const h = resp.headers();
    check('the page is sent with a strict CSP (no inline script, nothing from elsewhere), nosniff and no referrer',
          /script-src 'self'/.test(h['content-security-policy'] || '') && !/unsafe/.test(h['content-security-policy']) &&
          /default-src 'none'/.test(h['content-security-policy']) && h['x-content-type-options'] === 'nosniff' &&
          h['referrer-policy'] === 'no-referrer', JSON.stringify(h));
    check('the token leaves the address bar (fragment removed) and is kept in sessionStorage',
          !seller.url().includes('#') && (await seller.evaluate((o) => sessionStorage.getItem('filigrane:t:' + o), c.order)) === c.seller,
          seller.url());
    check("the seller sees the upload form", await seller.isVisible('#drop') && await seller.isVisible('#message'));
    await shot(seller, '1-seller-empty');

    if (c.tus) {
      // The cut: while it is on, every PATCH fails as a reset connection.
      let cut = false;
      const patches = [];
      let creations = 0;
      await seller.route('**/v1/**uploads**', async (route) => {
        const req = route.request();
        if (req.method() === 'POST') creations++;
        if (req.method() === 'PATCH') {
          patches.push({ url: req.url(), offset: Number(req.headers()['upload-offset']), cut });
          if (cut) return route.abort('connectionreset');
        }
        return route.continue();
      });
      // Two images dropped on the drop zone, the big file by the picker.
      const dt = await seller.evaluateHandle(async (files) => {
        const d = new DataTransfer();
        for (const f of files) {
          const bytes = Uint8Array.from(atob(f.b64), (ch) => ch.charCodeAt(0));
          d.items.add(new File([bytes], f.name, { type: f.type }));
        }
        return d;
      }, c.dropped.map((f) => ({ ...f, b64: fs.readFileSync(f.path).toString('base64') })));
      await seller.dispatchEvent('#drop', 'drop', { dataTransfer: dt });
      await seller.setInputFiles('#picker', c.big.path);
      check('three files are queued, each with its progress bar', (await seller.$$('#queue li progress')).length === 3);
      // Every control has a name a screen reader can say, and the focus
      // ring is visible.
      const unnamed = await seller.evaluate(() => [...document.querySelectorAll('input, textarea, button, progress, a')]
        .filter((e) => e.offsetParent !== null || e.type === 'file')
        .filter((e) => !((e.labels && e.labels.length) || e.getAttribute('aria-label') || e.textContent.trim()))
        .map((e) => e.outerHTML.slice(0, 80)));
      check('every control on the seller page has a label or an accessible name', unnamed.length === 0, unnamed.join(' '));
      await seller.focus('#message');
      const ring = await seller.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
      check('the focused control shows a visible focus ring', ring === 'solid', ring);
      // Wait for the big file (the third) to be between 25 and 60 %.
      await seller.waitForFunction(() => {
        const b = document.querySelectorAll('#queue li progress')[2];
        return b && b.value > 0.25;
      }, null, { timeout: 180000, polling: 50 });
      cut = true;
      const cutAt = Date.now();
      const shown = await seller.waitForFunction(() => /retrying/.test(document.querySelectorAll('#queue li .info')[2].textContent),
                                                 null, { timeout: 30000, polling: 50 }).then(() => true, () => false);
      await shot(seller, '2-seller-connection-cut');
      check('the cut is shown to the seller (retrying)', shown);
      const during = await seller.evaluate(() => document.querySelectorAll('#queue li progress')[2].value);
      await seller.waitForTimeout(Math.max(0, 2500 - (Date.now() - cutAt)));
      cut = false;
      // Pause and resume by hand as well, once the connection is back.
      await seller.waitForFunction((v) => document.querySelectorAll('#queue li progress')[2].value > v + 0.02, during, { timeout: 60000 });
      await seller.click('#pause');
      const pausedAt = await seller.evaluate(() => document.querySelectorAll('#queue li progress')[2].value);
      await seller.waitForTimeout(1500);
      const stillPaused = await seller.evaluate(() => document.querySelectorAll('#queue li progress')[2].value);
      await shot(seller, '3-seller-paused');
      check('pause stops the upload', stillPaused - pausedAt < 0.1 && await seller.isVisible('#resume'), `${pausedAt} -> ${stillPaused}`);
      await seller.click('#resume');
      await seller.waitForFunction(() => !document.querySelector('#submit').disabled, null, { timeout: 300000 });
      const bigPatches = patches.filter((p) => p.url === patches[patches.length - 1].url);
      const afterCut = bigPatches.filter((p, i) => i > 0 && bigPatches[i - 1].cut && !p.cut);
      check('after the cut the big file resumed from its offset, not from zero',
            afterCut.length > 0 && afterCut.every((p) => p.offset > 0) && creations === 3,
            JSON.stringify({ creations, afterCut, n: bigPatches.length }));
      await shot(seller, '4-seller-uploaded');
      await seller.fill('#message', c.message);
      await seller.click('#submit');
      await seller.waitForSelector('article.delivery', { timeout: 60000 });
      await seller.evaluate(() => { window.__filigraneMarker = 1; });
      const first = await previews(seller);
      await shot(seller, '5-seller-submitted');
      const leftKeys = await seller.evaluate((o) => Object.keys(localStorage).filter((k) => k.includes(`filigrane/${o}/`)), c.order);
      check('once delivered, no upload of the order is left in localStorage to resume', leftKeys.length === 0, leftKeys.join(' '));
      await seller.waitForFunction(() => [...document.querySelectorAll('li.file')].every((x) => x.dataset.preview !== 'processing'),
                                   null, { timeout: 180000 });
      const last = await previews(seller);
      check('after submitting, the seller sees the previews turn from processing to ready without a reload',
            first.includes('processing') && last.filter((x) => x === 'ready').length === 2 &&
            (await seller.evaluate(() => window.__filigraneMarker)) === 1, JSON.stringify({ first, last }));
      const doc = await (await sctx.request.get(`${c.base}/v1/orders/${c.order}`, { headers: { Authorization: 'Bearer ' + c.seller } })).json();
      const big = doc.deliveries[0].files.find((f) => f.name === path.basename(c.big.path));
      check('the big file arrived whole, despite the cut: same size and sha256',
            big && big.size === c.big.size && big.sha256 === c.big.sha256, JSON.stringify(big));
      check('the delivery carries the message', doc.deliveries[0].message === c.message);
      await shot(seller, '6-seller-ready');
    }
    await sctx.close();

    if (c.tus) {
      // Closing the tab in the middle of an upload, then coming back: the
      // page lists the unfinished upload, and the same file picked again
      // continues from the server's offset (tus-js-client's fingerprint in
      // localStorage), without creating a new upload.
      const rctx = await context();
      const { page: a } = await open(rctx, c.resume.seller, c.resume.order);
      const seen = [];
      rctx.on('request', (r) => { if (/uploads/.test(r.url())) seen.push({ m: r.method(), off: r.headers()['upload-offset'] }); });
      // The first chunk goes through; the second never leaves the tab, so
      // the tab closes with the upload surely unfinished, however fast the
      // machine.
      let patches = 0;
      await a.route(/\/v1\/uploads\//, (route) => {
        if (route.request().method() === 'PATCH' && ++patches > 1)
          return undefined;
        return route.continue();
      });
      const firstChunk = a.waitForResponse((r) => r.request().method() === 'PATCH' && r.status() === 204,
                                           { timeout: 120000 });
      await a.setInputFiles('#picker', c.resume.path);
      await firstChunk;
      await a.waitForFunction(() => { const b = document.querySelector('#queue li progress'); return b && b.value > 0.2; }, null, { timeout: 120000, polling: 20 });
      await a.close();
      const created = seen.filter((x) => x.m === 'POST').length;
      const { page: b } = await open(rctx, c.resume.seller, c.resume.order);
      await b.waitForSelector('#resumable li', { timeout: 10000 }).catch(() => {});
      const hint = (await b.$$eval('#resumable li', (xs) => xs.map((x) => x.textContent))).join(' ');
      await shot(b, '6b-seller-reopened');
      check('after closing and reopening the page, the unfinished upload is listed with a hint to resume it',
            /Unfinished upload: draft\.bin/.test(hint), hint);
      const before = seen.length;
      await b.setInputFiles('#picker', c.resume.path);
      await b.waitForFunction(() => !document.querySelector('#submit').disabled, null, { timeout: 120000 });
      const again = seen.slice(before);
      const firstPatch = again.find((x) => x.m === 'PATCH');
      check('the same file picked again resumes from the offset the server kept, with no new upload',
            created === 1 && !again.some((x) => x.m === 'POST') && firstPatch && Number(firstPatch.off) > 0,
            JSON.stringify({ created, again }));
      await b.click('#submit');
      await b.waitForSelector('article.delivery', { timeout: 60000 });
      const doc = await (await rctx.request.get(`${c.base}/v1/orders/${c.resume.order}`, { headers: { Authorization: 'Bearer ' + c.resume.seller } })).json();
      const f = doc.deliveries[0].files[0];
      check('the resumed file arrived whole (same sha256)', f && f.sha256 === c.resume.sha256 && f.size === c.resume.size, JSON.stringify(f));
      await rctx.close();
    }

    // ---- the buyer, before release ----
    const bctx = await context();
    const { page: buyer } = await open(bctx, c.buyer);
    await buyer.evaluate(() => { window.__filigraneMarker = 1; });
    const seen = new Set(await previews(buyer));
    await buyer.waitForFunction(() => document.querySelectorAll('li.file').length > 0 &&
      [...document.querySelectorAll('li.file')].every((x) => x.dataset.preview !== 'processing'), null, { timeout: 180000, polling: 200 });
    await buyer.waitForSelector('li.file[data-preview="ready"] img');
    await buyer.waitForFunction(() => [...document.querySelectorAll('li.file img')].every((i) => i.complete && i.naturalWidth > 0));
    console.log(`# the buyer's page saw previews: ${[...seen].join(', ')} at first`);
    check("the buyer's previews are ready (polled without a reload) and shown as images",
          (await buyer.evaluate(() => window.__filigraneMarker)) === 1 &&
          (await buyer.$$('li.file[data-preview="ready"] img')).length === 2);
    const hrefs = await buyer.$$eval('a', (as) => as.map((a) => a.getAttribute('href') || ''));
    check('before release the page offers no link to an original or a zip',
          !hrefs.some((x) => /\/original|\/archive/.test(x)), hrefs.join(' '));
    const locked = await buyer.$$eval('.locked', (xs) => xs.map((x) => x.textContent));
    check('every original and the zip are shown locked, with the reason',
          locked.length === 4 && locked.every((x) => /not released yet|must be accepted/.test(x)), locked.join(' | '));
    check('the lock is explained at the top', /must be accepted/.test(await buyer.textContent('#lock-note')));
    check('fingerprints before release are commitments, not sha256',
          !(await buyer.content()).includes(c.big.sha256) && (await buyer.$$('text=Commitment')).length === 3);
    await shot(buyer, '7-buyer-locked');
    // The lightbox: open, arrows move, Escape closes and gives focus back.
    const thumb = buyer.locator('li.file .thumb-button').first();
    await thumb.focus();
    await buyer.keyboard.press('Enter');
    await buyer.waitForSelector('#lightbox[open]');
    const cap1 = await buyer.textContent('#lb-caption');
    await buyer.keyboard.press('ArrowRight');
    const cap2 = await buyer.textContent('#lb-caption');
    await shot(buyer, '8-buyer-lightbox');
    await buyer.keyboard.press('Escape');
    await buyer.waitForSelector('#lightbox:not([open])', { state: 'attached' });
    check('the lightbox opens by keyboard, ArrowRight shows the next image, Escape closes it and focus returns',
          cap1 !== cap2 && /\(2\/2\)/.test(cap2) && await thumb.evaluate((b) => b === document.activeElement), `${cap1} / ${cap2}`);
    check('every image has alternative text', await buyer.$$eval('img', (xs) => xs.every((i) => i.alt && i.alt.length > 0)));
    check('the history timeline lists the delivery', (await buyer.$$('#timeline li')).length > 3 &&
          /Delivery sent|File received/.test(await buyer.textContent('#timeline')));
    await bctx.close();

    // ---- an archive's manifest, as a table ----
    const actx = await context();
    const ranges = [];
    const urls = [], dialogs = [];
    actx.on('request', (r) => { urls.push(r.url()); if (/\/preview/.test(r.url())) ranges.push(r.headers().range || 'none'); });
    actx.on('page', (p) => p.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); }));
    const { page: arch } = await open(actx, c.archive.buyer, c.archive.order);
    await arch.waitForSelector('.manifest table', { timeout: 20000 }).catch(() => {});
    const rows = await arch.$$eval('.manifest tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    check("an archive's manifest is shown as a table: the previewed image and the withheld text file",
          rows.length === 2 && rows.some((r) => r[0] === 'previewed' && r[3] === 'art/cover.png') &&
          rows.some((r) => r[0] === 'listed only' && r[3] === 'notes.txt' && /not an image/.test(r[4])), JSON.stringify(rows));
    check('the manifest is read from the end of the preview zip (a Range request), not the whole zip',
          ranges.length > 0 && ranges.every((x) => /^bytes=/.test(x)), ranges.join(' '));
    await shot(arch, '8b-buyer-archive-manifest');
    // A document's preview is a PDF: its link opens Chromium's viewer in a
    // tab of its own (the page frames nothing).
    const pdfLink = arch.locator('li.file a[target="_blank"]').first();
    await arch.waitForSelector('li.file a[target="_blank"]', { timeout: 60000 }).catch(() => {});
    if (await pdfLink.count()) {
      const [tab] = await Promise.all([actx.waitForEvent('page'), pdfLink.click()]);
      await tab.waitForLoadState('load').catch(() => {});
      await tab.waitForTimeout(2000);
      const frames = tab.frames().map((f) => f.url());
      check("a document's PDF preview opens in the browser's PDF viewer, in its own tab",
            frames.some((u) => u.startsWith('chrome-extension://mhjfbmdgcfjbbpaeojofohoefgiehjai/')) &&
            /\/preview\?token=/.test(tab.url()), frames.join(' '));
      await tab.screenshot({ path: path.join(c.shots, 'before-8c-pdf-preview.png') });
      await tab.close();
    } else check("a document's PDF preview has a link", false, await arch.content());
    // The same delivery came from a hostile seller: markup in its message
    // and in a file name is shown as text and runs nothing.
    const shown = await arch.evaluate(() => ({
      title: document.title, msg: document.querySelector('.message')?.textContent,
      names: [...document.querySelectorAll('li.file h4')].map((h) => h.textContent),
      injected: document.querySelectorAll('.message img, .message script, li.file h4 svg').length,
    }));
    check("a seller's markup in a message or a file name is shown as text and runs nothing",
          shown.title !== 'PWNED' && shown.msg === c.archive.message && shown.names.includes(c.archive.name) &&
          shown.injected === 0 && !urls.some((x) => /xss/.test(x)) && dialogs.length === 0,
          JSON.stringify({ shown, dialogs }));
    await actx.close();

    // ---- an expired link: a friendly message, not a stack trace ----
    const ectx = await context();
    const { page: old } = await open(ectx, c.expired);
    check('an expired link says so in plain words', /expired/.test(await old.textContent('#alert')), await old.textContent('#alert'));
    await shot(old, '9-expired-link');
    await ectx.close();
  } else {
    // ---- the buyer, after the acceptance webhook ----
    const bctx = await context();
    const { page: buyer } = await open(bctx, c.buyer);
    await buyer.waitForSelector('a.original');
    check('after release the lock note says released', /Released on/.test(await buyer.textContent('#lock-note')));
    await shot(buyer, '1-buyer-released');
    const link = buyer.locator(`li.file:has(h4:text-is("${c.download.name}")) a.original`);
    check('the original is a plain ?token= link', /\/original\?token=/.test(await link.getAttribute('href')));
    const [dl] = await Promise.all([buyer.waitForEvent('download', { timeout: 60000 }), link.click()]);
    const got = await dl.path();
    check('the buyer downloads an original through the page, byte for byte',
          got && fs.statSync(got).size === c.download.size && (await sha256(got)) === c.download.sha256, got);
    check('after release the plain sha256 is shown', (await buyer.content()).includes(c.download.sha256));
    // The delivery's zip, through its link too (a download of each file).
    const [zdl] = await Promise.all([buyer.waitForEvent('download', { timeout: 120000 }), buyer.locator('a.zip').first().click()]);
    const zpath = await zdl.path();
    const head = zpath ? fs.readFileSync(zpath).subarray(0, 2).toString() : '';
    check("the buyer downloads the delivery's zip through the page",
          zdl.suggestedFilename().endsWith('.zip') && head === 'PK' && fs.statSync(zpath).size > c.big.size,
          `${zdl.suggestedFilename()} ${zpath && fs.statSync(zpath).size}`);
    await bctx.close();

    // ---- the seller sees the buyer's activity ----
    const sctx = await context();
    const { page: seller } = await open(sctx, c.seller);
    const card = seller.locator(`li.file:has(h4:text-is("${c.download.name}"))`);
    const seenText = await card.locator('.seen').textContent();
    const dlText = await card.locator('.downloads').textContent();
    const bigText = await seller.locator(`li.file:has(h4:text-is("${path.basename(c.big.path)}")) .downloads`).textContent();
    check('the seller sees when the buyer first saw the file and how many times it was downloaded (the zip counts for each file)',
          /First seen by the buyer on/.test(seenText) && /Downloaded 2 times/.test(dlText) && /Downloaded once/.test(bigText),
          `${seenText} | ${dlText} | ${bigText}`);
    await shot(seller, '2-seller-activity');
    await sctx.close();

    // ---- 390 px wide, in French (from the browser's language) ----
    const fctx = await context({ viewport: { width: 390, height: 844 }, locale: 'fr-FR', isMobile: true, hasTouch: true });
    const { page: phone } = await open(fctx, c.buyer);
    await phone.waitForSelector('li.file img');
    const widths = await phone.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
    check('at 390 px wide nothing scrolls sideways', widths[0] <= 390 && widths[0] <= widths[1], widths.join(' '));
    const fr = {
      title: await phone.textContent('#title'), h: await phone.textContent('#deliveries-h'),
      state: await phone.textContent('#order-state'), orig: await phone.locator('a.original').first().textContent(),
      lang: await phone.getAttribute('html', 'lang'), hist: await phone.textContent('#history-h'),
    };
    check('the page is in French for a French browser, with the marketplaces\u2019 words',
          fr.title === 'Votre commande' && fr.h === 'Livraisons' && fr.state === 'validée' &&
          fr.orig === "Télécharger l'original" && fr.lang === 'fr' && fr.hist === 'Historique', JSON.stringify(fr));
    await shot(phone, '3-buyer-390px-fr');
    await phone.click('#lang');
    check('the language switch turns it to English', (await phone.textContent('#title')) === 'Your order' &&
          (await phone.getAttribute('html', 'lang')) === 'en');
    await fctx.close();

    // The seller's page at 390 px, in French.
    const sfctx = await context({ viewport: { width: 390, height: 844 }, locale: 'fr-FR', isMobile: true, hasTouch: true });
    const { page: sphone } = await open(sfctx, c.seller);
    const sw = await sphone.evaluate(() => document.documentElement.scrollWidth);
    check("the seller's page fits 390 px too, in French", sw <= 390 && (await sphone.textContent('#seller-h')) === 'Envoyer une livraison', sw);
    await shot(sphone, '4-seller-390px-fr');
    await sfctx.close();
  }
  check('no request left our origin', foreign.length === 0, foreign.join(' '));
  check('the CSP refused nothing (no inline script or style)', cspErrors.length === 0, cspErrors.join('\n'));
} catch (e) {
  check(`the ${phase} phase ran to its end`, false, e.stack);
} finally {
  await browser.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
