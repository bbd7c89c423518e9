// The 103/112 call-taker's page: the number a caller reads from a pole or a manhole — often
// misheard — becomes candidates while it is typed, and the chosen place comes with its
// address, Plus Code, the landmarks around it and a phrase for the crew. Ukrainian by default,
// English on request; every label comes from the dictionary `T`. Everything is served by
// citytwin itself; every request carries the dispatcher's token.
import * as maplibregl from '/assets/vendor/maplibre-gl/maplibre-gl.mjs';
import { api as request, el } from '/assets/common.js';

const COMPASS = {
  uk: ['північ', 'північний схід', 'схід', 'південний схід', 'південь', 'південний захід', 'захід', 'північний захід'],
  en: ['north', 'north-east', 'east', 'south-east', 'south', 'south-west', 'west', 'north-west'],
};

const T = {
  uk: {
    titleWord: 'Диспетчер', docTitle: 'Диспетчер 103/112 — citytwin', skip: 'Перейти до пошуку',
    newCall: 'Новий виклик', token: 'Токен доступу', tokenPlaceholder: 'Токен диспетчера',
    signIn: 'Увійти', signOut: 'Вийти',
    qLabel: 'Номер / адреса', qLabelLocate: 'Номери через кому (2–6)',
    qPlaceholder: 'ОП-104273-5 або вулиця, будинок', qPlaceholderLocate: 'ОП-104273-5, ЛК-…, …',
    qHint: '↑↓ — вибір кандидата, Enter — обрати, Esc — скасувати вибір',
    qHintLocate: 'Номери, які читає абонент, через кому; Enter — обрати місце',
    modeLocate: 'Кілька номерів', candidates: 'Кандидати',
    phrase: 'Фраза для бригади', copy: 'Копіювати фразу', copied: 'Скопійовано ✓',
    copyManual: 'Буфер обміну недоступний: фразу виділено — натисніть Ctrl+C',
    landmarks: 'Орієнтири поруч', noLandmarks: 'Поруч немає нумерованих орієнтирів.',
    loadingLandmarks: 'Шукаю орієнтири…',
    areaTitle: 'Район абонента', areaLabel: 'Район, вулиця або адреса абонента',
    areaPlaceholder: 'Район, вулиця, будинок — Enter', areaNone: 'Не задано: клацніть на мапі або введіть адресу.',
    areaClear: 'Очистити район', areaMarker: 'район абонента',
    areaMap: (p) => `Точка на мапі: ${p}`, areaUrl: (p) => `З посилання: ${p}`, areaFrom: (t, p) => `${t} (${p})`,
    areaNotFound: (q) => `Район «${q}» не знайдено`, areaSet: (t) => `Район абонента: ${t}`,
    areaCleared: 'Район абонента очищено',
    map: 'Мапа: кандидати, обране місце, район абонента. Клацання або Enter — район абонента',
    searching: 'Шукаю…', found: (n) => `Кандидатів: ${n}`, none: 'Нічого не знайдено: перепитайте номер',
    located: 'Місце за кількома номерами', locatedOption: (u) => `Місце абонента ±${u}`,
    locating: 'Визначаю місце…', locateNeeds: 'Введіть від 2 до 6 номерів через кому',
    checkOk: 'Контрольна цифра сходиться', checkNone: 'Контрольну цифру не названо',
    checkBad: 'Контрольна цифра НЕ сходиться: номер почуто або прочитано з помилкою',
    ambiguous: 'Неоднозначно — перепитайте номер або сусідній об’єкт',
    inconsistent: (l) => `Не сходяться з іншими: ${l} — перепитайте ці номери`,
    consistent: 'усі номери сходяться', notConsistent: 'не сходиться',
    conf: (p) => `${p}%`, fromArea: (d) => `${d} від району`, was: (n) => `було: ${n}`, near: (n, d) => `біля ${n}, ${d}`,
    number: 'Номер', layer: 'Тип', address: 'Адреса', plus: 'Плюс-код', coords: 'Координати',
    status: 'Стан', rule: 'Як знайдено', confidence: 'Впевненість', uncertainty: 'Точність',
    numbers: 'Номери', formerly: 'Стара назва', painted: 'Номер на об’єкті',
    mapTitle: 'Мапа', zoomIn: 'Збільшити', zoomOut: 'Зменшити', attribution: 'Джерела даних мапи',
    bearingLine: (d, b) => `${d} на ${b}`, within: (m) => `±${m}`,
    m: 'м', km: 'км',
    chosenSaid: (n) => `Обрано: ${n}`, cleared: 'Вибір скасовано', newCallStarted: 'Новий виклик: введіть номер',
    recorded: (s) => `записано №${s}`, recording: 'Записую виклик…',
    recordMissing: 'Виклик не записано: на сервері ще немає журналу викликів (/dispatch/calls, 404)',
    recordFailed: (s, e) => `Виклик не записано (${s}): ${e}`,
    signedIn: (n) => `Увійшли як диспетчер: шарів ${n}`, signedOut: 'Увійдіть з токеном диспетчера',
    needToken: 'Введіть токен диспетчера',
    e400: (e, f) => `Запит не прийнято${f ? ` (${f})` : ''}: ${e}`,
    e401: 'Токен недійсний або не введений — увійдіть як диспетчер',
    e403: 'Ця роль не має доступу до цих даних — потрібен токен диспетчера',
    e404: (e) => `Не знайдено: ${e}`, e429: 'Забагато запитів — зачекайте кілька секунд',
    eNet: 'Немає зв’язку з сервером', eOther: (s, e) => `Помилка сервера ${s}${e ? `: ${e}` : ''}`,
    lang: 'EN', langName: 'English',
    locPhrase: (l) => `Абонент${l.address ? ` біля ${l.address},` : ''} плюс-код ${l.plus_code} (${l.lat.toFixed(5)}, ${l.lon.toFixed(5)}), точність ±${Math.round(l.uncertainty_m)} м; поруч ${l.numbers}`,
    kindAddress: 'адреса',
    rules: {
      exact: 'точний збіг', source_number: 'номер із джерела даних', leading_zeros: 'без початкових нулів',
      no_check_digit: 'без контрольної цифри', misheard_digit: 'одну цифру почуто інакше (схожа на слух)',
      swapped_digits: 'переставлено дві сусідні цифри', one_digit_wrong: 'одна цифра інша',
      missing_or_extra_digit: 'пропущено або зайва цифра', two_digits_wrong: 'дві цифри інші (поруч з абонентом)',
      no_check_digit_one_wrong: 'без контрольної цифри, одна цифра інша', prefix: 'за початком номера',
      prefix_one_wrong: 'за початком номера, одна цифра інша', last_digits: 'за останніми цифрами',
      last_digits_with_check: 'за останніми цифрами з контрольною', address: 'адреса',
      address_other_letter: 'будинок з іншою літерою', address_nearby_house: 'сусідній будинок', street: 'вулиця',
      located: 'за кількома номерами',
    },
    layers: {
      poles: 'опора', manholes: 'люк', cameras: 'камера', shelters: 'укриття', wifi: 'точка Wi-Fi',
      trees: 'дерево', cabinets: 'шафа', fibre_nodes: 'колодязь', fibre_spans: 'проліт',
      addresses: 'адреса', streets: 'вулиця', barriers: 'перешкода',
    },
    statuses: { ok: 'справний', broken: 'пошкоджений', closed: 'закритий', removed: 'демонтований', unknown: 'невідомо', planned: 'запланований' },
  },
  en: {
    titleWord: 'Dispatcher', docTitle: 'Dispatcher 103/112 — citytwin', skip: 'Skip to the search',
    newCall: 'New call', token: 'Access token', tokenPlaceholder: 'Dispatcher token',
    signIn: 'Sign in', signOut: 'Sign out',
    qLabel: 'Number / address', qLabelLocate: 'Numbers, comma-separated (2–6)',
    qPlaceholder: 'ОП-104273-5 or street, house', qPlaceholderLocate: 'ОП-104273-5, ЛК-…, …',
    qHint: '↑↓ select a candidate, Enter choose, Esc clear the choice',
    qHintLocate: 'The numbers the caller reads, comma-separated; Enter chooses the place',
    modeLocate: 'Several numbers', candidates: 'Candidates',
    phrase: 'Phrase for the crew', copy: 'Copy the phrase', copied: 'Copied ✓',
    copyManual: 'Clipboard refused: the phrase is selected — press Ctrl+C',
    landmarks: 'Landmarks nearby', noLandmarks: 'No numbered landmarks nearby.',
    loadingLandmarks: 'Looking for landmarks…',
    areaTitle: 'Caller’s area', areaLabel: 'District, street or address of the caller',
    areaPlaceholder: 'District, street, house — Enter', areaNone: 'Not set: click the map or type an address.',
    areaClear: 'Clear the area', areaMarker: 'caller’s area',
    areaMap: (p) => `Point on the map: ${p}`, areaUrl: (p) => `From the link: ${p}`, areaFrom: (t, p) => `${t} (${p})`,
    areaNotFound: (q) => `Area “${q}” not found`, areaSet: (t) => `Caller’s area: ${t}`,
    areaCleared: 'Caller’s area cleared',
    map: 'Map: candidates, the chosen place, the caller’s area. Click or Enter sets the caller’s area',
    searching: 'Searching…', found: (n) => `Candidates: ${n}`, none: 'Nothing found: ask for the number again',
    located: 'Place from several numbers', locatedOption: (u) => `Caller’s place ±${u}`,
    locating: 'Locating…', locateNeeds: 'Type 2 to 6 numbers, comma-separated',
    checkOk: 'Check digit fits', checkNone: 'No check digit given',
    checkBad: 'Check digit does NOT fit: the number was misheard or misread',
    ambiguous: 'Ambiguous — ask again for the number or the object next to it',
    inconsistent: (l) => `Do not fit with the others: ${l} — ask for these again`,
    consistent: 'all numbers fit', notConsistent: 'does not fit',
    conf: (p) => `${p}%`, fromArea: (d) => `${d} from the area`, was: (n) => `formerly: ${n}`, near: (n, d) => `by ${n}, ${d}`,
    number: 'Number', layer: 'Kind', address: 'Address', plus: 'Plus Code', coords: 'Coordinates',
    status: 'Status', rule: 'Found as', confidence: 'Confidence', uncertainty: 'Accuracy',
    numbers: 'Numbers', formerly: 'Former name', painted: 'Painted number',
    mapTitle: 'Map', zoomIn: 'Zoom in', zoomOut: 'Zoom out', attribution: 'Map data sources',
    bearingLine: (d, b) => `${d} ${b}`, within: (m) => `±${m}`,
    m: 'm', km: 'km',
    chosenSaid: (n) => `Chosen: ${n}`, cleared: 'Choice cleared', newCallStarted: 'New call: type the number',
    recorded: (s) => `recorded №${s}`, recording: 'Recording the call…',
    recordMissing: 'Call not recorded: the server has no call log yet (/dispatch/calls, 404)',
    recordFailed: (s, e) => `Call not recorded (${s}): ${e}`,
    signedIn: (n) => `Signed in as a dispatcher: ${n} layers`, signedOut: 'Sign in with a dispatcher token',
    needToken: 'Type the dispatcher token',
    e400: (e, f) => `Request refused${f ? ` (${f})` : ''}: ${e}`,
    e401: 'The token is not valid or not given — sign in as a dispatcher',
    e403: 'This role may not read these data — a dispatcher token is needed',
    e404: (e) => `Not found: ${e}`, e429: 'Too many requests — wait a few seconds',
    eNet: 'No connection to the server', eOther: (s, e) => `Server error ${s}${e ? `: ${e}` : ''}`,
    lang: 'УК', langName: 'Українська',
    locPhrase: (l) => `Caller${l.address ? ` near ${l.address},` : ''} plus code ${l.plus_code} (${l.lat.toFixed(5)}, ${l.lon.toFixed(5)}), within ${Math.round(l.uncertainty_m)} m; nearby ${l.numbers}`,
    kindAddress: 'address',
    rules: {
      exact: 'exact match', source_number: 'the data source’s number', leading_zeros: 'leading zeros left out',
      no_check_digit: 'check digit left out', misheard_digit: 'one digit misheard (sounds alike)',
      swapped_digits: 'two adjacent digits swapped', one_digit_wrong: 'one digit wrong',
      missing_or_extra_digit: 'a digit missing or extra', two_digits_wrong: 'two digits wrong (near the caller)',
      no_check_digit_one_wrong: 'check digit left out, one digit wrong', prefix: 'by the start of the number',
      prefix_one_wrong: 'by the start of the number, one digit wrong', last_digits: 'by the last digits',
      last_digits_with_check: 'by the last digits and the check digit', address: 'address',
      address_other_letter: 'the house with another letter', address_nearby_house: 'a house next to it', street: 'street',
      located: 'from several numbers',
    },
    layers: {
      poles: 'pole', manholes: 'manhole', cameras: 'camera', shelters: 'shelter', wifi: 'Wi-Fi point',
      trees: 'tree', cabinets: 'street cabinet', fibre_nodes: 'fibre node', fibre_spans: 'fibre span',
      addresses: 'address', streets: 'street', barriers: 'barrier',
    },
    statuses: { ok: 'ok', broken: 'broken', closed: 'closed', removed: 'removed', unknown: 'unknown', planned: 'planned' },
  },
};

