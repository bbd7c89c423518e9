// The residents' report page: the number painted on an object → the object (or, when a digit
// was misread, the objects it may be) → what is wrong, a few words, a photo → a receipt with the
// incident's state. Everything comes from citytwin itself; no token is needed.

const TEXT = {
  uk: {
    title: 'Повідомити про проблему', find: 'Знайти', send: 'Надіслати',
    numberLabel: "Номер на об'єкті (опора, люк, укриття, дерево…)",
    hint: 'Номер написаний фарбою або на табличці. Якщо якась цифра стерлася — введіть, що бачите.',
    suggestTitle: 'Такого номера немає. Можливо, ви мали на увазі:',
    kindLegend: 'Що сталося?', textLabel: "Коротко (необов'язково)", photoLabel: "Фото (необов'язково)",
    shareLabel: 'Додати моє місце', receiptTitle: 'Повідомлення отримано', check: 'Перевірити стан',
    again: 'Інше повідомлення', looking: 'Шукаю…', sending: 'Надсилаю…', needNumber: 'Введіть номер з об\'єкта',
    needKind: 'Оберіть, що сталося', none: 'Об\'єкта з таким номером немає. Перевірте номер на табличці.',
    duplicate: 'Ви вже повідомляли про цей об\'єкт — ваше повідомлення враховано.',
    limited: 'Забагато повідомлень. Спробуйте пізніше.', failed: 'Не вдалося надіслати. Спробуйте ще раз.',
    offline: 'Немає зв\'язку. Спробуйте ще раз, коли з\'явиться мережа.',
    incident: 'Звернення', state: 'Стан', count: 'Повідомлень', object: "Об'єкт", status: 'Стан об\'єкта',
    states: { new: 'нове', confirmed: 'підтверджено', assigned: 'передано бригаді', resolved: 'вирішено', rejected: 'відхилено' },
    statuses: { ok: 'справний', broken: 'несправний', closed: 'закрито', removed: 'демонтовано', unknown: 'невідомо',
      'locked-reported': 'зачинено (за повідомленнями)', hazard: 'небезпека' },
    distance: (m) => `${m} м від вас`,
  },
  en: {
    title: 'Report a problem', find: 'Find', send: 'Send',
    numberLabel: 'The number on the object (pole, manhole, shelter, tree…)',
    hint: 'The number is painted on or on a plate. If a digit is worn off, type what you see.',
    suggestTitle: 'No object has this number. Did you mean:',
    kindLegend: 'What is wrong?', textLabel: 'A few words (optional)', photoLabel: 'Photo (optional)',
    shareLabel: 'Add where I am', receiptTitle: 'Report received', check: 'Check its state',
    again: 'Another report', looking: 'Looking…', sending: 'Sending…', needNumber: 'Type the number on the object',
    needKind: 'Choose what is wrong', none: 'No object has this number. Check the number on the plate.',
    duplicate: 'You reported this object already — your report counts.',
    limited: 'Too many reports. Try again later.', failed: 'Could not send. Try again.',
    offline: 'No connection. Try again when the network is back.',
    incident: 'Incident', state: 'State', count: 'Reports', object: 'Object', status: 'Object status',
    states: { new: 'new', confirmed: 'confirmed', assigned: 'assigned to a crew', resolved: 'resolved', rejected: 'rejected' },
    statuses: { ok: 'working', broken: 'broken', closed: 'closed', removed: 'removed', unknown: 'unknown',
      'locked-reported': 'locked (reported)', hazard: 'hazard' },
    distance: (m) => `${m} m from you`,
  },
};

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
let lang = params.get('lang') === 'en' ? 'en' : (localStorage.getItem('citytwin-lang') || 'uk');
const t = () => TEXT[lang];

const state = {
  layers: {}, kinds: {}, labels: {}, chosen: null, receipt: null, here: null, busy: false, ready: false,
};
window.citytwinReport = state;

function say(msg, warn = false) {
  $('status').textContent = msg;
  $('status').className = warn ? 'warn' : '';
}

function layerTitle(name) {
  const l = state.layers[name];
  if (!l) return name;
  return lang === 'en' ? l.title_en : l.title_uk;
}

