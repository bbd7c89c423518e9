// The Situational Centre: residents' incidents on the map coloured by category, a live list
// newest first with state, age, the object's number, address and landmarks, counts by category
// and district, filters by category, district, state and time. Live through `/events` (read
// with fetch, which can carry the staff token, and resumed after a break from the last event
// id). Every request carries the token; everything is served by citytwin itself.
import * as maplibregl from '/assets/vendor/maplibre-gl/maplibre-gl.mjs';
import { listen } from '/assets/live.js';
import { api as request, el } from '/assets/common.js';

const T = {
  uk: {
    title: 'Ситуаційний центр', token: 'Токен доступу', signIn: 'Увійти', all: 'усі', open: 'відкриті',
    fLayer: 'Категорія', fDistrict: 'Район', fState: 'Стан', fSince: 'За', d1: 'добу', h1: 'годину',
    d7: 'тиждень', ever: 'увесь час', counts: 'Зведення', list: 'Звернення — найновіші вгорі',
    s_new: 'нові', s_confirmed: 'підтверджені', s_assigned: 'передані бригаді', s_resolved: 'вирішені', s_rejected: 'відхилені',
    states: { new: 'нове', confirmed: 'підтверджено', assigned: 'передано бригаді', resolved: 'вирішено', rejected: 'відхилено' },
    moves: { confirmed: 'Підтвердити', assigned: 'Передати бригаді', resolved: 'Вирішено', rejected: 'Відхилити' },
    live: 'на зв\'язку', offline: 'не на зв\'язку', byLayer: 'За категорією', byDistrict: 'За районом',
    noDistrict: 'поза районами', reports: (n) => `повідомлень: ${n}`, ago: (s) => ago(s, 'uk'),
    none: 'Звернень немає', needToken: 'Увійдіть з токеном диспетчера або інженера',
    e401: 'Токен недійсний — увійдіть знову', e403: 'Ця роль не працює зі зверненнями', failed: 'Не вдалося',
    note: 'Примітка', mapTitle: 'Мапа звернень',
  },
  en: {
    title: 'Situational Centre', token: 'Access token', signIn: 'Sign in', all: 'all', open: 'open',
    fLayer: 'Category', fDistrict: 'District', fState: 'State', fSince: 'Changed in', d1: 'a day', h1: 'an hour',
    d7: 'a week', ever: 'any time', counts: 'Summary', list: 'Incidents — newest first',
    s_new: 'new', s_confirmed: 'confirmed', s_assigned: 'assigned', s_resolved: 'resolved', s_rejected: 'rejected',
    states: { new: 'new', confirmed: 'confirmed', assigned: 'assigned', resolved: 'resolved', rejected: 'rejected' },
    moves: { confirmed: 'Confirm', assigned: 'Assign a crew', resolved: 'Resolved', rejected: 'Reject' },
    live: 'live', offline: 'offline', byLayer: 'By category', byDistrict: 'By district',
    noDistrict: 'outside districts', reports: (n) => `${n} reports`, ago: (s) => ago(s, 'en'),
    none: 'No incidents', needToken: 'Sign in with a dispatcher or engineer token',
    e401: 'The token is not valid — sign in again', e403: 'This role does not handle incidents', failed: 'Failed',
    note: 'Note', mapTitle: 'Incidents map',
  },
};
const COLOURS = {
  shelters: '#c62828', manholes: '#6a1b9a', poles: '#ef6c00', trees: '#2e7d32', cameras: '#1565c0',
  wifi: '#00838f', cabinets: '#5d4037', fibre_nodes: '#37474f',
};
const colour = (l) => COLOURS[l] || '#616161';
const NEXT = { new: ['confirmed', 'assigned', 'resolved', 'rejected'], confirmed: ['assigned', 'resolved', 'rejected'], assigned: ['resolved', 'rejected'] };