const $ = (id) => document.getElementById(id);
const qInput = $('q');
const list = $('candidates');
const TOKEN_KEY = 'citytwin-token';
const MAX_QUERIES = 200;

// Everything the page knows; also what tests read (window.citytwinDispatch).
const state = {
  ready: false, map: null, answer: null, located: null, chosen: null, area: null, lastRecord: null,
  recordError: null, queries: [], callStart: performance.now(), sel: -1, settled: '', lang: 'uk',
  signedIn: null, copied: null, aborted: 0,
};
window.citytwinDispatch = state;

let lang = localStorage.getItem('citytwin-lang') === 'en' ? 'en' : 'uk';
state.lang = lang;
const t = () => T[lang];

// The token: from `#token=…` once (then gone from the URL), else this tab's session.
let token = sessionStorage.getItem(TOKEN_KEY) || '';
const hash = new URLSearchParams(location.hash.slice(1));
if (hash.get('token')) {
  token = hash.get('token');
  sessionStorage.setItem(TOKEN_KEY, token);
}
const hashNear = hash.get('near');
if (hash.has('token')) {
  hash.delete('token');
  const rest = hash.toString();
  history.replaceState(null, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`);
}
const auth = () => (token ? { Authorization: `Bearer ${token}` } : {});
const ownUrl = (u) => new URL(u, location.href).origin === location.origin;

// ---------------------------------------------------------------------------------------------
// Requests: never thrown to the console; an error is an answer with its status and body.

function api(path, options = {}) {
  return request(path, { ...options, headers: auth() });
}

function errorText(res) {
  const L = t();
  const b = res.body || {};
  const e = typeof b.error === 'string' ? b.error : '';
  switch (res.status) {
    case 0: return L.eNet;
    // The server's reason often starts with the field already ("q: no digits …").
    case 400: case 422: return L.e400(e, b.field && !e.startsWith(`${b.field}:`) ? b.field : null);
    case 401: return L.e401;
    case 403: return L.e403;
    case 404: return L.e404(e);
    case 429: return L.e429;
    default: return L.eOther(res.status, e);
  }
}

// The status line: what was said last, said again in the other language on a switch.
let status = { text: () => '', warn: false };
function say(text, warn = false) {
  status = { text: typeof text === 'function' ? text : () => text, warn };
  $('status').textContent = status.text();
  $('status').classList.toggle('warn', warn);
}

// ---------------------------------------------------------------------------------------------
// Formatting.

const esc = (s) => String(s ?? '');
function metres(m) {
  const L = t();
  if (m === null || m === undefined || !Number.isFinite(m)) return '';
  return m < 1000 ? `${Math.round(m)} ${L.m}` : `${(m / 1000).toFixed(1)} ${L.km}`;
}
const coord = (lat, lon) => `${lat.toFixed(5)}, ${lon.toFixed(5)}`;
const layerName = (l) => t().layers[l] || l || '';
const ruleName = (r) => t().rules[r] || (r || '').replace(/_/g, ' ');
const statusName = (s) => t().statuses[s] || s;
// Broken, removed or closed is said loudly; not yet surveyed (`unknown`) quietly.
const statusClass = (s) => (['broken', 'removed', 'closed'].includes(s) ? 'bad' : s === 'ok' ? null : 'muted');
const shownNumber = (c) => (lang === 'en' && c.number_latin ? c.number_latin : c.number);
const title = (c) => (c.kind === 'address' ? c.address || c.number : shownNumber(c)) || '';
function bearingDeg(from, to) {
  const r = Math.PI / 180;
  const [la1, la2] = [from[1] * r, to[1] * r];
  const dl = (to[0] - from[0]) * r;
  const y = Math.sin(dl) * Math.cos(la2);
  const x = Math.cos(la1) * Math.sin(la2) - Math.sin(la1) * Math.cos(la2) * Math.cos(dl);
  return ((Math.atan2(y, x) / r) + 360) % 360;
}
const compass = (deg) => COMPASS[lang][Math.floor(((deg % 360) + 22.5) / 45) % 8];
function distanceM(a, b) {
  const r = 6371008.8; const k = Math.PI / 180;
  const h = Math.sin(((b[1] - a[1]) * k) / 2) ** 2
    + Math.cos(a[1] * k) * Math.cos(b[1] * k) * Math.sin(((b[0] - a[0]) * k) / 2) ** 2;
  return 2 * r * Math.asin(Math.sqrt(h));
}
// The language of a text the server wrote (its notes are English today).
const langOf = (s) => (/[а-яіїєґ]/i.test(s) ? 'uk' : 'en');

// ---------------------------------------------------------------------------------------------
// The map.

const EMPTY = { type: 'FeatureCollection', features: [] };
const map = new maplibregl.Map({
  container: 'map',
  style: '/styles/dispatcher.json',
  transformRequest: (url) => (token && ownUrl(url) ? { url, headers: auth() } : { url }),
  attributionControl: { compact: true },
  // Labels appear at once: a number must never be read half-faded.
  fadeDuration: 0,
  locale: { 'Map.Title': T[lang].mapTitle, 'NavigationControl.ZoomIn': T[lang].zoomIn,
    'NavigationControl.ZoomOut': T[lang].zoomOut, 'AttributionControl.ToggleAttribution': T[lang].attribution },
});
state.map = map;
map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'bottom-right');
// The map's own labels in the page's language.
function localizeMap() {
  const L = t();
  const set = (sel, text) => {
    for (const e of document.querySelectorAll(`#map ${sel}`)) {
      e.setAttribute('aria-label', text);
      if (e.tagName === 'BUTTON') e.title = text;
    }
  };
  set('.maplibregl-canvas', L.mapTitle);
  set('.maplibregl-ctrl-zoom-in', L.zoomIn);
  set('.maplibregl-ctrl-zoom-out', L.zoomOut);
  set('.maplibregl-ctrl-attrib-button', L.attribution);
}
const FONT = ['DejaVu Sans'];

