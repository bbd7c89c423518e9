// The citytwin map page: one of three styles, click an object for its number, layer, status and
// attributes, search by painted number. Everything is served by citytwin itself.
import * as maplibregl from '/assets/vendor/maplibre-gl/maplibre-gl.mjs';
import { listen, refreshTiles } from '/assets/live.js';

const params = new URLSearchParams(location.search);
const styleSelect = document.getElementById('style');
const message = document.getElementById('message');
let styleName = params.get('style') || 'dispatcher';
if (![...styleSelect.options].some((o) => o.value === styleName)) styleName = 'dispatcher';
styleSelect.value = styleName;

// An API token (staff see more layers): kept for this tab only, sent with every request to
// this server, never to another origin.
const tokenKey = 'citytwin-token';
let token = sessionStorage.getItem(tokenKey) || '';
const authHeaders = () => (token ? { Authorization: `Bearer ${token}` } : {});
const ownUrl = (u) => new URL(u, location.href).origin === location.origin;

const map = new maplibregl.Map({
  container: 'map',
  style: `/styles/${styleName}.json`,
  transformRequest: (url) => (token && ownUrl(url) ? { url, headers: authHeaders() } : { url }),
  hash: true,
  attributionControl: { compact: true },
});
map.addControl(new maplibregl.NavigationControl(), 'top-right');
map.addControl(new maplibregl.GeolocateControl({ trackUserLocation: true }), 'top-right');

// For tests and scripts: the map, and whether it has finished drawing the current style.
window.citytwin = { map, idle: false, style: styleName };
const markIdle = () => map.once('idle', () => { window.citytwin.idle = true; });
markIdle();

// Where the map opens: the position in the URL (#zoom/lat/lon) when there is one, else the
// style's own `center` and `zoom`, which the server sets to the configured city centre or the
// densest area of the data (never the extent of all of it, which may span several cities).

const signin = document.getElementById('signin');
const tokenInput = document.getElementById('token');
const signinButton = signin.querySelector('button');
const showSignedIn = (who) => {
  signinButton.textContent = who ? `Вийти / Sign out (${who})` : 'Увійти / Sign in';
  tokenInput.hidden = Boolean(who);
  showTrace();
};
signin.addEventListener('submit', async (e) => {
  e.preventDefault();
  message.textContent = '';
  if (token) {
    token = '';
    sessionStorage.removeItem(tokenKey);
    showSignedIn('');
  } else {
    const t = tokenInput.value.trim();
    if (!t) {
      // On a phone the token field is folded away until asked for.
      signin.classList.add('open');
      tokenInput.focus();
      return;
    }
    const r = await fetch('/health', { headers: { Authorization: `Bearer ${t}` } });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) {
      message.textContent = body.error || `${r.status}`;
      return;
    }
    token = t;
    sessionStorage.setItem(tokenKey, t);
    tokenInput.value = '';
    signin.classList.remove('open');
    showSignedIn(`${body.layers} layers`);
  }
  window.citytwin.idle = false;
  window.citytwin.signedIn = Boolean(token);
  map.setStyle(`/styles/${styleName}.json`, { diff: false });
  markIdle();
});
if (token) showSignedIn('…');

styleSelect.addEventListener('change', () => {
  styleName = styleSelect.value;
  window.citytwin.idle = false;
  window.citytwin.style = styleName;
  map.setStyle(`/styles/${styleName}.json`);
  markIdle();
  const u = new URL(location.href);
  u.searchParams.set('style', styleName);
  history.replaceState(null, '', u);
});

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function describe(title, layer, props) {
  const rows = Object.entries(props)
    .filter(([k]) => !['number', 'status'].includes(k))
    .map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td>${escapeHtml(typeof v === 'object' ? JSON.stringify(v) : v)}</td></tr>`)
    .join('');
  const status = props.status ?? 'unknown';
  return `<div class="popup"><h3>${escapeHtml(title)}</h3>`
    + `<div>${escapeHtml(layer)} · <span class="status-${escapeHtml(status)}">${escapeHtml(status)}</span></div>`
    + `<table>${rows}</table></div>`;
}

map.on('click', (e) => {
  const hits = map.queryRenderedFeatures(e.point).filter((f) => f.source === 'citytwin' && f.sourceLayer !== 'streets');
  if (!hits.length) return;
  // The marker under the pointer wins over a neighbour's label drawn across it.
  const f = hits.find((h) => h.layer.type !== 'symbol') ?? hits[0];
  const p = f.properties;
  if (p.cluster) {
    map.fitBounds([[p.min_lon, p.min_lat], [p.max_lon, p.max_lat]], { padding: 60, maxZoom: 19 });
    return;
  }
  new maplibregl.Popup({ maxWidth: '320px' })
    .setLngLat(e.lngLat)
    .setHTML(describe(p.number ?? `#${f.id}`, f.sourceLayer, p))
    .addTo(map);
});

map.on('mousemove', (e) => {
  const over = map.queryRenderedFeatures(e.point).some((f) => f.source === 'citytwin' && f.sourceLayer !== 'streets');
  map.getCanvas().style.cursor = over ? 'pointer' : '';
});

