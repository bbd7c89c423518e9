// The basemap in the residents' styles, day and night, drawn by MapLibre in Debian's Chromium:
// what each rendered at a given view (buildings, water, street names), as JSON, and a
// screenshot of each at phone and desk sizes. Run by tests/web.rs:
//   node web/tests/basemap.mjs BASE_URL SCREENSHOT_DIR LON LAT ZOOM
import { launch, waitIdle, watchedPage } from './chromium.mjs';

const [base, shots, lon, lat, zoom] = process.argv.slice(2);
const browser = await launch();
const out = { errors: [], outside: [], styles: {} };
try {
  const page = await watchedPage(browser, base, out);
  const sizes = [['phone', 390, 844], ['desk', 1280, 800]];
  for (const style of ['residents', 'residents-dark']) {
    for (const [size, width, height] of sizes) {
      await page.setViewport({ width, height, deviceScaleFactor: size === 'phone' ? 2 : 1 });
      await page.goto(`${base}/?style=${style}#${zoom}/${lat}/${lon}`, { waitUntil: 'load' });
      await waitIdle(page);
      const r = await page.evaluate(() => {
        const map = window.citytwin.map;
        const byLayer = {};
        for (const f of map.queryRenderedFeatures()) {
          const l = byLayer[f.sourceLayer] ??= { features: 0, labels: [] };
          if (f.layer.type === 'symbol') l.labels.push(f.properties['name:uk'] || f.properties.name || f.properties['addr:housenumber'] || '');
          else l.features += 1;
        }
        const bg = map.getStyle().layers.find((x) => x.type === 'background');
        return { byLayer, zoom: map.getZoom(), background: bg.paint['background-color'], sprite: map.getStyle().sprite };
      });
      out.styles[`${style}-${size}`] = r;
      await page.screenshot({ path: `${shots}/basemap-${style}-${size}.png` });
    }
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