function addOverlays() {
  if (map.getSource('dz-cands')) return;
  for (const s of ['dz-uncert', 'dz-area', 'dz-lms', 'dz-cands']) map.addSource(s, { type: 'geojson', data: EMPTY });
  map.addLayer({ id: 'dz-uncert-fill', type: 'fill', source: 'dz-uncert', paint: { 'fill-color': '#1565c0', 'fill-opacity': 0.12 } });
  map.addLayer({ id: 'dz-uncert-line', type: 'line', source: 'dz-uncert', paint: { 'line-color': '#1565c0', 'line-width': 2, 'line-dasharray': [2, 1] } });
  map.addLayer({ id: 'dz-area', type: 'circle', source: 'dz-area', paint: {
    'circle-radius': 8, 'circle-color': '#ff6f00', 'circle-stroke-color': '#ffffff', 'circle-stroke-width': 3 } });
  map.addLayer({ id: 'dz-area-label', type: 'symbol', source: 'dz-area', layout: {
    'text-field': ['get', 'label'], 'text-font': FONT, 'text-size': 12, 'text-offset': [0, -1.3], 'text-anchor': 'bottom' },
  paint: { 'text-color': '#8a3b00', 'text-halo-color': '#ffffff', 'text-halo-width': 2 } });
  map.addLayer({ id: 'dz-lms', type: 'circle', source: 'dz-lms', paint: {
    'circle-radius': 5,
    'circle-color': ['case', ['==', ['get', 'fits'], false], '#c62828', '#6a1b9a'],
    'circle-stroke-color': '#ffffff', 'circle-stroke-width': 1.5 } });
  map.addLayer({ id: 'dz-lms-label', type: 'symbol', source: 'dz-lms', layout: {
    'text-field': ['get', 'label'], 'text-font': FONT, 'text-size': 11, 'text-offset': [0, 0.9], 'text-anchor': 'top' },
  paint: { 'text-color': ['case', ['==', ['get', 'fits'], false], '#b71c1c', '#4a148c'], 'text-halo-color': '#ffffff', 'text-halo-width': 2 } });
  // The selected and the chosen candidate in a ring of their own: the city's objects are
  // drawn in colours of their own, and the one meant must not pass for one of them.
  map.addLayer({ id: 'dz-cands-ring', type: 'circle', source: 'dz-cands', filter: ['any', ['get', 'sel'], ['get', 'chosen']], paint: {
    'circle-radius': 17, 'circle-color': 'rgba(213, 0, 0, 0.14)', 'circle-stroke-color': '#d50000', 'circle-stroke-width': 3 } });
  map.addLayer({ id: 'dz-cands', type: 'circle', source: 'dz-cands', layout: { 'circle-sort-key': ['-', 100, ['get', 'order']] }, paint: {
    'circle-radius': ['case', ['any', ['get', 'chosen'], ['get', 'sel']], 9, 7],
    'circle-color': ['case', ['any', ['get', 'chosen'], ['get', 'sel']], '#d50000', '#1a237e'],
    'circle-stroke-color': '#ffffff', 'circle-stroke-width': 2.5 } });
  map.addLayer({ id: 'dz-cands-label', type: 'symbol', source: 'dz-cands', layout: {
    'text-field': ['get', 'label'], 'text-font': FONT, 'text-size': ['case', ['get', 'sel'], 14, 12],
    'text-offset': [0, 1.5], 'text-anchor': 'top', 'symbol-sort-key': ['get', 'order'] },
  paint: { 'text-color': ['case', ['get', 'sel'], '#b71c1c', '#1a237e'], 'text-halo-color': '#ffffff', 'text-halo-width': 2.5 } });
  drawMap();
}
map.on('style.load', addOverlays);

