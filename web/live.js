// Live changes from citytwin's `/events` (Server-Sent Events), read with fetch so that a staff
// token can go in a header; after a break the stream resumes after the last event id seen, so
// nothing is missed. `onEvent(name, data)` gets each event; `onState(live)` the connection.
export function listen({ headers = () => ({}), onEvent, onState = () => {} }) {
  let last = null;
  let stopped = false;
  (async () => {
    while (!stopped) {
      try {
        const url = last ? `/events?after=${encodeURIComponent(last)}` : '/events';
        const r = await fetch(url, { headers: { ...headers(), Accept: 'text/event-stream' } });
        if (!r.ok || !r.body) throw new Error(`events ${r.status}`);
        onState(true);
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let cut;
          while ((cut = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            let name = 'message';
            const data = [];
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) name = line.slice(6).trim();
              else if (line.startsWith('id:')) last = line.slice(3).trim();
              else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
            }
            if (data.length) {
              let parsed = null;
              try { parsed = JSON.parse(data.join('\n')); } catch { parsed = null; }
              if (parsed) await onEvent(name, parsed);
            }
          }
        }
      } catch { /* the connection broke, or the server is away: try again */ }
      onState(false);
      await new Promise((res) => { setTimeout(res, 1000); });
    }
  })();
  return { stop: () => { stopped = true; } };
}

// Redraws every vector source of `map` that comes from a TileJSON URL: the TileJSON names the
// new data version, so only tiles that changed are fetched anew.
export function refreshTiles(map) {
  const style = map.getStyle();
  if (!style) return;
  for (const [id, src] of Object.entries(style.sources || {})) {
    if (src.type === 'vector' && src.url && !src.url.startsWith('pmtiles:')) {
      const s = map.getSource(id);
      if (s && typeof s.setUrl === 'function') s.setUrl(src.url);
    }
  }
}
