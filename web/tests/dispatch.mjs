// A 103/112 call-taker at a desk (1280×800) opens the dispatch page signed in (#token=…) with
// the caller's area in the link (#near=…), types a misheard pole number key by key and watches
// the candidates; Enter chooses the first one, the card shows its landmarks with bearings, the
// copy button puts the crew phrase on the clipboard and the call is recorded. Also: the
// keyboard (arrows, Escape, Tab through the page and out of the map), English, the "several
// numbers" mode, axe-core, and the same call on a phone (360×740). Prints JSON on stdout;
// screenshots go to IMG_DIR. Run by tests/web.rs (the token in $TOKEN):
//   node web/tests/dispatch.mjs BASE_URL NUMBER MISHEARD NEAR_LAT NEAR_LON IMG_DIR AXE_JS
import { readFile } from 'node:fs/promises';
import { launch, watchedPage } from './chromium.mjs';

const [base, number, misheard, nearLat, nearLon, img, axePath] = process.argv.slice(2);
const token = process.env.TOKEN || '';
const out = { errors: [], outside: [], aborted: [] };
const browser = await launch();

const pageUrl = `${base}/dispatch#token=${encodeURIComponent(token)}&near=${nearLat},${nearLon}`;
const ready = (page) => page.waitForFunction(
  () => window.citytwinDispatch && window.citytwinDispatch.ready && window.citytwinDispatch.map.loaded(),
  { timeout: 90000 },
);
// The answer for what the input holds is shown (or nothing was worth asking).
const settled = (page) => page.waitForFunction(
  () => window.citytwinDispatch.settled === document.getElementById('q').value,
  { timeout: 30000 },
);
const mapIdle = (page) => page.waitForFunction(() => window.citytwinDispatch.map.loaded(), { timeout: 60000 });
const top = (page) => page.evaluate(() => {
  const s = window.citytwinDispatch;
  const a = s.answer;
  const c = a && a.candidates ? a.candidates : [];
  return {
    typed: document.getElementById('q').value,
    first: c[0] ? c[0].number : null,
    rule: c[0] ? c[0].rule : null,
    n: c.length,
    shown: document.querySelectorAll('#candidates [role=option]').length,
    check_digit_ok: a ? a.check_digit_ok : null,
    ambiguous: a ? a.ambiguous : null,
    status: document.getElementById('status').textContent,
  };
});
const card = (page) => page.evaluate(() => {
  const s = window.citytwinDispatch;
  const c = s.chosen;
  const box = document.getElementById('chosen');
  return {
    visible: !box.hidden,
    kind: c ? c.kind || 'object' : null,
    number: c ? c.number : null,
    phrase_uk: c ? c.phrase_uk : null,
    phrase_en: c ? c.phrase_en : null,
    title: document.getElementById('chosen-title').textContent,
    facts: document.getElementById('chosen-facts').textContent,
    phrase: document.getElementById('phrase').textContent,
    landmarks: [...document.querySelectorAll('#landmarks li')].map((li) => ({
      text: li.textContent,
      bearing: li.querySelector('.bearing') ? li.querySelector('.bearing').textContent : null,
      deg: li.querySelector('.bearing') ? Number(li.querySelector('.bearing').dataset.deg) : null,
    })),
    landmark_data: c && c.landmarks ? c.landmarks.map((l) => l.number) : null,
    status: document.getElementById('status').textContent,
    lang: document.documentElement.lang,
    scroll_width: document.documentElement.scrollWidth,
    width: window.innerWidth,
  };
});
const landmarksIn = (page) => page.waitForFunction(
  () => window.citytwinDispatch.chosen && Array.isArray(window.citytwinDispatch.chosen.landmarks),
  { timeout: 30000 },
);
const recordDone = (page) => page.waitForFunction(
  () => window.citytwinDispatch.lastRecord !== null || window.citytwinDispatch.recordError !== null,
  { timeout: 30000 },
);

