// The residents' shelter page: find the nearest open shelter one can enter, by walking route,
// on a phone; Ukrainian by default, English on request; keeps working with the server out of
// reach (the service worker keeps the page, the shelter list, the instructions and the city's
// PMTiles; distances then are straight lines, and the page says so).
import * as maplibregl from '/assets/vendor/maplibre-gl/maplibre-gl.mjs';
import { listen } from '/assets/live.js';

const T = {
  uk: {
    title: 'Укриття поруч', find: 'Знайти найближче укриття', openNow: 'Лише відкриті зараз',
    stepFree: 'Без сходинок (пандус)', map: 'Мапа укриттів', others: 'Інші укриття поруч',
    report: 'Зачинено чи інша проблема? Повідомте',
    instructions: 'Що робити під час тривоги', locating: 'Визначаю, де ви…',
    noGeo: 'Не вдалося визначити місце. Торкніться мапи там, де ви є.',
    searching: 'Шукаю найближче укриття…', none: 'Поруч немає укриття, що відповідає вибору.',
    offline: 'Немає зв’язку з сервером: показано збережені дані, відстані — по прямій.',
    saved: 'Немає зв’язку з сервером: показано маршрут, збережений раніше.',
    straight: 'Відстань по прямій: пішохідного маршруту тут немає.',
    walk: (m, min) => `${m} м пішки, близько ${min} хв`, line: (m) => `${m} м по прямій`,
    steps: 'На маршруті є сходи.', shelter: 'Укриття', address: 'Адреса', type: 'Тип', kind: 'Вид',
    capacity: 'Місткість', people: 'осіб', hours: 'Години роботи', access: 'Без сходинок',
    yes: 'так', no: 'ні', unknown: 'невідомо', status: 'Стан', verified: 'перевірено',
    phone: 'Телефон', openNowIs: 'Зараз', open: 'відчинене', closed: 'зачинене',
    st: { open: 'відчинене', closed: 'зачинене', locked_reported: 'повідомили, що зачинене', unknown: 'не перевірено' },
    lang: 'EN', langName: 'English', ready: (n) => `Укриттів на мапі: ${n}.`,
  },
  en: {
    title: 'Shelters nearby', find: 'Find the nearest shelter', openNow: 'Open now only',
    stepFree: 'Step-free (ramp)', map: 'Map of shelters', others: 'Other shelters nearby',
    report: 'Locked or another problem? Report it',
    instructions: 'What to do during an alert', locating: 'Finding where you are…',
    noGeo: 'Could not tell where you are. Tap the map where you are.',
    searching: 'Looking for the nearest shelter…', none: 'No shelter nearby matches the choice.',
    offline: 'No connection to the server: saved data shown, distances as the crow flies.',
    saved: 'No connection to the server: the route saved earlier is shown.',
    straight: 'Straight-line distance: no walking route here.',
    walk: (m, min) => `${m} m on foot, about ${min} min`, line: (m) => `${m} m as the crow flies`,
    steps: 'The route has steps.', shelter: 'Shelter', address: 'Address', type: 'Type', kind: 'Kind',
    capacity: 'Capacity', people: 'people', hours: 'Opening hours', access: 'Step-free',
    yes: 'yes', no: 'no', unknown: 'unknown', status: 'Status', verified: 'verified',
    phone: 'Phone', openNowIs: 'Now', open: 'open', closed: 'closed',
    st: { open: 'open', closed: 'closed', locked_reported: 'reported locked', unknown: 'not verified' },
    lang: 'УК', langName: 'Українська', ready: (n) => `Shelters on the map: ${n}.`,
  },
};

const $ = (id) => document.getElementById(id);
// Ukrainian unless English was chosen here before.
let lang = localStorage.getItem('citytwin-lang') === 'en' ? 'en' : 'uk';
const state = { list: null, last: null, offline: false, route: null, ready: false, answer: null };
window.citytwinShelters = state;

function say(text, warn = false) {
  $('status').textContent = text;
  $('status').classList.toggle('warn', warn);
}

