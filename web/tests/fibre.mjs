// An engineer on the map page (engineers' style) traces the fibre network: the path between
// two nodes, then what a cut leaves dark, both drawn over the map; at a desk size and on a
// phone. Prints JSON for tests/web.rs; screenshots go to IMG_DIR.
//   TOKEN=… node web/tests/fibre.mjs BASE_URL IMG_DIR FROM TO SPAN
import { launch, redrawn, waitIdle, watchedPage } from './chromium.mjs';

const [base, img, from, to, span] = process.argv.slice(2);
const token = process.env.TOKEN;
const browser = await launch();
const out = { errors: [], outside: [] };

const drawn = (page) => page.evaluate(() => {
  const map = window.citytwin.map;
  const fs = map.getLayer('trace-spans') ? map.queryRenderedFeatures({ layers: ['trace-spans', 'trace-nodes'] }) : [];
  const by = {};
  for (const f of fs) {
    const k = `${f.properties.kind}/${f.properties.role}`;
    by[k] = by[k] || new Set();
    by[k].add(f.properties.id);
  }
  return Object.fromEntries(Object.entries(by).map(([k, v]) => [k, v.size]));
});

async function open(page) {
  await page.evaluateOnNewDocument((t) => sessionStorage.setItem('citytwin-token', t), token);
  await page.goto(`${base}/?style=engineers`, { waitUntil: 'load' });
  await waitIdle(page);
}

try {
  const page = await watchedPage(browser, base, out);
  await page.setViewport({ width: 1280, height: 800 });
  await open(page);
  out.form_visible = await page.$eval('#trace', (f) => !f.hidden && f.getBoundingClientRect().height > 0);
  await page.type('#trace-from', from);
  await page.type('#trace-to', to);
  await page.click('#trace-path');
  await page.waitForFunction(() => window.citytwin.trace && window.citytwin.trace.features.length > 0, { timeout: 30000 });
  await redrawn(page);
  out.path = { drawn: await drawn(page), features: await page.evaluate(() => window.citytwin.trace.features.length), text: await page.$eval('#trace-result', (e) => e.textContent) };
  await page.type('#trace-span', span);
  await page.click('#trace-cut');
  await page.waitForFunction(() => /goes dark/.test(document.getElementById('trace-result').textContent), { timeout: 30000 });
  await redrawn(page);
  out.cut = { drawn: await drawn(page), text: await page.$eval('#trace-result', (e) => e.textContent) };
  await page.screenshot({ path: `${img}/fibre-trace-desk.png` });

  // A phone: the trace form fits on the screen.
  const phone = await watchedPage(browser, base, out);
  await phone.setViewport({ width: 360, height: 740, isMobile: true, hasTouch: true });
  await open(phone);
  await phone.type('#trace-from', from);
  await phone.type('#trace-to', to);
  await phone.click('#trace-path');
  await phone.waitForFunction(() => window.citytwin.trace && window.citytwin.trace.features.length > 0, { timeout: 30000 });
  await redrawn(phone);
  out.phone = await phone.evaluate(() => {
    const r = document.getElementById('trace').getBoundingClientRect();
    return { left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: window.innerWidth, height: window.innerHeight, scroll_width: document.documentElement.scrollWidth };
  });
  out.phone.drawn = await drawn(phone);
  await phone.screenshot({ path: `${img}/fibre-trace-phone.png` });
} catch (e) {
  out.failure = String(e && e.stack || e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