function applyLang() {
  document.documentElement.lang = lang;
  const x = t();
  $('title').textContent = x.title;
  document.title = `${x.title} — citytwin`;
  $('lang').textContent = lang === 'uk' ? 'EN' : 'УК';
  $('lang').setAttribute('aria-label', lang === 'uk' ? 'EN: English' : 'УК: українська');
  $('lang').lang = lang === 'uk' ? 'en' : 'uk';
  $('look').textContent = x.find;
  $('send').textContent = x.send;
  $('number-label').textContent = x.numberLabel;
  $('hint').textContent = x.hint;
  $('suggest-title').textContent = x.suggestTitle;
  $('kind-legend').textContent = x.kindLegend;
  $('text-label').textContent = x.textLabel;
  $('photo-label').textContent = x.photoLabel;
  $('share-label').textContent = x.shareLabel;
  $('receipt-title').textContent = x.receiptTitle;
  $('check').textContent = x.check;
  $('again').textContent = x.again;
  if (state.chosen) showObject(state.chosen);
  if (state.receipt) showReceipt(state.receipt);
}

async function getJson(url, opts) {
  const r = await fetch(url, opts);
  let body = null;
  try { body = await r.json(); } catch { body = null; }
  return { status: r.status, body };
}

function suggestions(list) {
  const ul = $('suggestions');
  ul.replaceChildren();
  for (const c of list) {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    const num = document.createElement('span');
    num.className = 'num';
    num.textContent = c.number;
    const what = document.createElement('span');
    const bits = [layerTitle(c.layer)];
    if (c.address) bits.push(c.address);
    if (c.distance_m != null) bits.push(t().distance(Math.round(c.distance_m)));
    what.textContent = bits.join(' · ');
    b.append(num, what);
    b.addEventListener('click', () => choose(c));
    li.append(b);
    ul.append(li);
  }
  $('suggest').hidden = list.length === 0;
  if (list.length) ul.querySelector('button').focus();
}

function showObject(c) {
  $('object-title').textContent = `${layerTitle(c.layer)} ${c.number}`;
  $('object-facts').textContent = [c.address, t().statuses[c.status] || c.status].filter(Boolean).join(' · ');
  const box = $('kinds');
  const picked = box.querySelector('input:checked');
  const was = picked ? picked.value : null;
  box.replaceChildren();
  for (const k of state.kinds[c.layer] || ['other']) {
    const label = document.createElement('label');
    label.className = 'check';
    const input = document.createElement('input');
    input.type = 'radio';
    input.name = 'kind';
    input.value = k;
    input.checked = k === was;
    const span = document.createElement('span');
    span.textContent = (state.labels[k] && state.labels[k][lang]) || k.replace(/_/g, ' ');
    label.append(input, span);
    box.append(label);
  }
}

function choose(c) {
  state.chosen = c;
  $('number').value = c.number;
  $('suggest').hidden = true;
  $('report').hidden = false;
  $('receipt').hidden = true;
  showObject(c);
  say('');
  const first = $('kinds').querySelector('input');
  if (first) first.focus();
}

function exact(c) {
  return c && (c.rule === 'exact' || c.rule === 'source_number');
}

async function look(ev) {
  ev.preventDefault();
  const q = $('number').value.trim();
  if (!q) { say(t().needNumber, true); $('number').focus(); return; }
  say(t().looking);
  $('report').hidden = true;
  $('receipt').hidden = true;
  const near = state.here ? `&near=${state.here[1]},${state.here[0]}` : '';
  let r;
  try {
    r = await getJson(`/resolve?q=${encodeURIComponent(q)}&limit=5${near}`);
  } catch {
    say(t().offline, true);
    return;
  }
  if (r.status !== 200 || !r.body) { say(t().failed, true); return; }
  const cands = (r.body.candidates || []).filter((c) => state.kinds[c.layer]);
  if (cands.length && exact(cands[0]) && !r.body.ambiguous) {
    choose(cands[0]);
  } else if (cands.length) {
    say('');
    suggestions(cands);
  } else {
    $('suggest').hidden = true;
    say(t().none, true);
  }
}