const point = (lon, lat, props) => ({ type: 'Feature', geometry: { type: 'Point', coordinates: [lon, lat] }, properties: props });
function circlePolygon(lon, lat, r) {
  const ring = [];
  const k = 111195;
  for (let i = 0; i <= 64; i += 1) {
    const a = (i / 64) * 2 * Math.PI;
    ring.push([lon + (r * Math.sin(a)) / (k * Math.cos((lat * Math.PI) / 180)), lat + (r * Math.cos(a)) / k]);
  }
  return { type: 'Feature', geometry: { type: 'Polygon', coordinates: [ring] }, properties: {} };
}
const setData = (id, data) => map.getSource(id)?.setData(data);

// What the map shows: the candidates (or the located place), the chosen one's landmarks, the
// caller's area.
function drawMap() {
  const items = options();
  setData('dz-cands', { type: 'FeatureCollection', features: items.map((c, i) => point(c.lon, c.lat, {
    i, label: c.kind === 'located' ? t().within(metres(c.uncertainty_m)) : title(c), sel: i === state.sel,
    chosen: Boolean(state.chosen && sameChoice(state.chosen, c)), order: i === state.sel ? 0 : i + 1 })) });
  const lms = state.chosen?.landmarks || (state.located && !state.chosen ? state.located.landmarks : null) || [];
  setData('dz-lms', { type: 'FeatureCollection', features: lms.map((l) => point(l.lon, l.lat, {
    label: lang === 'en' && l.number_latin ? l.number_latin : l.number, fits: l.consistent !== false })) });
  const loc = state.chosen?.kind === 'located' ? state.chosen : (state.located && isLocate() ? state.located : null);
  setData('dz-uncert', loc ? { type: 'FeatureCollection', features: [circlePolygon(loc.lon, loc.lat, Math.max(loc.uncertainty_m, 5))] } : EMPTY);
  setData('dz-area', state.area ? { type: 'FeatureCollection', features: [point(state.area.lon, state.area.lat, { label: t().areaMarker })] } : EMPTY);
}

// Fits the view to some positions (and a radius around the first, for the located place).
function fit(points, maxZoom = 17, radius = 0) {
  if (!points.length) return;
  let b = points.reduce((a, p) => [Math.min(a[0], p[0]), Math.min(a[1], p[1]), Math.max(a[2], p[0]), Math.max(a[3], p[1])], [180, 90, -180, -90]);
  if (radius > 0) {
    const [lon, lat] = points[0];
    const dy = radius / 111195; const dx = radius / (111195 * Math.cos((lat * Math.PI) / 180));
    b = [Math.min(b[0], lon - dx), Math.min(b[1], lat - dy), Math.max(b[2], lon + dx), Math.max(b[3], lat + dy)];
  }
  map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: viewPadding(), maxZoom, duration: 0 });
}

// Room around what the view fits: on a phone the panel lies over the top of the map.
function viewPadding() {
  const m = map.getContainer().getBoundingClientRect();
  const panel = $('panel');
  const p = panel.getBoundingClientRect();
  const pad = m.width < 500 ? 32 : 64;
  const over = getComputedStyle(panel).position === 'absolute' ? Math.max(0, p.bottom - m.top) : 0;
  const top = Math.max(pad, Math.min(over + pad, m.height - pad - 90));
  return { top, bottom: pad, left: pad, right: pad + 16 };
}

