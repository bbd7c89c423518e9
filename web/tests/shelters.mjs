// A resident on a phone (360×740) opens the shelter page with the position fixed, asks for the
// nearest shelter, and gets the route and the shelter's card; axe-core checks the page for
// accessibility. Then the server goes away (the test stops it when this script prints
// "OFFLINE?" and answers on stdin) and the page, reloaded, still shows the shelters and the
// instructions from its service worker, and still finds a shelter (by straight line). Prints
// JSON on stdout; screenshots go to IMG_DIR. Run by tests/web.rs:
//   node web/tests/shelters.mjs BASE_URL LAT LON IMG_DIR AXE_JS
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { launch, watchedPage } from './chromium.mjs';

const [base, lat, lon, img, axePath] = process.argv.slice(2);
const browser = await launch();
const out = { errors: [], outside: [] };
const lines = createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once('line', resolve));

const ready = (page) => page.waitForFunction(
  () => window.citytwinShelters && window.citytwinShelters.ready && window.citytwinShelters.map.loaded(),
  { timeout: 90000 },
);
const card = (page) => page.evaluate(() => {
  const s = window.citytwinShelters;
  const c = document.getElementById('card');
  const r = document.getElementById('find').getBoundingClientRect();
  return {
    visible: !c.hidden,
    title: document.getElementById('card-title').textContent,
    route: document.getElementById('card-route').textContent,
    facts: document.getElementById('card-facts').textContent,
    report: (document.querySelector('#card-report a') || {}).href || null,
    status: document.getElementById('status').textContent,
    points: s.route ? s.route.coordinates.length : 0,
    // Every point of the route inside the map's view.
    in_view: s.route ? s.route.coordinates.every((p) => s.map.getBounds().contains(p)) : false,
    view: s.map.getBounds().toArray(),
    route_box: s.route ? s.route.coordinates.reduce((a, p) => [Math.min(a[0], p[0]), Math.min(a[1], p[1]), Math.max(a[2], p[0]), Math.max(a[3], p[1])], [180, 90, -180, -90]) : null,
    routing: s.answer ? s.answer.routing : null,
    shelters: s.list ? s.list.features.length : 0,
    offline: s.offline,
    instructions: document.getElementById('instructions-text').textContent.length,
    lang: document.documentElement.lang,
    find_button: [r.width, r.height],
    scroll_width: document.documentElement.scrollWidth,
    width: window.innerWidth,
  };
});

try {
  const context = browser.defaultBrowserContext();
  await context.overridePermissions(base, ['geolocation']);
  const page = await watchedPage(browser, base, out);
  await page.setViewport({ width: 360, height: 740, isMobile: true, hasTouch: true });
  await page.setGeolocation({ latitude: Number(lat), longitude: Number(lon) });
  await page.goto(`${base}/shelters`, { waitUntil: 'load' });
  await ready(page);
  // The service worker takes the page over and has kept what it needs.
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, { timeout: 60000 });
  await page.waitForFunction(async () => {
    const c = await caches.open('citytwin-shelters-v2');
    return Boolean(await c.match('/shelters/list')) && Boolean(await c.match('/shelters/city.pmtiles'));
  }, { timeout: 60000 });
  await page.click('#find');
  await page.waitForFunction(() => window.citytwinShelters.route !== null, { timeout: 60000 });
  await page.waitForFunction(() => window.citytwinShelters.map.loaded(), { timeout: 60000 });
  out.online = await card(page);
  await page.screenshot({ path: `${img}/shelters-phone.png` });
  // Accessibility: axe-core in the page as it is now (card shown).
  await page.addScriptTag({ content: await readFile(axePath, 'utf8') });
  out.axe = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
  });
  // English on request.
  await page.click('#lang');
  await page.waitForFunction(() => document.documentElement.lang === 'en');
  out.english = await card(page);
  await page.click('#lang');
  // At a desk's size (a new viewport reloads the page): the map beside the controls, the
  // route and card in view.
  await page.setViewport({ width: 1280, height: 800 });
  await ready(page);
  await page.evaluate(() => { window.citytwinShelters.map.resize(); window.citytwinShelters.route = null; });
  await page.click('#find');
  await page.waitForFunction(() => window.citytwinShelters.route !== null, { timeout: 60000 });
  await page.waitForFunction(() => window.citytwinShelters.map.loaded(), { timeout: 60000 });
  out.desk = await card(page);
  await page.screenshot({ path: `${img}/shelters-desk.png` });
  await page.setViewport({ width: 360, height: 740, isMobile: true, hasTouch: true });
  await ready(page);

  // The server goes away.
  process.stdout.write('OFFLINE?\n');
  await nextLine();
  await page.reload({ waitUntil: 'load' });
  await ready(page);
  await page.waitForFunction(() => document.getElementById('instructions-text').textContent.length > 0, { timeout: 30000 });
  await page.click('#find');
  await page.waitForFunction(() => window.citytwinShelters.route !== null, { timeout: 60000 });
  out.offline = await card(page);
  await page.screenshot({ path: `${img}/shelters-offline.png` });
  // Somewhere never asked before: nothing saved, so the nearest by straight line.
  await page.evaluate(() => { window.citytwinShelters.route = null; });
  const box = await page.$eval('#map', (el) => { const r = el.getBoundingClientRect(); return { x: r.left + r.width * 0.3, y: r.top + r.height * 0.3 }; });
  await page.mouse.click(box.x, box.y);
  await page.waitForFunction(() => window.citytwinShelters.route !== null, { timeout: 60000 });
  out.elsewhere = await card(page);
  // The server being gone is the point: its failed requests are not page errors.
  out.errors = out.errors.filter((e) => !e.includes('ERR_CONNECTION_REFUSED') && !e.includes('request failed'));
} catch (e) {
  out.errors.push(`script: ${e.stack || e}`);
}
await browser.close();
lines.close();
process.stdout.write(`${JSON.stringify(out)}\n`);