function applyLanguage() {
  const t = T[lang];
  document.documentElement.lang = lang;
  document.title = `${t.title} — citytwin`;
  $('title').textContent = t.title;
  $('find').textContent = t.find;
  $('open-now-label').textContent = t.openNow;
  $('step-free-label').textContent = t.stepFree;
  $('map').setAttribute('aria-label', t.map);
  $('others').setAttribute('aria-label', t.others);
  $('instructions-title').textContent = t.instructions;
  const other = lang === 'uk' ? 'en' : 'uk';
  $('lang').textContent = t.lang;
  $('lang').setAttribute('lang', other);
  $('lang').setAttribute('aria-label', `${t.lang}: ${t.langName}`);
  loadInstructions();
  if (state.answer) showAnswer(state.answer, state.picked || 0);
}

async function loadInstructions() {
  try {
    const r = await fetch(`/shelters/instructions?lang=${lang}`);
    const body = await r.json();
    if (r.ok) $('instructions-text').innerHTML = body.html; // the server drops raw HTML
  } catch {
    // Offline and never saved: the heading stays.
  }
}

// The map: streets from the city's PMTiles (or the live tiles), shelters from the list.
const protocol = new pmtiles.Protocol();
maplibregl.addProtocol('pmtiles', protocol.tile);
const archive = `${location.origin}/shelters/city.pmtiles`;
async function citySource() {
  try {
    const r = await fetch(archive, { headers: { Range: 'bytes=0-126' } });
    if (r.ok) return { type: 'vector', url: `pmtiles://${archive}` };
  } catch { /* offline without the archive: live tiles, which the worker may hold */ }
  return { type: 'vector', tiles: [`${location.origin}/tiles/streets/{z}/{x}/{y}.mvt`], minzoom: 12, maxzoom: 16 };
}

const empty = { type: 'FeatureCollection', features: [] };
const map = new maplibregl.Map({
  container: 'map',
  style: { version: 8, sources: {}, layers: [{ id: 'bg', type: 'background', paint: { 'background-color': '#f2efe9' } }] },
  center: [30.52, 50.45],
  zoom: 11,
  attributionControl: { compact: true, customAttribution: '© OpenStreetMap contributors' },
});
state.map = map;
map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');

map.on('load', async () => {
  map.addSource('city', await citySource());
  // The basemap the city's archive carries (nothing is drawn where it has none).
  map.addLayer({ id: 'green', type: 'fill', source: 'city', 'source-layer': 'green', paint: { 'fill-color': '#d4e8c4' } });
  map.addLayer({ id: 'water', type: 'fill', source: 'city', 'source-layer': 'water', paint: { 'fill-color': '#aad3ee' } });
  map.addLayer({ id: 'buildings', type: 'fill', source: 'city', 'source-layer': 'buildings', minzoom: 14,
    paint: { 'fill-color': '#dcd4c9', 'fill-outline-color': '#c6bbae' } });
  map.addLayer({ id: 'streets', type: 'line', source: 'city', 'source-layer': 'streets',
    paint: { 'line-color': '#9e9e9e', 'line-width': ['interpolate', ['linear'], ['zoom'], 12, 0.5, 17, 3] } });
  map.addSource('shelters', { type: 'geojson', data: empty });
  map.addLayer({ id: 'shelters', type: 'circle', source: 'shelters', paint: {
    'circle-radius': ['interpolate', ['linear'], ['zoom'], 10, 3, 16, 8],
    'circle-color': ['match', ['get', 'status'], 'open', '#2e7d32', 'closed', '#b71c1c', 'locked_reported', '#b71c1c', '#616161'],
    'circle-stroke-color': ['case', ['==', ['get', 'accessible'], true], '#0d47a1', '#ffffff'],
    'circle-stroke-width': 2 } });
  map.addSource('route', { type: 'geojson', data: empty });
  map.addLayer({ id: 'route', type: 'line', source: 'route', layout: { 'line-cap': 'round', 'line-join': 'round' },
    paint: { 'line-color': '#0d47a1', 'line-width': 5 } });
  map.addSource('me', { type: 'geojson', data: empty });
  map.addLayer({ id: 'me', type: 'circle', source: 'me', paint: { 'circle-radius': 8, 'circle-color': '#ff9800', 'circle-stroke-color': '#fff', 'circle-stroke-width': 3 } });
  await loadList();
  state.ready = true;
});

