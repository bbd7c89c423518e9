// A first-time visitor: opens the citytwin map page without a position in the URL, at a desk's
// and a phone's size, and reports where the map opened and what it drew (JSON on stdout). Takes
// the screenshots the README shows: map-desk.png, map-phone.png and object-card.png (a clicked
// object's card). Each is written to NEW_DIR only when its picture differs from the one in
// IMG_DIR (software rendering differs by a few pixels from run to run), and listed in `saved`;
// the test copies those into IMG_DIR once what the page did passed. Run by tests/web.rs:
//   node web/tests/first-view.mjs BASE_URL IMG_DIR NEW_DIR
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { launch, redrawn, waitIdle, watchedPage } from './chromium.mjs';

const [base, img, fresh] = process.argv.slice(2);
const SIZES = {
  desk: { width: 1280, height: 800 },
  phone: { width: 360, height: 740, isMobile: true, hasTouch: true },
};

const browser = await launch();
const out = { errors: [], outside: [], saved: [], kept: [] };

// Share of pixels that differ clearly between two PNGs (1 when their sizes differ), measured
// in a blank page of the browser.
async function difference(a, b) {
  const page = await browser.newPage();
  try {
    return await page.evaluate(async (a64, b64) => {
      const pixels = async (b64) => {
        const im = new Image();
        im.src = `data:image/png;base64,${b64}`;
        await im.decode();
        const c = document.createElement('canvas');
        [c.width, c.height] = [im.width, im.height];
        const g = c.getContext('2d');
        g.drawImage(im, 0, 0);
        return g.getImageData(0, 0, im.width, im.height);
      };
      const [p, q] = [await pixels(a64), await pixels(b64)];
      if (p.width !== q.width || p.height !== q.height) return 1;
      let differ = 0;
      for (let i = 0; i < p.data.length; i += 4) {
        const d = Math.abs(p.data[i] - q.data[i]) + Math.abs(p.data[i + 1] - q.data[i + 1])
          + Math.abs(p.data[i + 2] - q.data[i + 2]);
        if (d > 48) differ += 1;
      }
      return differ / (p.width * p.height);
    }, a.toString('base64'), b.toString('base64'));
  } finally {
    await page.close();
  }
}

// Writes a screenshot to NEW_DIR unless IMG_DIR's file shows the same picture.
async function keep(name, png) {
  const path = `${img}/${name}`;
  if (existsSync(path) && (await difference(await readFile(path), png)) < 0.002) {
    out.kept.push(name);
    return;
  }
  await writeFile(`${fresh}/${name}`, png);
  out.saved.push(name);
}

// What the map shows now: its citytwin features by layer, centre, zoom and the page's layout.
const seen = (page) => page.evaluate(() => {
  const map = window.citytwin.map;
  const layers = {};
  let features = 0;
  for (const f of map.queryRenderedFeatures()) {
    if (f.source !== 'citytwin') continue;
    features += 1;
    layers[f.sourceLayer] = (layers[f.sourceLayer] ?? 0) + 1;
  }
  const c = map.getCenter();
  const box = (sel) => {
    const r = document.querySelector(sel).getBoundingClientRect();
    return [r.left, r.top, r.right, r.bottom];
  };
  return {
    features,
    layers,
    center: [c.lng, c.lat],
    zoom: map.getZoom(),
    hash: location.hash,
    width: window.innerWidth,
    scrollWidth: document.documentElement.scrollWidth,
    header: box('header'),
    map: box('#map'),
    controls: [...document.querySelectorAll('header input, header button, header select')].map((e) => {
      const r = e.getBoundingClientRect();
      return [r.left, r.top, r.right, r.bottom];
    }),
  };
});

try {
  const page = await watchedPage(browser, base, out);
  for (const [name, size] of Object.entries(SIZES)) {
    await page.setViewport(size);
    await page.goto(`${base}/`, { waitUntil: 'load' });
    await waitIdle(page);
    out[name] = await seen(page);
    await keep(`map-${name}.png`, await page.screenshot({ type: 'png' }));
  }
  // On the phone, "Sign in" opens the folded token field, inside the screen.
  await page.click('#signin button');
  out.phone.signin = await page.evaluate(() => {
    const t = document.getElementById('token');
    const r = t.getBoundingClientRect();
    return {
      box: [r.left, r.top, r.right, r.bottom],
      focused: document.activeElement === t,
      scrollWidth: document.documentElement.scrollWidth,
    };
  });

  // A click on a numbered object close up, at the desk's size: its card.
  await page.setViewport(SIZES.desk);
  await page.goto(`${base}/`, { waitUntil: 'load' });
  await waitIdle(page);
  await page.evaluate(() => window.citytwin.map.jumpTo({ zoom: 17.5 }));
  await redrawn(page);
  const target = await page.evaluate(() => {
    const map = window.citytwin.map;
    const { width, height } = map.getCanvas().getBoundingClientRect();
    const mid = [width / 2, height / 2];
    // Objects with a number, nearest the middle first, with no other marker within 14 px.
    const marks = map.queryRenderedFeatures()
      .filter((f) => f.source === 'citytwin' && f.layer.type === 'circle' && f.properties.number)
      .map((f) => ({ f, p: map.project(f.geometry.coordinates) }))
      .filter(({ p }) => p.x > 340 && p.x < width - 340 && p.y > 250 && p.y < height - 300)
      .sort((a, b) => Math.hypot(a.p.x - mid[0], a.p.y - mid[1]) - Math.hypot(b.p.x - mid[0], b.p.y - mid[1]));
    const alone = marks.find(({ f, p }) => map.queryRenderedFeatures([[p.x - 14, p.y - 14], [p.x + 14, p.y + 14]])
      .filter((o) => o.source === 'citytwin' && o.layer.type === 'circle')
      .every((o) => o.id === f.id));
    return alone ? { x: alone.p.x, y: alone.p.y, number: alone.f.properties.number, layer: alone.f.sourceLayer } : null;
  });
  if (target) {
    const m = await page.$eval('#map', (el) => { const r = el.getBoundingClientRect(); return { x: r.left, y: r.top }; });
    const [x, y] = [m.x + target.x, m.y + target.y];
    await page.mouse.click(x, y);
    await page.waitForSelector('.maplibregl-popup', { timeout: 10000 });
    const card = await page.$eval('.maplibregl-popup', (el) => {
      const r = el.getBoundingClientRect();
      return { text: el.innerText, box: [r.left, r.top, r.right, r.bottom] };
    });
    out.card = { ...target, ...card };
    // The card in the upper middle, with the streets and objects around it.
    const clip = { x: Math.round(x - 320), y: Math.round(card.box[1] - 60), width: 640, height: 400 };
    await keep('object-card.png', await page.screenshot({ type: 'png', clip }));
  }

  // A position in the URL wins over the server's view.
  await page.goto(`${base}/?style=dispatcher#12/50.45/30.52`, { waitUntil: 'load' });
  await waitIdle(page);
  out.withHash = await seen(page);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
