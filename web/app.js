// The citytwin map page: one of three styles, click an object for its number, layer, status and
// attributes, search by painted number. Everything is served by citytwin itself.
import * as maplibregl from '/assets/vendor/maplibre-gl/maplibre-gl.mjs';

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