map.on('click', (e) => {
  const hit = map.getLayer('dz-cands') ? map.queryRenderedFeatures(e.point, { layers: ['dz-cands'] })[0] : null;
  if (hit) {
    const i = Number(hit.properties.i);
    select(i);
    choose(options()[i]);
    return;
  }
  setArea({ lat: e.lngLat.lat, lon: e.lngLat.lng, from: 'map' });
});
map.on('mousemove', (e) => {
  const over = map.getLayer('dz-cands') && map.queryRenderedFeatures(e.point, { layers: ['dz-cands'] }).length > 0;
  map.getCanvas().style.cursor = over ? 'pointer' : '';
});
// The keyboard's way to the same: Enter on the focused map sets the caller's area at its centre.
map.getCanvas().addEventListener('keydown', (e) => {
  if (e.key !== 'Enter') return;
  e.preventDefault();
  const c = map.getCenter();
  setArea({ lat: c.lat, lon: c.lng, from: 'map' });
});

// ---------------------------------------------------------------------------------------------
// The call: queries typed, the choice recorded.

function logQuery(q, near) {
  // The record keeps queries of at most 100 characters (the server refuses longer ones).
  q = Array.from(q).slice(0, 100).join('');
  state.queries.push({ q, t_ms: Math.round(performance.now() - state.callStart), near });
  if (state.queries.length > MAX_QUERIES) state.queries.splice(0, state.queries.length - MAX_QUERIES);
}

// Which call an answer belongs to: "New call" starts the next, and an answer that comes back
// after it (a slow record, a slow area search) is dropped.
let callId = 0;

async function record(c) {
  const call = callId;
  const near = state.area ? [state.area.lat, state.area.lon] : null;
  // A located place: its numbers, and the share of them that fit together as its confidence.
  const n = (c.landmarks || []).length;
  const chosen = c.kind === 'located'
    ? { kind: 'located', number: c.numbers, layer: '', lon: c.lon, lat: c.lat, rule: 'located',
      confidence: n ? (n - (c.inconsistent || []).length) / n : 0 }
    : { kind: c.kind || 'object', number: c.number || c.address || '', layer: c.layer || '', lon: c.lon, lat: c.lat,
      rule: c.rule || '', confidence: Math.min(1, Math.max(0, Number(c.confidence) || 0)) };
  const body = { queries: state.queries.slice(-MAX_QUERIES), near, chosen, lang };
  state.recordError = null;
  const res = await api('/dispatch/calls', { method: 'POST', body });
  if (call !== callId) return;
  if (res && res.ok && Number.isFinite(res.body.seq)) {
    state.lastRecord = { seq: res.body.seq, hash: res.body.hash };
    const n = res.body.seq;
    const was = status.text;
    say(() => `${was()} · ${t().recorded(n)}`);
    return;
  }
  state.lastRecord = null;
  const r = res || { ok: false, status: 0, body: {} };
  state.recordError = { status: r.status, error: r.body?.error || '' };
  const was = status.text;
  say(() => `${was()} · ${r.status === 404 ? t().recordMissing : t().recordFailed(r.status || '—', errorText(r))}`, true);
}

// ---------------------------------------------------------------------------------------------
// Asking: every keystroke (debounced), newest answer wins, superseded requests aborted.

let timer = 0;
let seq = 0;
let applied = 0;
let inflight = null;
let chooseWhenSettled = false;
const isLocate = () => $('mode-locate').checked;
const locateNumbers = (text) => text.split(/[,;]/).map((s) => s.trim()).filter(Boolean);
function worthAsking(text) {
  if (isLocate()) {
    const ns = locateNumbers(text);
    return ns.length >= 2 && ns.length <= 6 && ns.every((n) => /\d/.test(n));
  }
  // A digit, or a street name's first letters: a layer word alone ("ОП") answers nothing.
  return /\d/.test(text) || (text.match(/\p{L}/gu) || []).length >= 3;
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(() => ask(qInput.value), 100);
}

async function ask(raw) {
  clearTimeout(timer);
  const text = raw.trim();
  const my = ++seq;
  if (inflight) {
    inflight.abort();
    state.aborted += 1;
    inflight = null;
  }
  if (!worthAsking(text)) {
    applied = my;
    state.answer = null;
    state.located = null;
    state.sel = -1;
    render();
    if (text && isLocate()) say(t().locateNeeds); else say('');
    state.settled = raw;
    chooseWhenSettled = false;
    return;
  }
  const ctl = new AbortController();
  inflight = ctl;
  const near = state.area ? [state.area.lat, state.area.lon] : null;
  const locate = isLocate();
  const url = locate
    ? `/locate?numbers=${encodeURIComponent(locateNumbers(text).join(','))}`
    : `/resolve?q=${encodeURIComponent(text)}&limit=8${near ? `&near=${near[0].toFixed(6)},${near[1].toFixed(6)}` : ''}`;
  logQuery(text, locate ? null : near);
  say(locate ? t().locating : t().searching);
  const res = await api(url, { signal: ctl.signal });
  if (inflight === ctl) inflight = null;
  if (!res || my <= applied) return; // aborted, or older than what is shown
  applied = my;
  state.sel = -1;
  if (!res.ok) {
    state.answer = null;
    state.located = null;
    render();
    // A street name being typed is not yet an error worth a warning.
    say(() => errorText(res), !(res.status === 400 && !/\d/.test(text)));
  } else if (locate) {
    state.answer = null;
    state.located = { ...res.body, kind: 'located', numbers: (res.body.landmarks || []).map((l) => l.number).join(', ') || locateNumbers(text).join(', ') };
    state.sel = 0;
    render();
    fit([[res.body.lon, res.body.lat], ...(res.body.landmarks || []).map((l) => [l.lon, l.lat])], 17, res.body.uncertainty_m);
    say(() => `${t().located}: ${t().within(metres(res.body.uncertainty_m))}`, !res.body.consistent);
  } else {
    state.located = null;
    state.answer = res.body;
    const cs = res.body.candidates || [];
    state.sel = cs.length ? 0 : -1;
    render();
    if (cs.length) {
      const pts = cs.map((c) => [c.lon, c.lat]);
      if (state.area) pts.push([state.area.lon, state.area.lat]);
      fit(pts, 17);
    }
    say(() => (cs.length ? t().found(cs.length) : t().none), !cs.length || res.body.ambiguous || res.body.check_digit_ok === false);
  }
  state.settled = raw;
  const pick = chooseWhenSettled && raw === qInput.value;
  chooseWhenSettled = false;
  if (pick && state.sel >= 0) choose(options()[state.sel]);
}