// A photo is made smaller and re-encoded on the phone (no EXIF leaves it); the server
// re-encodes it again anyway.
async function photoData(file) {
  if (!file) return null;
  const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  const scale = Math.min(1, 2048 / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  return canvas.toDataURL('image/jpeg', 0.85);
}

async function send(ev) {
  ev.preventDefault();
  if (state.busy || !state.chosen) return;
  const kind = $('kinds').querySelector('input:checked');
  if (!kind) { say(t().needKind, true); $('kinds').querySelector('input').focus(); return; }
  state.busy = true;
  say(t().sending);
  try {
    const body = { number: state.chosen.number, kind: kind.value };
    const text = $('text').value.trim();
    if (text) body.text = text;
    if ($('share-place').checked && state.here) [body.lon, body.lat] = state.here;
    const photo = await photoData($('photo').files[0]);
    if (photo) body.photo = photo;
    const r = await getJson('/reports', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    if (r.status === 201 || r.status === 200) {
      state.receipt = r.body;
      showReceipt(r.body);
      say(r.body.duplicate ? t().duplicate : '');
      remember(r.body);
    } else if (r.status === 404 && r.body && r.body.suggestions) {
      $('report').hidden = true;
      suggestions(r.body.suggestions.filter((c) => state.kinds[c.layer]));
    } else if (r.status === 429) {
      say(t().limited, true);
    } else {
      say((r.body && r.body.error) || t().failed, true);
    }
  } catch {
    say(t().offline, true);
  } finally {
    state.busy = false;
  }
}

function showReceipt(rc) {
  const x = t();
  const dl = $('receipt-facts');
  dl.replaceChildren();
  const row = (k, v) => {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    dl.append(dt, dd);
  };
  row(x.incident, `№${rc.incident}`);
  row(x.object, rc.number);
  row(x.state, x.states[rc.state] || rc.state);
  row(x.count, String(rc.count));
  row(x.status, x.statuses[rc.object_status] || rc.object_status);
  $('report').hidden = true;
  $('receipt').hidden = false;
}

function remember(rc) {
  try {
    const mine = JSON.parse(localStorage.getItem('citytwin-reports') || '[]');
    if (!mine.includes(rc.incident)) mine.push(rc.incident);
    localStorage.setItem('citytwin-reports', JSON.stringify(mine.slice(-20)));
  } catch { /* private mode: nothing kept */ }
}

async function check() {
  if (!state.receipt) return;
  try {
    const r = await getJson(`/incidents/${state.receipt.incident}`);
    if (r.status === 200) {
      state.receipt = { ...state.receipt, ...r.body };
      showReceipt(state.receipt);
    }
  } catch {
    say(t().offline, true);
  }
}

function again() {
  state.chosen = null;
  state.receipt = null;
  $('receipt').hidden = true;
  $('report').hidden = true;
  $('number').value = '';
  $('text').value = '';
  $('photo').value = '';
  say('');
  $('number').focus();
}

async function start() {
  applyLang();
  $('find').addEventListener('submit', look);
  $('report').addEventListener('submit', send);
  $('check').addEventListener('click', check);
  $('again').addEventListener('click', again);
  $('lang').addEventListener('click', () => {
    lang = lang === 'uk' ? 'en' : 'uk';
    localStorage.setItem('citytwin-lang', lang);
    applyLang();
  });
  $('share-place').addEventListener('change', () => {
    if ($('share-place').checked && navigator.geolocation) {
      navigator.geolocation.getCurrentPosition(
        (p) => { state.here = [p.coords.longitude, p.coords.latitude]; },
        () => { $('share-place').checked = false; },
        { enableHighAccuracy: true, timeout: 10000 },
      );
    }
  });
  const [layers, kinds] = await Promise.all([getJson('/layers'), getJson('/reports/kinds')]);
  for (const l of (layers.body && layers.body.layers) || layers.body || []) state.layers[l.name] = l;
  state.kinds = (kinds.body && kinds.body.layers) || {};
  state.labels = (kinds.body && kinds.body.labels) || {};
  const n = params.get('number');
  if (n) {
    $('number').value = n;
    await look(new Event('submit'));
  }
  state.ready = true;
}

start();