function ago(s, lang) {
  const m = Math.floor(s / 60);
  if (lang === 'uk') {
    if (m < 1) return 'щойно';
    if (m < 60) return `${m} хв тому`;
    const h = Math.floor(m / 60);
    return h < 48 ? `${h} год тому` : `${Math.floor(h / 24)} дн тому`;
  }
  if (m < 1) return 'just now';
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h} h ago` : `${Math.floor(h / 24)} d ago`;
}

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'citytwin-token';
let lang = localStorage.getItem('citytwin-lang') === 'en' ? 'en' : 'uk';
const t = () => T[lang];
const state = {
  ready: false, live: false, incidents: new Map(), layers: {}, labels: {}, seen: {}, shown: [], error: null, events: 0,
};
window.citytwinCentre = state;

let token = sessionStorage.getItem(TOKEN_KEY) || '';
const hash = new URLSearchParams(location.hash.slice(1));
if (hash.get('token')) {
  token = hash.get('token');
  sessionStorage.setItem(TOKEN_KEY, token);
  hash.delete('token');
  history.replaceState(null, '', location.pathname + location.search);
}
const auth = () => (token ? { Authorization: `Bearer ${token}` } : {});
const ownUrl = (u) => new URL(u, location.href).origin === location.origin;

function api(path, options = {}) {
  return request(path, { ...options, headers: auth() });
}

function say(text, warn = false) {
  $('status').textContent = text;
  $('status').classList.toggle('warn', warn);
}


const kindName = (k) => (state.labels[k] && state.labels[k][lang]) || k.replace(/_/g, ' ');
const layerTitle = (name) => {
  const l = state.layers[name];
  return l ? (lang === 'en' ? l.title_en : l.title_uk) : name;
};

// ---------------------------------------------------------------------------------------------
// The map.

const map = new maplibregl.Map({
  container: 'map',
  style: '/styles/dispatcher.json',
  transformRequest: (url) => (token && ownUrl(url) ? { url, headers: auth() } : { url }),
  attributionControl: { compact: true },
  fadeDuration: 0,
});
state.map = map;
map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'bottom-right');
map.on('load', () => {
  // The objects of the style stay off: the incidents are what this map is for.
  for (const l of map.getStyle().layers) {
    if (l.type !== 'background' && l['source-layer'] !== 'streets') map.setLayoutProperty(l.id, 'visibility', 'none');
  }
  map.addSource('incidents', { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
  const match = ['match', ['get', 'layer']];
  for (const [k, v] of Object.entries(COLOURS)) match.push(k, v);
  match.push('#616161');
  map.addLayer({
    id: 'incidents', type: 'circle', source: 'incidents',
    paint: {
      'circle-color': match,
      'circle-radius': ['interpolate', ['linear'], ['get', 'count'], 1, 7, 10, 14],
      'circle-stroke-color': '#fff', 'circle-stroke-width': 2,
      'circle-opacity': ['case', ['get', 'closed'], 0.35, 0.95],
    },
  });
  map.on('click', 'incidents', (e) => {
    const f = e.features && e.features[0];
    const li = f && document.querySelector(`#incidents li[data-id="${f.properties.incident}"]`);
    if (li) { li.scrollIntoView({ block: 'nearest' }); li.focus(); }
  });
  draw();
});

// ---------------------------------------------------------------------------------------------
// The list, the counts and the map, from what is loaded and the filters.

function filters() {
  return { layer: $('f-layer').value, district: $('f-district').value, state: $('f-state').value, since: $('f-since').value };
}

function passes(i, f) {
  if (f.layer && i.layer !== f.layer) return false;
  if (f.district && (i.district || '') !== (f.district === '-' ? '' : f.district)) return false;
  if (f.state === 'open' && (i.state === 'resolved' || i.state === 'rejected')) return false;
  if (f.state && f.state !== 'open' && i.state !== f.state) return false;
  if (f.since) {
    const h = parseFloat(f.since);
    if (Date.parse(i.updated) < Date.now() - h * 3600e3) return false;
  }
  return true;
}

