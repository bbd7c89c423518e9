// A resident on a phone (360×740) reports a locked shelter by its number, one digit misread:
// the page offers the right one. A staff browser on /centre (1280×800), open before, shows the
// incident without reloading; the residents' map (open before, never reloaded) turns the
// shelter `locked-reported` after the third report; staff resolve it on /centre and the map
// turns it back. Prints JSON on stdout; screenshots go to IMG_DIR. Run by tests/web.rs:
//   TOKEN=staff RESIDENTS=t1,t2 node web/tests/reports.mjs BASE NUMBER MISREAD LAT LON IMG_DIR AXE_JS
import { readFile } from 'node:fs/promises';
import { launch, watchedPage } from './chromium.mjs';

const [base, number, misread, lat, lon, img, axePath] = process.argv.slice(2);
const token = process.env.TOKEN || '';
const residents = (process.env.RESIDENTS || '').split(',').filter(Boolean);
const out = { errors: [], outside: [] };
const browser = await launch();
const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

try {
  // The Situational Centre, open and listening before anything is reported.
  const centre = await watchedPage(browser, base, out);
  await centre.setViewport({ width: 1280, height: 800 });
  await centre.goto(`${base}/centre#token=${encodeURIComponent(token)}`, { waitUntil: 'load' });
  await centre.waitForFunction(() => window.citytwinCentre && window.citytwinCentre.ready && window.citytwinCentre.live, { timeout: 60000 });
  out.centre_before = await centre.evaluate(() => document.querySelectorAll('#incidents li').length);

  // The residents' map at the shelter, open before and never reloaded.
  const mapPage = await watchedPage(browser, base, out);
  await mapPage.setViewport({ width: 360, height: 740, isMobile: true, hasTouch: true });
  await mapPage.goto(`${base}/?style=residents#17/${lat}/${lon}`, { waitUntil: 'load' });
  await mapPage.waitForFunction(() => window.citytwin && window.citytwin.idle && window.citytwin.live, { timeout: 90000 });
  const shelterStatus = (n) => mapPage.evaluate((num) => {
    const fs = window.citytwin.map.querySourceFeatures('citytwin', { sourceLayer: 'shelters' });
    const f = fs.find((x) => x.properties.number === num);
    return f ? f.properties.status : null;
  }, n);
  out.map_before = await shelterStatus(number);


  // The resident: the misread number, the suggestion, the kind, a few words, send.
  const phone = await watchedPage(browser, base, out);
  await phone.setViewport({ width: 360, height: 740, isMobile: true, hasTouch: true });
  await phone.goto(`${base}/report`, { waitUntil: 'load' });
  await phone.waitForFunction(() => window.citytwinReport && window.citytwinReport.ready, { timeout: 30000 });
  await phone.type('#number', misread);
  await phone.click('#look');
  await phone.waitForFunction(() => !document.getElementById('suggest').hidden || !document.getElementById('report').hidden, { timeout: 30000 });
  out.offered = await phone.evaluate(() => [...document.querySelectorAll('#suggestions .num')].map((e) => e.textContent));
  await phone.screenshot({ path: `${img}/report-suggestions-phone.png` });
  const pick = await phone.$$('#suggestions button');
  const index = out.offered.indexOf(number);
  if (index < 0) throw new Error(`the right number ${number} was not offered: ${out.offered}`);
  await pick[index].click();
  await phone.waitForFunction(() => !document.getElementById('report').hidden, { timeout: 10000 });
  out.kinds = await phone.evaluate(() => [...document.querySelectorAll('#kinds input')].map((i) => i.value));
  await phone.click('#kinds input[value="locked"]');
  await phone.type('#text', 'Зачинено, ніхто не відчиняє');
  await phone.screenshot({ path: `${img}/report-form-phone.png` });
  await phone.click('#send');
  await phone.waitForFunction(() => !document.getElementById('receipt').hidden, { timeout: 30000 });
  out.receipt = await phone.evaluate(() => window.citytwinReport.receipt);
  out.receipt_text = await phone.evaluate(() => document.getElementById('receipt').innerText);
  await phone.screenshot({ path: `${img}/report-receipt-phone.png` });
  out.phone_scroll_width = await phone.evaluate(() => document.documentElement.scrollWidth);
  await phone.addScriptTag({ content: await readFile(axePath, 'utf8') });
  out.axe = await phone.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => `${v.id}: ${v.nodes.length}`);
  });

  // The centre shows it without a reload.
  const id = out.receipt.incident;
  // Only the page in front draws; each is brought there before it is watched.
  await centre.bringToFront();
  await centre.waitForFunction((i) => document.querySelector(`#incidents li[data-id="${i}"]`), { timeout: 10000, polling: 50 }, id);
  // From the report's time on the server to the incident on the centre's list, as the page
  // noted it (the phone's checks above took their own time meanwhile).
  out.centre_ms = await centre.evaluate((i) => window.citytwinCentre.seen[i], id) - Date.parse(out.receipt.opened);
  out.centre_item = await centre.evaluate((i) => document.querySelector(`#incidents li[data-id="${i}"]`).innerText, id);

  // Two residents more: the third report makes the shelter locked-reported on the map.
  for (const t of residents) {
    const r = await fetch(`${base}/reports`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${t}` },
      body: JSON.stringify({ number, kind: 'locked' }),
    });
    if (r.status !== 201) throw new Error(`report: ${r.status} ${await r.text()}`);
  }
  const turned = Date.now();
  await mapPage.bringToFront();
  await mapPage.waitForFunction((num) => {
    const fs = window.citytwin.map.querySourceFeatures('citytwin', { sourceLayer: 'shelters' });
    const f = fs.find((x) => x.properties.number === num);
    return f && f.properties.status === 'locked-reported';
  }, { timeout: 15000, polling: 100 }, number);
  out.map_locked_ms = Date.now() - turned;
  out.map_locked = await shelterStatus(number);
  await sleep(300);
  await mapPage.screenshot({ path: `${img}/residents-map-locked-phone.png` });
  await centre.bringToFront();
  await centre.waitForFunction((i) => /3/.test(document.querySelector(`#incidents li[data-id="${i}"] .meta`).innerText), { timeout: 10000, polling: 50 }, id);
  await centre.screenshot({ path: `${img}/centre-desk.png` });
  out.counts = await centre.evaluate(() => document.getElementById('count-tables').innerText);

  // Staff resolve it on the centre page: the map turns the shelter back.
  await centre.click(`#incidents li[data-id="${id}"] button[data-to="resolved"]`);
  await centre.waitForFunction((i) => {
    const li = document.querySelector(`#incidents li[data-id="${i}"]`);
    return !li || li.querySelector('.state.resolved');
  }, { timeout: 10000, polling: 50 }, id);
  await mapPage.bringToFront();
  await mapPage.waitForFunction((num) => {
    const fs = window.citytwin.map.querySourceFeatures('citytwin', { sourceLayer: 'shelters' });
    const f = fs.find((x) => x.properties.number === num);
    return f && f.properties.status !== 'locked-reported';
  }, { timeout: 15000, polling: 100 }, number);
  out.map_after = await shelterStatus(number);

  // The centre on a phone too.
  await centre.bringToFront();
  await centre.setViewport({ width: 360, height: 740, isMobile: true, hasTouch: true });
  await centre.evaluate(() => { document.getElementById('f-state').value = ''; document.getElementById('f-state').dispatchEvent(new Event('change')); });
  await sleep(500);
  await centre.screenshot({ path: `${img}/centre-phone.png` });
} catch (e) {
  out.failed = String(e && e.stack ? e.stack : e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