async function loadList() {
  try {
    const r = await fetch('/shelters/list');
    if (!r.ok) throw new Error(String(r.status));
    state.list = await r.json();
    state.offline = Boolean(r.headers.get('x-citytwin-offline'));
  } catch {
    state.offline = true;
  }
  if (state.offline) say(T[lang].offline, true);
  if (!state.list) return;
  map.getSource('shelters').setData(state.list);
  const pts = state.list.features.map((f) => f.geometry.coordinates);
  if (pts.length && !state.answer) {
    // Open on the middle of the shelters (the median resists a stray point far away).
    const mid = (i) => pts.map((p) => p[i]).sort((a, b) => a - b)[Math.floor(pts.length / 2)];
    map.jumpTo({ center: [mid(0), mid(1)], zoom: 14 });
  }
  if (!state.offline) say(T[lang].ready(pts.length));
}

// Straight-line metres, for when the server is out of reach.
function metres(a, b) {
  const r = 6371008.8; const rad = Math.PI / 180;
  const dla = (b[1] - a[1]) * rad; const dlo = (b[0] - a[0]) * rad;
  const h = Math.sin(dla / 2) ** 2 + Math.cos(a[1] * rad) * Math.cos(b[1] * rad) * Math.sin(dlo / 2) ** 2;
  return 2 * r * Math.asin(Math.sqrt(h));
}

function offlineAnswer(lat, lon, openNow, stepFree) {
  const at = [lon, lat];
  const speed = stepFree ? 3 : 5;
  const shelters = (state.list?.features || [])
    .filter((f) => !stepFree || f.properties.accessible === true)
    .filter((f) => !openNow || f.properties.open_now !== false)
    .map((f) => ({ f, m: metres(at, f.geometry.coordinates) }))
    .sort((a, b) => a.m - b.m)
    .slice(0, 3)
    .map(({ f, m }) => ({ ...f.properties, lon: f.geometry.coordinates[0], lat: f.geometry.coordinates[1],
      metres: Math.round(m), minutes: Math.round((m / (speed * 1000 / 60)) * 10) / 10, routing: 'straight_line',
      steps: false, route: { type: 'LineString', coordinates: [at, f.geometry.coordinates] } }));
  return { routing: 'straight_line', offline: true, shelters };
}

async function find(lat, lon) {
  const t = T[lang];
  const openNow = $('open-now').checked; const stepFree = $('step-free').checked;
  state.me = [lon, lat];
  map.getSource('me')?.setData({ type: 'Feature', geometry: { type: 'Point', coordinates: [lon, lat] }, properties: {} });
  say(t.searching);
  let answer;
  try {
    const r = await fetch(`/shelters/nearest?lat=${lat}&lon=${lon}&k=3&open_now=${openNow}&accessible=${stepFree}`);
    if (!r.ok) throw new Error(String(r.status));
    answer = await r.json();
    // The service worker's saved answer for this very place, when the server is out of reach.
    state.offline = Boolean(r.headers.get('x-citytwin-offline'));
  } catch {
    state.offline = true;
    answer = offlineAnswer(lat, lon, openNow, stepFree);
  }
  state.answer = answer;
  showAnswer(answer, 0);
}

function row(dl, name, value) {
  if (value === null || value === undefined || value === '') return;
  const dt = document.createElement('dt'); dt.textContent = name;
  const dd = document.createElement('dd');
  if (value instanceof Node) dd.append(value); else dd.textContent = String(value);
  dl.append(dt, dd);
}