function fillSelect(sel, values, label) {
  const was = sel.value;
  const first = sel.options[0];
  sel.replaceChildren(first);
  for (const v of values) sel.append(el('option', { value: v }, label(v)));
  sel.value = values.includes(was) || was === '' ? was : '';
}

function counts(list, key, label) {
  const m = new Map();
  for (const i of list) m.set(key(i), (m.get(key(i)) || 0) + 1);
  const rows = [...m.entries()].sort((a, b) => b[1] - a[1]);
  return rows.map(([k, n]) => el('tr', {}, el('th', { scope: 'row' }, label(k)), el('td', { class: 'n' }, n)));
}

function draw() {
  const f = filters();
  const all = [...state.incidents.values()];
  fillSelect($('f-layer'), [...new Set(all.map((i) => i.layer))].sort(), layerTitle);
  fillSelect($('f-district'), [...new Set(all.map((i) => i.district || '-'))].sort(), (d) => (d === '-' ? t().noDistrict : d));
  const shown = all.filter((i) => passes(i, f)).sort((a, b) => Date.parse(b.updated) - Date.parse(a.updated) || b.incident - a.incident);
  state.shown = shown.map((i) => i.incident);
  const L = t();
  const byLayer = el('table', {}, el('caption', {}, L.byLayer), ...counts(shown, (i) => i.layer, (l) => {
    const s = el('span', {}, el('span', { class: 'dot', style: `background:${colour(l)}` }), layerTitle(l));
    return s;
  }));
  const byDistrict = el('table', {}, el('caption', {}, L.byDistrict), ...counts(shown, (i) => i.district || '', (d) => d || L.noDistrict));
  $('count-tables').replaceChildren(byLayer, byDistrict);
  const ol = $('incidents');
  const fresh = new Set([...ol.querySelectorAll('li.fresh')].map((li) => li.dataset.id));
  ol.replaceChildren(...shown.map((i) => item(i, fresh.has(String(i.incident)))));
  if (!shown.length) say(L.none); else if (!state.error) say('');
  const src = map.getSource && map.getSource('incidents');
  if (src) {
    src.setData({
      type: 'FeatureCollection',
      features: shown.map((i) => ({
        type: 'Feature', geometry: { type: 'Point', coordinates: [i.lon, i.lat] },
        properties: { incident: i.incident, layer: i.layer, count: i.count, closed: i.state === 'resolved' || i.state === 'rejected' },
      })),
    });
  }
}

function item(i, fresh) {
  const L = t();
  const age = (Date.now() - Date.parse(i.opened)) / 1000;
  const li = el('li', { 'data-id': i.incident, tabindex: '-1', class: fresh ? 'fresh' : null, style: `border-left-color:${colour(i.layer)}` },
    el('div', { class: 'head' },
      el('span', { class: 'num' }, `${layerTitle(i.layer)} ${i.number}`),
      el('span', { class: `state ${i.state}` }, L.states[i.state] || i.state)),
    el('p', { class: 'meta' }, [L.ago(age), L.reports(i.count), kindName(i.kind), i.address, i.district].filter(Boolean).join(' · ')),
  );
  if (i.landmarks && i.landmarks.length) {
    li.append(el('p', { class: 'marks' }, i.landmarks.map((m) => `${m.number} ${Math.round(m.distance_m)} m ${lang === 'en' ? m.bearing : m.bearing_uk}`).join('; ')));
  }
  const texts = (i.reports || []).map((r) => r.text).filter(Boolean);
  if (texts.length) li.append(el('p', { class: 'meta' }, `«${texts.slice(-2).join('» «')}»`));
  const next = NEXT[i.state] || [];
  if (next.length) {
    const note = el('input', { type: 'text', 'aria-label': L.note, placeholder: L.note, size: '14' });
    const moves = el('div', { class: 'moves' }, note);
    for (const to of next) {
      const b = el('button', { type: 'button', 'data-to': to }, L.moves[to]);
      b.addEventListener('click', () => move(i.incident, to, note.value));
      moves.append(b);
    }
    li.append(moves);
  }
  return li;
}