// The listbox's options: the candidates, or the one located place.
function options() {
  if (state.located) return [state.located];
  return state.answer?.candidates || [];
}
function sameChoice(a, b) {
  return a.kind === b.kind && a.number === b.number && a.lon === b.lon && a.lat === b.lat;
}

// ---------------------------------------------------------------------------------------------
// Drawing the panel.

function render() {
  renderBanners();
  renderList();
  renderChosen();
  renderArea();
  drawMap();
}

function show(id, text, warn) {
  const e = $(id);
  e.hidden = !text;
  e.textContent = text || '';
  if (warn !== undefined) e.classList.toggle('warn', warn);
}

function renderBanners() {
  const L = t();
  const a = state.answer;
  const lo = state.located;
  show('check', a && a.check_digit_ok === false ? L.checkBad
    : a && a.check_digit_ok === true ? L.checkOk
      : a && a.check_digit_ok === null && /\d/.test(a.normalized || '') && (a.candidates || []).some((c) => c.kind !== 'address') ? L.checkNone : '',
  Boolean(a && a.check_digit_ok === false));
  $('check').classList.toggle('ok', Boolean(a && a.check_digit_ok === true));
  show('ambiguous', a && a.ambiguous ? L.ambiguous : '');
  show('inconsistent', lo && lo.inconsistent && lo.inconsistent.length ? L.inconsistent(lo.inconsistent.join(', ')) : '');
  const ans = a || lo;
  const note = (ans && state.lang === 'uk' && ans.note_uk) || ans?.note || '';
  show('note', note);
  $('note').lang = langOf(note);
}

function optionRow(c, i) {
  const L = t();
  const selected = i === state.sel;
  const li = el('li', { role: 'option', id: `cand-${i}`, 'aria-selected': selected ? 'true' : 'false', class: selected ? 'sel' : null });
  if (c.kind === 'located') {
    li.append(
      el('div', { class: 'line1' }, el('span', { class: 'num' }, L.locatedOption(metres(c.uncertainty_m)))),
      el('div', { class: 'line2' }, c.address ? `${c.address}${c.address_distance_m != null ? `, ${metres(c.address_distance_m)}` : ''}` : c.plus_code),
      el('div', { class: c.consistent ? 'line3' : 'line3 bad' }, c.consistent ? L.consistent : L.inconsistent(c.inconsistent.join(', '))),
    );
  } else {
    const pct = Math.round((c.confidence || 0) * 100);
    li.append(el('div', { class: 'line1' },
      el('span', { class: 'num' }, title(c)),
      el('span', { class: 'layer' }, c.kind === 'address' ? L.kindAddress : layerName(c.layer)),
      el('span', { class: 'conf', title: L.confidence }, L.conf(pct))));
    const where = [];
    if (c.distance_m != null) where.push(L.fromArea(metres(c.distance_m)));
    if (c.kind === 'address') {
      // Places of the same name told apart by the landmark next to them and the Plus Code.
      const l = (c.landmarks || [])[0];
      if (l) where.push(L.near(lang === 'en' && l.number_latin ? l.number_latin : l.number, metres(l.distance_m)));
      if (c.plus_code) where.push(c.plus_code);
    } else if (c.address) {
      where.push(`${c.address}${c.address_distance_m != null ? `, ${metres(c.address_distance_m)}` : ''}`);
    }
    if (where.length) li.append(el('div', { class: 'line2' }, where.join(' · ')));
    const how = el('div', { class: 'line3' });
    const words = [];
    if (!(c.kind === 'address' && c.rule === 'address')) words.push(ruleName(c.rule));
    if (words.length) how.append(words.join(' · '));
    if (c.matched_name) {
      if (how.childNodes.length) how.append(' · ');
      how.append(el('span', { class: 'was' }, L.was(c.matched_name)));
    }
    if (c.kind !== 'address' && c.status && c.status !== 'ok') {
      if (how.childNodes.length) how.append(' · ');
      how.append(el('span', { class: statusClass(c.status) }, statusName(c.status)));
    }
    if (how.childNodes.length) li.append(how);
  }
  li.addEventListener('mousedown', (e) => e.preventDefault()); // the input keeps the focus
  li.addEventListener('click', () => {
    select(i);
    choose(c);
  });
  return li;
}

function renderList() {
  const items = options();
  list.replaceChildren(...items.map(optionRow));
  list.hidden = items.length === 0;
  qInput.setAttribute('aria-expanded', items.length ? 'true' : 'false');
  if (state.sel >= 0 && state.sel < items.length) qInput.setAttribute('aria-activedescendant', `cand-${state.sel}`);
  else qInput.removeAttribute('aria-activedescendant');
}

function select(i) {
  const n = options().length;
  if (!n) return;
  state.sel = ((i % n) + n) % n;
  for (const li of list.children) {
    const on = li.id === `cand-${state.sel}`;
    li.setAttribute('aria-selected', on ? 'true' : 'false');
    li.classList.toggle('sel', on);
    if (on) li.scrollIntoView({ block: 'nearest' });
  }
  qInput.setAttribute('aria-activedescendant', `cand-${state.sel}`);
  drawMap();
}

function fact(dl, name, value, cls) {
  if (value === null || value === undefined || value === '') return;
  dl.append(el('dt', {}, name), el('dd', { class: cls }, value));
}

function phraseOf(c) {
  if (!c) return '';
  if (c.kind === 'located') return T[lang].locPhrase(c);
  return (lang === 'en' ? c.phrase_en : c.phrase_uk) || c.phrase_uk || c.phrase_en || '';
}

