// The service worker of the residents' shelter page (/shelters). It keeps what the page needs
// to show the shelters and the instructions with the server out of reach: the page and its
// scripts, the shelter list, the instructions in both languages, the city's PMTiles archive
// (answering the map's range requests from the whole file) and the last answers. Data is
// asked of the network first and kept; what cannot be fetched comes from what was kept.
const CACHE = 'citytwin-shelters-v2';
const SHELL = [
  '/shelters',
  '/assets/shelters.js',
  '/assets/live.js',
  '/assets/shelters.css',
  '/assets/vendor/maplibre-gl/maplibre-gl.mjs',
  '/assets/vendor/maplibre-gl/maplibre-gl-worker.mjs',
  '/assets/vendor/maplibre-gl/maplibre-gl.css',
  '/assets/vendor/pmtiles/pmtiles.js',
  '/shelters/list',
  '/shelters/instructions?lang=uk',
  '/shelters/instructions?lang=en',
];
const ARCHIVE = '/shelters/city.pmtiles';

async function keepArchive(cache) {
  const r = await fetch(ARCHIVE, { cache: 'no-store' });
  if (r.status === 200) await cache.put(ARCHIVE, r);
  return r.status;
}

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // One file that cannot be fetched must not keep the others from being kept.
    await Promise.all(SHELL.map(async (u) => {
      try {
        const r = await fetch(u, { cache: 'no-store' });
        if (r.ok) await cache.put(u, r);
      } catch { /* kept on a later visit */ }
    }));
    try { await keepArchive(cache); } catch { /* idem */ }
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })());
});

// A range of the kept archive, as the server would answer it.
async function archiveRange(request) {
  const cache = await caches.open(CACHE);
  let whole = await cache.match(ARCHIVE);
  if (!whole) {
    try {
      if ((await keepArchive(cache)) === 200) whole = await cache.match(ARCHIVE);
    } catch { /* offline and never kept */ }
  }
  if (!whole) return fetch(request);
  const bytes = await whole.arrayBuffer();
  const m = /bytes=(\d+)-(\d*)/.exec(request.headers.get('range') || '');
  if (!m) return new Response(bytes, { status: 200, headers: { 'Content-Type': 'application/vnd.pmtiles' } });
  const start = Number(m[1]);
  const end = Math.min(m[2] ? Number(m[2]) : bytes.byteLength - 1, bytes.byteLength - 1);
  return new Response(bytes.slice(start, end + 1), {
    status: 206,
    headers: {
      'Content-Type': 'application/vnd.pmtiles',
      'Content-Range': `bytes ${start}-${end}/${bytes.byteLength}`,
      'Content-Length': String(end - start + 1),
    },
  });
}

// Network first; what it gives is kept; with no network, what was kept.
async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const r = await fetch(request);
    if (r.ok) await cache.put(request, r.clone());
    return r;
  } catch (e) {
    const kept = await cache.match(request);
    if (kept) {
      const h = new Headers(kept.headers);
      h.set('X-Citytwin-Offline', '1');
      return new Response(await kept.blob(), { status: kept.status, headers: h });
    }
    throw e;
  }
}

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname === ARCHIVE) {
    event.respondWith(archiveRange(req));
    return;
  }
  const keep = url.pathname === '/shelters'
    || url.pathname.startsWith('/assets/')
    || url.pathname.startsWith('/shelters/')
    || url.pathname.startsWith('/tiles/');
  if (keep) event.respondWith(networkFirst(req));
});