async function move(id, to, note) {
  const r = await api(`/incidents/${id}`, { method: 'PATCH', body: { state: to, note } });
  if (r.ok) {
    state.incidents.set(id, r.body);
    draw();
  } else {
    say(r.body.error || t().failed, true);
  }
}

// ---------------------------------------------------------------------------------------------
// Loading and live events.

async function load() {
  if (!token) { say(t().needToken, true); return false; }
  const f = filters();
  const q = new URLSearchParams({ limit: '1000' });
  if (f.since) q.set('since', f.since);
  const [layers, list, kinds] = await Promise.all([api('/layers'), api(`/incidents?${q}`), api('/reports/kinds')]);
  if (!list.ok) {
    state.error = list.status;
    say(list.status === 401 ? t().e401 : list.status === 403 ? t().e403 : t().failed, true);
    $('signin').hidden = false;
    return false;
  }
  state.error = null;
  $('signin').hidden = true;
  for (const l of layers.body || []) state.layers[l.name] = l;
  state.labels = kinds.body.labels || {};
  state.incidents = new Map(list.body.incidents.map((i) => [i.incident, i]));
  draw();
  return true;
}

function setLive(on) {
  state.live = on;
  $('live').textContent = on ? t().live : t().offline;
  $('live').classList.toggle('on', on);
}

async function onEvent(name, d) {
  state.events += 1;
  if (name === 'incident') {
    const r = await api(`/incidents/${d.incident}`);
    if (r.ok) {
      state.incidents.set(d.incident, r.body);
      draw();
      const li = document.querySelector(`#incidents li[data-id="${d.incident}"]`);
      if (li) li.classList.add('fresh');
      // When each incident was first on the list (for tests and the curious).
      if (!state.seen[d.incident]) state.seen[d.incident] = Date.now();
    }
  } else if (name === 'object') {
    let changed = false;
    for (const i of state.incidents.values()) {
      if (i.object_id === d.id && d.status && i.object_status !== d.status) { i.object_status = d.status; changed = true; }
    }
    if (changed) draw();
  } else if (name === 'reload') {
    await load();
  }
}

function listenLive() {
  listen({
    headers: auth,
    onEvent,
    onState: setLive,
  });
}

function applyLang() {
  document.documentElement.lang = lang;
  const L = t();
  for (const e of document.querySelectorAll('[data-t]')) {
    const v = L[e.dataset.t];
    if (typeof v === 'string') e.textContent = v;
  }
  $('lang').textContent = lang === 'uk' ? 'EN' : 'УК';
  $('lang').lang = lang === 'uk' ? 'en' : 'uk';
  $('lang').setAttribute('aria-label', lang === 'uk' ? 'EN: English' : 'УК: українська');
  setLive(state.live);
  draw();
}

$('lang').addEventListener('click', () => {
  lang = lang === 'uk' ? 'en' : 'uk';
  localStorage.setItem('citytwin-lang', lang);
  applyLang();
});
$('signin').addEventListener('submit', async (e) => {
  e.preventDefault();
  token = $('token').value.trim();
  sessionStorage.setItem(TOKEN_KEY, token);
  state.error = null;
  await load();
});
for (const id of ['f-layer', 'f-district', 'f-state']) $(id).addEventListener('change', draw);
$('f-since').addEventListener('change', load);
setInterval(draw, 30000);

applyLang();
load().then(() => {
  state.ready = true;
  const pts = [...state.incidents.values()].map((i) => [i.lon, i.lat]);
  if (pts.length) {
    const b = pts.reduce((a, p) => [Math.min(a[0], p[0]), Math.min(a[1], p[1]), Math.max(a[2], p[0]), Math.max(a[3], p[1])], [180, 90, -180, -90]);
    map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 60, maxZoom: 15, duration: 0 });
  }
});
listenLive();
