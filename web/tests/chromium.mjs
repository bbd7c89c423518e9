// What the browser tests share: Debian's Chromium started headless with WebGL in software
// (no GPU here), and a page that records console errors, failed requests and requests that
// leave the server under test.
import puppeteer from 'puppeteer-core';

/** Chromium from $CHROMIUM (default /usr/bin/chromium), never reaching the internet itself. */
export function launch() {
  return puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--use-angle=swiftshader',
      '--enable-unsafe-swiftshader',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--window-size=1280,800',
    ],
  });
}

/** A new page whose errors go to `out.errors` and requests outside `base` to `out.outside`. */
export async function watchedPage(browser, base, out) {
  const page = await browser.newPage();
  // A failed response is reported with its URL below; the console repeats it without one.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) out.errors.push(m.text());
  });
  page.on('response', (r) => { if (r.status() >= 400) out.errors.push(`${r.status()} ${r.url()}`); });
  page.on('pageerror', (e) => out.errors.push(String(e)));
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(base) && !u.startsWith('data:') && !u.startsWith('blob:')) out.outside.push(u);
  });
  // A live stream (/events) is cut when the page closes or the server goes away, and the page
  // reconnects by itself: not an error.
  page.on('requestfailed', (r) => {
    if (!new URL(r.url()).pathname.startsWith('/events')) out.errors.push(`request failed: ${r.url()}`);
  });
  return page;
}

/** Waits until the map page has drawn everything of its current view. */
export function waitIdle(page) {
  return page.waitForFunction(() => window.citytwin && window.citytwin.idle, { timeout: 90000 });
}

/** Waits for the map to draw again after a change made in the page (a move, a repaint). */
export async function redrawn(page) {
  await page.evaluate(() => {
    const c = window.citytwin;
    c.idle = false;
    c.map.once('idle', () => { c.idle = true; });
    c.map.triggerRepaint();
  });
  await waitIdle(page);
}