function showAnswer(answer, pick) {
  const t = T[lang];
  state.picked = pick;
  const list = answer.shelters || [];
  if (!list.length) {
    $('card').hidden = true;
    map.getSource('route')?.setData(empty);
    state.route = null;
    say(state.offline ? `${t.offline} ${t.none}` : t.none, true);
    return;
  }
  const s = list[pick];
  state.route = s.route;
  map.getSource('route')?.setData({ type: 'Feature', geometry: s.route, properties: {} });
  const b = s.route.coordinates.reduce((acc, p) => [Math.min(acc[0], p[0]), Math.min(acc[1], p[1]), Math.max(acc[2], p[0]), Math.max(acc[3], p[1])], [180, 90, -180, -90]);
  // Clear of the zoom buttons at the top right.
  map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: { top: 40, bottom: 40, left: 40, right: 72 }, maxZoom: 17, duration: 0 });
  $('card').hidden = false;
  $('card-title').textContent = `${t.shelter} ${s.number || ''}`.trim();
  const walked = s.routing === 'walking';
  $('card-route').textContent = walked ? t.walk(Math.round(s.metres), Math.ceil(s.minutes)) : t.line(Math.round(s.metres));
  const dl = $('card-facts'); dl.replaceChildren();
  row(dl, t.address, s.address);
  row(dl, t.type, lang === 'uk' ? s.legal_type_uk : s.legal_type_en);
  row(dl, t.kind, lang === 'uk' ? s.kind_uk : s.kind_en);
  row(dl, t.capacity, s.capacity ? `${s.capacity} ${t.people}` : null);
  row(dl, t.hours, s.opening_hours);
  if (s.open_now !== null && s.open_now !== undefined) {
    const span = document.createElement('span');
    span.className = s.open_now ? 'open' : 'closed';
    span.textContent = s.open_now ? t.open : t.closed;
    row(dl, t.openNowIs, span);
  }
  row(dl, t.access, s.accessible === true ? t.yes : s.accessible === false ? t.no : t.unknown);
  row(dl, t.status, `${t.st[s.status] || s.status}${s.verified_at ? `, ${t.verified} ${s.verified_at}` : ''}`);
  row(dl, t.phone, s.phone);
  $('card-report').replaceChildren();
  if (s.number && !state.offline) {
    const a = document.createElement('a');
    a.href = `/report?number=${encodeURIComponent(s.number)}${lang === 'en' ? '&lang=en' : ''}`;
    a.className = 'report';
    a.textContent = t.report;
    $('card-report').append(a);
  }
  const others = $('others'); others.replaceChildren();
  list.forEach((o, i) => {
    if (i === pick) return;
    const btn = document.createElement('button');
    btn.type = 'button';
    btn.textContent = `${o.number || t.shelter}: ${Math.round(o.metres)} ${lang === 'uk' ? 'м' : 'm'}`;
    btn.addEventListener('click', () => showAnswer(answer, i));
    others.append(btn);
  });
  const notes = [];
  if (state.offline) notes.push(walked ? t.saved : t.offline);
  else if (!walked) notes.push(t.straight);
  if (s.steps) notes.push(t.steps);
  say(notes.join(' ') || `${t.shelter} ${s.number || ''}: ${$('card-route').textContent}`, notes.length > 0);
}

$('find').addEventListener('click', () => {
  const t = T[lang];
  if (!navigator.geolocation) { say(t.noGeo, true); return; }
  say(t.locating);
  navigator.geolocation.getCurrentPosition(
    (p) => find(p.coords.latitude, p.coords.longitude),
    () => say(t.noGeo, true),
    { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 },
  );
});
map.on('click', (e) => find(e.lngLat.lat, e.lngLat.lng));
$('lang').addEventListener('click', () => {
  lang = lang === 'uk' ? 'en' : 'uk';
  localStorage.setItem('citytwin-lang', lang);
  applyLanguage();
});
for (const id of ['open-now', 'step-free']) {
  $(id).addEventListener('change', () => {
    if (state.me) find(state.me[1], state.me[0]);
  });
}

applyLanguage();
if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/shelters/sw.js', { scope: '/shelters' }).catch(() => {});
}

// Live: a shelter reported locked, or opened again, is redrawn without a reload.
let relist = null;
listen({
  onEvent: (name, d) => {
    if (name === 'reload' || (name === 'object' && d.layer === 'shelters')) {
      clearTimeout(relist);
      relist = setTimeout(() => { if (state.ready) loadList(); }, 300);
    }
  },
});