try {
  // Whether the server keeps a call log yet: 404 is "no such route"; any other answer (405 for
  // a POST-only route) means it is there.
  const probe = await fetch(`${base}/dispatch/calls`, { headers: { Authorization: `Bearer ${token}` } });
  out.calls_route = probe.status;

  await browser.defaultBrowserContext().overridePermissions(base, ['clipboard-read', 'clipboard-write', 'clipboard-sanitized-write']);
  const page = await watchedPage(browser, base, out);
  // A superseded request aborted by the page is by design, not an error.
  page.on('requestfailed', (r) => { if (r.failure()?.errorText === 'net::ERR_ABORTED') out.aborted.push(r.url()); });
  await page.setViewport({ width: 1280, height: 800 });
  await page.goto(pageUrl, { waitUntil: 'load' });
  await ready(page);
  out.opened = await page.evaluate(() => ({
    hash: location.hash,
    area: window.citytwinDispatch.area,
    focused: document.activeElement && document.activeElement.id,
    signed_in: window.citytwinDispatch.signedIn,
    lang: document.documentElement.lang,
  }));

  // The misheard number, key by key, as the caller says it.
  await page.focus('#q');
  out.trace = [];
  for (const ch of misheard) {
    await page.keyboard.type(ch, { delay: 60 });
    await settled(page);
    out.trace.push(await top(page));
  }
  out.before_last = out.trace.length >= 2 ? out.trace[out.trace.length - 2] : null;
  out.after_last = out.trace[out.trace.length - 1];

  // Arrows move the selection inside the list, the focus stays in the input.
  out.keys = await page.evaluate(() => ({ start: document.getElementById('q').getAttribute('aria-activedescendant') }));
  await page.keyboard.press('ArrowDown');
  out.keys.down = await page.evaluate(() => ({
    active: document.getElementById('q').getAttribute('aria-activedescendant'),
    selected: [...document.querySelectorAll('#candidates [aria-selected=true]')].map((e) => e.id),
    focused: document.activeElement.id,
  }));
  await page.keyboard.press('ArrowUp');
  out.keys.up = await page.evaluate(() => ({
    active: document.getElementById('q').getAttribute('aria-activedescendant'),
    focused: document.activeElement.id,
  }));

  // Enter chooses; the card, its landmarks and the record.
  await page.keyboard.press('Enter');
  await landmarksIn(page);
  await recordDone(page);
  out.chosen = await card(page);
  out.record = await page.evaluate(() => ({
    last: window.citytwinDispatch.lastRecord,
    error: window.citytwinDispatch.recordError,
    queries: window.citytwinDispatch.queries.length,
  }));

  // The crew phrase to the clipboard.
  await page.click('#copy');
  await page.waitForFunction(() => document.getElementById('copied').textContent.length > 0, { timeout: 10000 });
  out.copy = await page.evaluate(async () => ({
    clipboard: await navigator.clipboard.readText(),
    said: document.getElementById('copied').textContent,
  }));
  await mapIdle(page);
  await page.screenshot({ path: `${img}/dispatch-desk.png` });

  // Accessibility with the candidates and the card shown.
  await page.addScriptTag({ content: await readFile(axePath, 'utf8') });
  out.axe = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help, where: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });

  // Tab from the copy button on: through the area, into the map and out of it again.
  await page.focus('#copy');
  out.tabs = [];
  for (let i = 0; i < 10; i += 1) {
    await page.keyboard.press('Tab');
    out.tabs.push(await page.evaluate(() => {
      const e = document.activeElement;
      if (e.classList.contains('maplibregl-canvas')) return 'map-canvas';
      return e.id || e.getAttribute('aria-label') || e.className || e.tagName;
    }));
  }
  out.focus_ring = await page.evaluate(() => {
    document.getElementById('q').focus();
    const s = getComputedStyle(document.getElementById('q'));
    return `${s.outlineStyle} ${s.outlineWidth}`;
  });

  // English on request: the labels and the phrase.
  await page.click('#lang');
  await page.waitForFunction(() => document.documentElement.lang === 'en');
  out.english = await card(page);
  out.english.label = await page.$eval('#q-label', (e) => e.textContent);
  await page.click('#lang');
  await page.waitForFunction(() => document.documentElement.lang === 'uk');

  // Escape clears the choice.
  await page.focus('#q');
  await page.keyboard.press('Escape');
  out.escaped = await page.evaluate(() => ({ hidden: document.getElementById('chosen').hidden, chosen: window.citytwinDispatch.chosen }));

  // Several numbers: the pole and a landmark next to it locate the caller.
  const other = out.chosen.landmark_data && out.chosen.landmark_data[0];
  if (other) {
    await page.click('#mode-locate');
    await page.click('#q', { clickCount: 3 });
    await page.keyboard.press('Backspace');
    await page.keyboard.type(`${number}, ${other}`, { delay: 20 });
    await settled(page);
    out.locate = await page.evaluate(() => {
      const l = window.citytwinDispatch.located;
      return l ? { consistent: l.consistent, uncertainty_m: l.uncertainty_m, inconsistent: l.inconsistent, options: document.querySelectorAll('#candidates [role=option]').length } : { status: document.getElementById('status').textContent };
    });
    await page.keyboard.press('Enter');
    await landmarksIn(page);
    out.locate.chosen = await card(page);
    await recordDone(page);
  }

  // A district sets the caller's area: offered in the area box's list, Enter takes its centre.
  await page.waitForFunction(() => document.querySelectorAll('#districts option').length > 0, { timeout: 30000 });
  out.districts = await page.$$eval('#districts option', (os) => os.map((o) => o.value));
  await page.focus('#area');
  await page.keyboard.type('Kluuvi', { delay: 20 });
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => window.citytwinDispatch.area && window.citytwinDispatch.area.from === 'text', { timeout: 30000 });
  out.district_area = await page.evaluate(() => ({ ...window.citytwinDispatch.area, text: document.getElementById('area-text').textContent }));

  // A phone: the same call on a small screen (a new page: isMobile reloads).
  const phone = await watchedPage(browser, base, out);
  phone.on('requestfailed', (r) => { if (r.failure()?.errorText === 'net::ERR_ABORTED') out.aborted.push(r.url()); });
  await phone.setViewport({ width: 360, height: 740, isMobile: true, hasTouch: true });
  await phone.goto(pageUrl, { waitUntil: 'load' });
  await ready(phone);
  await phone.focus('#q');
  await phone.keyboard.type(misheard, { delay: 60 });
  await settled(phone);
  out.phone_top = await top(phone);
  await phone.keyboard.press('Enter');
  await landmarksIn(phone);
  await recordDone(phone);
  await mapIdle(phone);
  out.phone = await card(phone);
  out.phone.boxes = await phone.evaluate(() => Object.fromEntries(['q', 'candidates', 'chosen', 'map', 'copy', 'new-call', 'lang'].map((id) => {
    const r = document.getElementById(id).getBoundingClientRect();
    return [id, [r.left, r.top, r.right, r.bottom]];
  })));
  await phone.evaluate(() => window.scrollTo(0, 0));
  await phone.screenshot({ path: `${img}/dispatch-phone.png` });

  // Aborted superseded requests are by design; a missing call log is reported as calls_route.
  const aborted = new Set(out.aborted.map((u) => `request failed: ${u}`));
  out.errors = out.errors.filter((e) => !aborted.has(e)
    && !(out.calls_route === 404 && e === `404 ${base}/dispatch/calls`));
} catch (e) {
  out.errors.push(`script: ${e.stack || e}`);
}
await browser.close();
process.stdout.write(`${JSON.stringify(out)}\n`);
