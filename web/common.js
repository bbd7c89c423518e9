// Small helpers the staff pages share (the dispatcher's console, the Situational Centre).

// A request to this server that never throws: an answer with its status and JSON body (an
// empty object when it has none); status 0 when the server could not be reached; null when
// the request was aborted.
export async function api(path, { headers = {}, signal, method = 'GET', body } = {}) {
  const h = { ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  let r;
  try {
    r = await fetch(path, { method, headers: h, signal, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    if (e && e.name === 'AbortError') return null;
    return { ok: false, status: 0, body: {} };
  }
  let data = {};
  try {
    data = await r.json();
  } catch (e) {
    if (e && e.name === 'AbortError') return null;
  }
  return { ok: r.ok, status: r.status, body: data || {} };
}

// An element with attributes (null, undefined and false left out; true as an empty value)
// and children (nodes, or text).
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v; else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== '') e.append(c instanceof Node ? c : String(c));
  return e;
}