document.getElementById('search').addEventListener('submit', async (e) => {
  e.preventDefault();
  const q = document.getElementById('q').value.trim();
  if (!q) return;
  message.textContent = '';
  const r = await fetch(`/objects/${encodeURIComponent(q)}`, { headers: authHeaders() });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    message.textContent = body.error || `${r.status}`;
    return;
  }
  const g = body.geometry;
  const at = g.type === 'Point' ? g.coordinates : g.coordinates[Math.floor(g.coordinates.length / 2)];
  const p = body.properties;
  window.citytwin.found = p.number;
  map.jumpTo({ center: at, zoom: Math.max(map.getZoom(), 18) });
  new maplibregl.Popup({ maxWidth: '320px' })
    .setLngLat(at)
    .setHTML(describe(p.number, p.layer, { status: p.status, ...p.attributes }))
    .addTo(map);
});

// Fibre traces (the engineers' map, for a role that reads the fibre layers): a path between
// two nodes, or what a cut leaves without a way to the core, drawn over the map from the
// GeoJSON the server answers with.
const trace = document.getElementById('trace');
const traceResult = document.getElementById('trace-result');
const TRACE_COLOURS = { path: '#1565c0', isolated: '#d50000', connected: '#2e7d32' };

function showTrace() {
  document.getElementById('trace').hidden = !(token && styleName === 'engineers');
}
showTrace();
styleSelect.addEventListener('change', showTrace);

function drawTrace(geojson) {
  window.citytwin.trace = geojson;
  const put = () => {
    if (map.getSource('trace')) {
      map.getSource('trace').setData(geojson);
      return;
    }
    map.addSource('trace', { type: 'geojson', data: geojson });
    const colour = ['match', ['get', 'role'], 'path', TRACE_COLOURS.path, 'isolated', TRACE_COLOURS.isolated, TRACE_COLOURS.connected];
    map.addLayer({ id: 'trace-spans', type: 'line', source: 'trace', filter: ['==', ['get', 'kind'], 'span'],
      paint: { 'line-color': colour, 'line-width': 6, 'line-opacity': 0.85 } });
    map.addLayer({ id: 'trace-nodes', type: 'circle', source: 'trace', filter: ['==', ['get', 'kind'], 'node'],
      paint: { 'circle-radius': 7, 'circle-color': colour, 'circle-stroke-color': '#fff', 'circle-stroke-width': 2 } });
    // Objects a dark node served (a camera, a Wi-Fi point): a ring around them.
    map.addLayer({ id: 'trace-served', type: 'circle', source: 'trace', filter: ['==', ['get', 'kind'], 'served'],
      paint: { 'circle-radius': 9, 'circle-color': 'rgba(0,0,0,0)', 'circle-stroke-color': TRACE_COLOURS.isolated, 'circle-stroke-width': 3 } });
  };
  if (map.isStyleLoaded()) put(); else map.once('idle', put);
  const pts = geojson.features.flatMap((f) => (f.geometry.type === 'Point' ? [f.geometry.coordinates] : f.geometry.coordinates));
  if (pts.length) {
    const b = pts.reduce((a, p) => [Math.min(a[0], p[0]), Math.min(a[1], p[1]), Math.max(a[2], p[0]), Math.max(a[3], p[1])], [180, 90, -180, -90]);
    map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 60, maxZoom: 17, duration: 0 });
  }
}

// Only the newest trace asked is drawn: an older answer that comes back later is dropped.
let traceSeq = 0;

async function askTrace(path) {
  const asked = ++traceSeq;
  traceResult.textContent = '…';
  const r = await fetch(path, { headers: authHeaders() });
  const body = await r.json().catch(() => ({}));
  if (asked !== traceSeq) return null;
  if (!r.ok) {
    traceResult.textContent = body.error || `${r.status}`;
    window.citytwin.traceError = traceResult.textContent;
    return null;
  }
  window.citytwin.traceError = null;
  drawTrace(body.geojson);
  return body;
}

trace.addEventListener('submit', async (e) => {
  e.preventDefault();
  const from = document.getElementById('trace-from').value.trim();
  const to = document.getElementById('trace-to').value.trim();
  if (!from || !to) return;
  const a = await askTrace(`/fibre/path?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
  if (a) traceResult.textContent = `${a.spans.length} прольотів / spans, ${Math.round(a.length_m)} м`;
});

document.getElementById('trace-cut').addEventListener('click', async () => {
  const span = document.getElementById('trace-span').value.trim();
  if (!span) return;
  const a = await askTrace(`/fibre/isolate?span=${encodeURIComponent(span)}`);
  if (a) {
    const counts = Object.entries(a.counts).map(([k, v]) => `${k} ${v}`).join(', ');
    traceResult.textContent = `згасне / goes dark: ${counts}`;
  }
});

document.getElementById('trace-clear').addEventListener('click', () => {
  drawTrace({ type: 'FeatureCollection', features: [] });
  traceResult.textContent = '';
});

// A style switch drops the overlay's layers: draw it again on the new style.
map.on('style.load', () => {
  if (window.citytwin.trace && window.citytwin.trace.features.length) {
    const g = window.citytwin.trace;
    window.citytwin.trace = null;
    drawTrace(g);
  }
});

// Live: a status changed by a report, a sensor or an edit is redrawn without a reload.
let redraw = null;
listen({
  headers: authHeaders,
  onEvent: (name) => {
    if (name !== 'object' && name !== 'reload') return;
    window.citytwin.events = (window.citytwin.events || 0) + 1;
    clearTimeout(redraw);
    redraw = setTimeout(() => refreshTiles(map), 200);
  },
  onState: (on) => { window.citytwin.live = on; },
});