function renderChosen() {
  const c = state.chosen;
  const box = $('chosen');
  box.hidden = !c;
  if (!c) return;
  const L = t();
  const dl = $('chosen-facts');
  dl.replaceChildren();
  if (c.kind === 'located') {
    $('chosen-title').textContent = L.located;
    $('chosen-sub').textContent = `${L.within(metres(c.uncertainty_m))} · ${c.consistent ? L.consistent : L.inconsistent(c.inconsistent.join(', '))}`;
    $('chosen-sub').classList.toggle('bad', !c.consistent);
    fact(dl, L.address, c.address ? `${c.address}${c.address_distance_m != null ? `, ${metres(c.address_distance_m)}` : ''}` : null);
    fact(dl, L.uncertainty, L.within(metres(c.uncertainty_m)));
  } else {
    const name = c.kind === 'address' ? L.kindAddress : layerName(c.layer);
    $('chosen-title').textContent = c.kind === 'address' ? title(c) : `${name.charAt(0).toUpperCase()}${name.slice(1)} ${shownNumber(c)}`;
    const sub = [L.conf(Math.round((c.confidence || 0) * 100))];
    if (!(c.kind === 'address' && c.rule === 'address')) sub.push(ruleName(c.rule));
    if (c.distance_m != null) sub.push(L.fromArea(metres(c.distance_m)));
    $('chosen-sub').textContent = sub.join(' · ');
    $('chosen-sub').classList.remove('bad');
    if (c.kind !== 'address') {
      // The title has the number as the page's language writes it; the crew sees it painted.
      if (lang === 'en' && c.number_latin && c.number_latin !== c.number) fact(dl, L.painted, c.number, 'num');
      fact(dl, L.address, c.address ? `${c.address}${c.address_distance_m != null ? `, ${metres(c.address_distance_m)}` : ''}` : null);
    }
    fact(dl, L.formerly, c.matched_name);
  }
  fact(dl, L.plus, c.plus_code, 'num');
  fact(dl, L.coords, coord(c.lat, c.lon), 'num');
  if (c.status && c.kind !== 'address') fact(dl, L.status, statusName(c.status), statusClass(c.status));
  $('phrase').textContent = phraseOf(c);
  $('phrase').lang = lang;
  $('copied').textContent = state.copied === phraseOf(c) ? L.copied : '';
  const ol = $('landmarks');
  ol.replaceChildren();
  if (!c.landmarks) {
    ol.append(el('li', { class: 'muted' }, L.loadingLandmarks));
  } else if (!c.landmarks.length) {
    ol.append(el('li', { class: 'muted' }, L.noLandmarks));
  }
  for (const l of c.landmarks || []) {
    const deg = Number.isFinite(l.bearing_deg) ? l.bearing_deg : bearingDeg([c.lon, c.lat], [l.lon, l.lat]);
    const words = lang === 'uk' ? (l.bearing_uk || compass(deg)) : (l.bearing || compass(deg));
    const d = Number.isFinite(l.distance_m) ? l.distance_m : distanceM([c.lon, c.lat], [l.lon, l.lat]);
    const li = el('li', { class: l.consistent === false ? 'bad' : null },
      el('span', { class: 'num' }, lang === 'en' && l.number_latin ? l.number_latin : l.number), ' ',
      el('span', { class: 'layer' }, layerName(l.layer)), ' — ',
      el('span', { class: 'bearing', 'data-deg': Math.round(deg) }, L.bearingLine(metres(d), words)));
    if (l.asked && l.asked !== l.number) li.append(` (${l.asked})`);
    if (l.consistent === false) li.append(' · ', L.notConsistent);
    if (l.status && ['broken', 'removed', 'closed'].includes(l.status)) li.append(' · ', el('span', { class: 'bad' }, statusName(l.status)));
    ol.append(li);
  }
}

function renderArea() {
  const L = t();
  const a = state.area;
  const p = a ? coord(a.lat, a.lon) : '';
  $('area-text').textContent = !a ? L.areaNone
    : a.from === 'map' ? L.areaMap(p) : a.from === 'url' ? L.areaUrl(p) : L.areaFrom(a.label, p);
  $('area-clear').hidden = !a;
}

// ---------------------------------------------------------------------------------------------
// Choosing.

async function choose(c) {
  if (!c) return;
  const chosen = { ...c, landmarks: c.kind === 'address' || c.kind === 'located' ? (c.landmarks || []) : null };
  state.chosen = chosen;
  state.copied = null;
  render();
  say(() => t().chosenSaid(c.kind === 'located' ? t().located : title(c)));
  showCard();
  fit([[c.lon, c.lat], ...(chosen.landmarks || []).map((l) => [l.lon, l.lat])], 18, c.kind === 'located' ? c.uncertainty_m : 0);
  const saving = record(c);
  if (chosen.landmarks === null) {
    const res = await api(`/nearest?lat=${c.lat}&lon=${c.lon}&k=6`);
    if (state.chosen !== chosen) return;
    if (res && res.ok) {
      chosen.landmarks = (res.body.landmarks || []).filter((l) => l.number !== c.number);
      renderChosen();
      showCard();
      drawMap();
      fit([[c.lon, c.lat], ...chosen.landmarks.map((l) => [l.lon, l.lat])], 18);
    } else if (res) {
      chosen.landmarks = [];
      renderChosen();
      await saving;
      const was = status.text;
      say(() => `${was()} · ${errorText(res)}`, true);
    }
  }
}

// The card in the panel's view, below the search that stays on top.
function showCard() {
  const panel = $('panel');
  panel.style.scrollPaddingTop = `${$('top').offsetHeight + 8}px`;
  $('chosen').scrollIntoView({ block: 'nearest' });
}

function clearChoice() {
  if (!state.chosen) return;
  state.chosen = null;
  state.copied = null;
  render();
  say(t().cleared);
}

qInput.addEventListener('input', () => {
  // An Enter pressed before the answer came is for the text as it was then, not as typed on.
  chooseWhenSettled = false;
  state.settled = null;
  schedule();
});
qInput.addEventListener('keydown', (e) => {
  const n = options().length;
  if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    e.preventDefault();
    if (!n) return;
    select(state.sel < 0 ? (e.key === 'ArrowDown' ? 0 : n - 1) : state.sel + (e.key === 'ArrowDown' ? 1 : -1));
  } else if (e.key === 'Enter') {
    e.preventDefault();
    if (state.settled !== qInput.value) {
      // The answer for what is typed is not in yet: choose when it is.
      chooseWhenSettled = true;
      ask(qInput.value);
      return;
    }
    if (state.sel >= 0 && state.sel < n) choose(options()[state.sel]);
  } else if (e.key === 'Escape') {
    e.preventDefault();
    clearChoice();
  }
});
$('search').addEventListener('submit', (e) => e.preventDefault());

$('mode-locate').addEventListener('change', () => {
  applyLanguage();
  state.answer = null;
  state.located = null;
  state.sel = -1;
  render();
  ask(qInput.value);
  qInput.focus();
});

// ---------------------------------------------------------------------------------------------
// The crew phrase to the clipboard.

$('copy').addEventListener('click', async () => {
  const text = phraseOf(state.chosen);
  if (!text) return;
  try {
    await navigator.clipboard.writeText(text);
    state.copied = text;
    $('copied').textContent = t().copied;
    $('copied').classList.remove('warn');
  } catch {
    state.copied = null;
    const range = document.createRange();
    range.selectNodeContents($('phrase'));
    const s = window.getSelection();
    s.removeAllRanges();
    s.addRange(range);
    $('copied').textContent = t().copyManual;
    $('copied').classList.add('warn');
  }
});

// ---------------------------------------------------------------------------------------------
// The caller's area.

