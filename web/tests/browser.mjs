// Drives Debian's Chromium (headless, WebGL in software) through the citytwin map page and
// prints what the map rendered, as JSON. Run by tests/web.rs:
//   TOKEN=… node web/tests/browser.mjs BASE_URL SCREENSHOT_DIR LON LAT ZOOM NUMBER
// With TOKEN (a staff token), it finally signs in and reports what the map shows then.
import { launch, redrawn, waitIdle as idleOf, watchedPage } from './chromium.mjs';

const [base, shots, lon, lat, zoom, number] = process.argv.slice(2);
const browser = await launch();
const out = { errors: [], outside: [], styles: {} };
try {
  const page = await watchedPage(browser, base, out);
  await page.setViewport({ width: 1024, height: 768 });
  const waitIdle = () => idleOf(page);
  const rendered = () => page.evaluate(() => {
    const map = window.citytwin.map;
    const byLayer = {};
    for (const f of map.queryRenderedFeatures()) {
      if (f.source !== 'citytwin') continue;
      const l = byLayer[f.sourceLayer] ??= { ids: [], clusters: 0, labels: 0 };
      if (f.properties.cluster) l.clusters += 1;
      else if (f.layer.type === 'symbol') l.labels += 1;
      else if (!l.ids.includes(f.id)) l.ids.push(f.id);
    }
    const b = map.getBounds();
    return { byLayer, bounds: [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()], zoom: map.getZoom() };
  });

  await page.goto(`${base}/?style=dispatcher#${zoom}/${lat}/${lon}`, { waitUntil: 'load' });
  await waitIdle();
  out.styles.dispatcher = await rendered();
  out.publicSource = await page.evaluate(() => window.citytwin.map.getStyle().sources.citytwin.url);
  await page.screenshot({ path: `${shots}/map-dispatcher.png` });

  // Click a drawn pole: its details pop up.
  const target = await page.evaluate(() => {
    const map = window.citytwin.map;
    // A pole well inside the view with no other marker within 12 px of it (labels may cross it).
    const f = map.queryRenderedFeatures({ layers: ['poles'] }).find((x) => {
      const p = map.project(x.geometry.coordinates);
      if (!(p.x > 50 && p.y > 50 && p.x < 970 && p.y < 700)) return false;
      const near = map.queryRenderedFeatures([[p.x - 12, p.y - 12], [p.x + 12, p.y + 12]])
        .filter((o) => o.source === 'citytwin' && o.layer.type === 'circle');
      return near.every((o) => o.id === x.id);
    });
    if (!f) return null;
    const p = map.project(f.geometry.coordinates);
    return { x: p.x, y: p.y, number: f.properties.number };
  });
  if (target) {
    const box = await page.$eval('#map', (el) => { const r = el.getBoundingClientRect(); return { x: r.left, y: r.top }; });
    await page.mouse.click(box.x + target.x, box.y + target.y);
    await page.waitForSelector('.maplibregl-popup', { timeout: 10000 });
    out.clicked = { number: target.number, popup: await page.$eval('.maplibregl-popup', (el) => el.innerText) };
    await page.evaluate(() => document.querySelectorAll('.maplibregl-popup').forEach((p) => p.remove()));
  }

  for (const style of ['residents', 'engineers']) {
    await page.select('#style', style);
    await waitIdle();
    out.styles[style] = await rendered();
    await page.screenshot({ path: `${shots}/map-${style}.png` });
  }

  // Search by number: the map jumps there and shows the object.
  await page.select('#style', 'dispatcher');
  await waitIdle();
  await page.type('#q', number);
  await page.click('#search button');
  await page.waitForFunction(() => window.citytwin.found, { timeout: 30000 });
  out.found = await page.evaluate(() => window.citytwin.found);
  out.popup = await page.evaluate(() => document.querySelector('.maplibregl-popup')?.innerText ?? null);
  await redrawn(page);
  out.afterSearch = await rendered();
  await page.screenshot({ path: `${shots}/map-search.png` });

  if (process.env.TOKEN) {
    await page.type('#token', process.env.TOKEN);
    await page.evaluate(() => { window.citytwin.idle = false; });
    await page.click('#signin button');
    await page.waitForFunction(() => window.citytwin.signedIn, { timeout: 30000 });
    await waitIdle();
    out.signedIn = {
      source: await page.evaluate(() => window.citytwin.map.getStyle().sources.citytwin.url),
      button: await page.$eval('#signin button', (b) => b.textContent),
      rendered: await rendered(),
    };
    await page.screenshot({ path: `${shots}/map-signed-in.png` });
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