function setArea(a) {
  state.area = a;
  renderArea();
  drawMap();
  const p = coord(a.lat, a.lon);
  say(() => t().areaSet(a.from === 'map' ? t().areaMap(p) : a.from === 'url' ? t().areaUrl(p) : t().areaFrom(a.label, p)));
  if (qInput.value.trim()) ask(qInput.value);
}

let areaSeq = 0;
$('area').addEventListener('keydown', async (e) => {
  if (e.key !== 'Enter') return;
  e.preventDefault();
  const text = $('area').value.trim();
  if (!text) return;
  logQuery(text, null);
  // Only the newest area search of this call counts.
  const call = callId;
  const asked = ++areaSeq;
  const res = await api(`/resolve?q=${encodeURIComponent(text)}&limit=1`);
  if (!res || call !== callId || asked !== areaSeq) return;
  if (!res.ok) {
    say(() => errorText(res), true);
    return;
  }
  const c = (res.body.candidates || [])[0];
  if (!c) {
    say(() => t().areaNotFound(text), true);
    return;
  }
  setArea({ lat: c.lat, lon: c.lon, from: 'text', label: c.kind === 'address' ? (c.address || c.number) : (c.address || c.number || text) });
  map.easeTo({ center: [c.lon, c.lat], zoom: Math.max(map.getZoom(), 15), duration: 0 });
});

// The city's districts, offered as the area box is typed in (a district's name → its centre).
async function loadDistricts() {
  // Page by page (the server caps a page), at most 20 pages.
  const found = [];
  let after = 0;
  for (let page = 0; page < 20; page += 1) {
    const res = await api(`/objects?layer=districts&limit=1000&after=${after}`);
    if (!res || !res.ok) break;
    const fs = res.body.features || [];
    found.push(...fs.map((f) => f.properties && f.properties.attributes && f.properties.attributes.name));
    if (!fs.length || res.body.next_after == null) break;
    after = res.body.next_after;
  }
  const names = [...new Set(found.filter(Boolean))].sort((a, b) => a.localeCompare(b));
  $('districts').replaceChildren(...names.map((n) => el('option', { value: n })));
  state.districts = names.length;
}

$('area-clear').addEventListener('click', () => {
  state.area = null;
  $('area').value = '';
  renderArea();
  drawMap();
  say(t().areaCleared);
  if (qInput.value.trim()) ask(qInput.value);
  $('area').focus();
});

// ---------------------------------------------------------------------------------------------
// A new call: everything cleared, the clock restarted.

$('new-call').addEventListener('click', () => {
  callId += 1;
  clearTimeout(timer);
  if (inflight) inflight.abort();
  inflight = null;
  applied = ++seq;
  Object.assign(state, {
    answer: null, located: null, chosen: null, area: null, lastRecord: null, recordError: null,
    queries: [], callStart: performance.now(), sel: -1, settled: '', copied: null,
  });
  qInput.value = '';
  $('area').value = '';
  $('mode-locate').checked = false;
  applyLanguage();
  render();
  say(t().newCallStarted);
  qInput.focus();
});

// ---------------------------------------------------------------------------------------------
// Signing in.

function showSignedIn() {
  const L = t();
  const on = Boolean(token);
  $('token').hidden = on;
  $('signin-button').textContent = on ? L.signOut : L.signIn;
}

async function checkToken() {
  if (!token) {
    state.signedIn = false;
    say(t().signedOut, true);
    return;
  }
  const res = await api('/health');
  if (res && res.ok) {
    state.signedIn = true;
    const n = res.body.layers;
    say(() => t().signedIn(n));
    loadDistricts();
  } else if (res) {
    state.signedIn = false;
    if (res.status === 401) {
      token = '';
      sessionStorage.removeItem(TOKEN_KEY);
      showSignedIn();
    }
    say(() => errorText(res), true);
  }
}

$('signin').addEventListener('submit', async (e) => {
  e.preventDefault();
  if (token) {
    token = '';
    sessionStorage.removeItem(TOKEN_KEY);
    state.signedIn = false;
    showSignedIn();
    say(t().signedOut, true);
  } else {
    const v = $('token').value.trim();
    if (!v) {
      say(t().needToken, true);
      $('token').focus();
      return;
    }
    token = v;
    $('token').value = '';
    await checkToken();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    showSignedIn();
    qInput.focus();
  }
  // The style again, with or without the layers the token opens.
  map.setStyle('/styles/dispatcher.json', { diff: false });
});

// ---------------------------------------------------------------------------------------------
// Language: every label from `T`.

function applyLanguage() {
  const L = t();
  state.lang = lang;
  document.documentElement.lang = lang;
  document.title = L.docTitle;
  for (const e of document.querySelectorAll('[data-t]')) e.textContent = L[e.dataset.t];
  for (const e of document.querySelectorAll('[data-t-placeholder]')) e.placeholder = L[e.dataset.tPlaceholder];
  const locate = isLocate();
  $('q-label').textContent = locate ? L.qLabelLocate : L.qLabel;
  qInput.placeholder = locate ? L.qPlaceholderLocate : L.qPlaceholder;
  $('q-hint').textContent = locate ? L.qHintLocate : L.qHint;
  $('map').setAttribute('aria-label', L.map);
  const other = lang === 'uk' ? 'en' : 'uk';
  $('lang').textContent = L.lang;
  $('lang').setAttribute('lang', other);
  $('lang').setAttribute('aria-label', `${L.lang}: ${L.langName}`);
  showSignedIn();
  localizeMap();
  render();
  $('status').textContent = status.text();
}

$('lang').addEventListener('click', () => {
  lang = lang === 'uk' ? 'en' : 'uk';
  localStorage.setItem('citytwin-lang', lang);
  applyLanguage();
});

// ---------------------------------------------------------------------------------------------
// Start.

applyLanguage();
if (hashNear) {
  const [la, lo] = hashNear.split(',').map(Number);
  if (Number.isFinite(la) && Number.isFinite(lo) && Math.abs(la) <= 90 && Math.abs(lo) <= 180) {
    state.area = { lat: la, lon: lo, from: 'url' };
    renderArea();
  }
}
const tokenChecked = checkToken();
map.on('load', async () => {
  addOverlays();
  // On a small screen the attribution folds to its (i) button, off the little map there is.
  if (map.getContainer().clientWidth < 500) {
    document.querySelector('#map .maplibregl-ctrl-attrib')?.classList.remove('maplibregl-compact-show');
  }
  if (state.area) map.jumpTo({ center: [state.area.lon, state.area.lat], zoom: 15 });
  await tokenChecked;
  state.ready = true;
});
qInput.focus();
