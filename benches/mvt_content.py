#!/usr/bin/env python3
"""What each tile server sent for the same tile list, for benches/tiles-vs-martin.sh.

For every tile of the list and every server it reads the raw body the script saved
(DIR/NAME/z/x/y.mvt; none for an empty tile) and the status and sizes curl printed
(DIR/NAME.raw.txt and DIR/NAME.gz.txt: "status bytes url" a line), decodes the vector tile
(a small protobuf walk: layers, features, their first point and `number` property) and
compares every server with the first one, tile by tile and layer by layer: the objects inside
the tile proper (their count and numbers) must be the same; the features in the tile's buffer
may differ by a point at its edge (BUFFER_TOLERANCE). It prints per zoom and server the
answers, features and average sizes, where the servers differ, and which of the candidate
zooms are equal content; those zooms go to --equal-out, one a line.

With --by id (areas and lines: a feature's first point depends on how each server clips it)
features are compared by their feature id instead, all of them, buffers included: a zoom is
equal content when the ids that are in one server's tile and not in the other's, summed over
the zoom's tiles, are at most BUFFER_TOLERANCE of the reference's features (an area near a
pixel's size or a tile's edge may be kept by one server and dropped by the other).

Usage: mvt_content.py --dir DIR --list tiles.txt --servers a,b,c --candidates 14,15,16
                      --equal-out FILE --markdown FILE [--by number|id]
"""

import argparse
import gzip
import hashlib
import os
import sys
from collections import defaultdict
from multiprocessing import Pool

# How far apart the features in the tiles' buffers may be for equal content. A point near the
# buffer's edge can fall on either side of it: PostGIS rounds a point to the tile grid before
# it clips to the buffer, citytwin tests the point before rounding.
BUFFER_TOLERANCE = 0.02


def varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        if c < 0x80:
            return r, i
        s += 7


def fields(b, i, end):
    """(field, wire type, value or start, end) of a protobuf message's fields in b[i:end]."""
    while i < end:
        key, i = varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
            yield f, 0, v, i
        elif wt == 2:
            n, i = varint(b, i)
            yield f, 2, i, i + n
            i += n
        elif wt == 1:
            i += 8
        elif wt == 5:
            i += 4
        else:
            raise ValueError(f"wire type {wt} at byte {i}")


def zigzag(n):
    return (n >> 1) ^ -(n & 1)


def layer_content(b, start, end):
    """(name, features, features inside the tile, digest of the sorted object numbers of the
    features inside the tile, the features' ids) of one layer. Inside: the first point of the
    geometry in [0, extent) both ways; the rest lie in the tile's buffer."""
    name, keys, values, feats, extent = "", [], [], [], 4096
    for f, wt, a, z in fields(b, start, end):
        if f == 1 and wt == 2:
            name = b[a:z].decode("utf-8", "replace")
        elif f == 2 and wt == 2:
            feats.append((a, z))
        elif f == 3 and wt == 2:
            keys.append(b[a:z].decode("utf-8", "replace"))
        elif f == 4 and wt == 2:
            v = None
            for vf, vwt, va, vz in fields(b, a, z):
                if vf == 1 and vwt == 2:
                    v = b[va:vz].decode("utf-8", "replace")
            values.append(v)
        elif f == 5 and wt == 0:
            extent = a
    key = keys.index("number") if "number" in keys else -1
    numbers = []
    ids = []
    inside = 0
    for a, z in feats:
        number, x, y = None, -1, -1
        for f, wt, ta, tz in fields(b, a, z):
            if f == 1 and wt == 0:
                ids.append(ta)
            elif f == 2 and wt == 2 and key >= 0:
                i = ta
                while i < tz:
                    k, i = varint(b, i)
                    v, i = varint(b, i)
                    if k == key and v < len(values):
                        number = values[v]
            elif f == 4 and wt == 2 and ta < tz:
                cmd, i = varint(b, ta)
                if cmd & 7 == 1 and cmd >> 3 >= 1:
                    dx, i = varint(b, i)
                    dy, i = varint(b, i)
                    x, y = zigzag(dx), zigzag(dy)
        if 0 <= x < extent and 0 <= y < extent:
            inside += 1
            if number is not None:
                numbers.append(number)
    digest = hashlib.md5("\n".join(sorted(numbers)).encode()).hexdigest()
    return name, len(feats), inside, digest, frozenset(ids)


def tile_content(path):
    """{layer: (features inside the tile, their digest, all features, their ids)} of the tile
    at path; {} when there is no file."""
    try:
        with open(path, "rb") as fh:
            b = fh.read()
    except FileNotFoundError:
        return {}
    if b[:2] == b"\x1f\x8b":
        b = gzip.decompress(b)
    out = {}
    for f, wt, a, z in fields(b, 0, len(b)):
        if f == 3 and wt == 2:
            name, n, inside, digest, ids = layer_content(b, a, z)
            if n:
                out[name] = (inside, digest, n, ids)
    return out


def statuses(path):
    """{z/x/y: (status, bytes)} from curl's "status bytes url" lines."""
    out = {}
    with open(path) as fh:
        for line in fh:
            parts = line.split()
            if len(parts) < 3:
                continue
            zxy = "/".join(parts[2].rstrip("/").split("/")[-3:])
            if zxy.endswith(".mvt"):
                zxy = zxy[: -len(".mvt")]
            out[zxy] = (parts[0], int(parts[1]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--list", required=True)
    ap.add_argument("--servers", required=True)
    ap.add_argument("--candidates", required=True)
    ap.add_argument("--equal-out", required=True)
    ap.add_argument("--markdown", required=True)
    ap.add_argument("--by", choices=["number", "id"], default="number")
    a = ap.parse_args()
    by_id = a.by == "id"
    servers = a.servers.split(",")
    candidates = [int(z) for z in a.candidates.split(",") if z]
    tiles = [t.strip() for t in open(a.list) if t.strip()]
    zooms = sorted({int(t.split("/")[0]) for t in tiles})

    raw = {s: statuses(os.path.join(a.dir, f"{s}.raw.txt")) for s in servers}
    gz = {s: statuses(os.path.join(a.dir, f"{s}.gz.txt")) for s in servers}
    with Pool(os.cpu_count()) as pool:
        content = {
            s: dict(zip(tiles, pool.map(tile_content, [os.path.join(a.dir, s, t + ".mvt") for t in tiles], 16)))
            for s in servers
        }

    ref = servers[0]
    none = (0, hashlib.md5(b"").hexdigest(), 0, frozenset())
    # per (zoom, server): answers, features, sizes
    stat = defaultdict(lambda: defaultdict(int))
    # per (zoom, server): tiles whose features inside the tile differ from the reference's,
    # and by layer: [tiles, reference's features inside, this server's]
    differ = defaultdict(int)
    # per (zoom, server), --by id: features in one tile and not in the other, summed
    apart = defaultdict(int)
    differ_layers = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
    bad_status = 0
    for t in tiles:
        z = int(t.split("/")[0])
        for s in servers:
            st = stat[(z, s)]
            code, size = raw[s].get(t, ("none", 0))
            gcode, gsize = gz[s].get(t, ("none", 0))
            st["tiles"] += 1
            if code == "200":
                st["ok200"] += 1
                st["raw"] += size
                st["gz"] += gsize
            elif code == "204":
                st["ok204"] += 1
            else:
                st["other"] += 1
                bad_status += 1
            if gcode != code:
                st["other"] += 1
                bad_status += 1
            st["features"] += sum(v[2] for v in content[s][t].values())
            st["inside"] += sum(v[2 if by_id else 0] for v in content[s][t].values())
            if s == ref:
                continue
            mine, theirs = content[s][t], content[ref][t]
            tile_differs = False
            for layer in sorted(set(mine) | set(theirs)):
                m, r = mine.get(layer, none), theirs.get(layer, none)
                if by_id:
                    gap = len(m[3] ^ r[3])
                    apart[(z, s)] += gap
                    same_layer = gap == 0
                    counts = (r[2], m[2])
                else:
                    same_layer = m[:2] == r[:2]
                    counts = (r[0], m[0])
                if not same_layer:
                    tile_differs = True
                    d = differ_layers[(z, s)][layer]
                    d[0] += 1
                    d[1] += counts[0]
                    d[2] += counts[1]
            differ[(z, s)] += tile_differs

    def buffer_ok(z, s):
        """Features in the tiles' buffers within BUFFER_TOLERANCE of the reference's (all
        features: inside are the same when this is asked)."""
        f, rf = stat[(z, s)]["features"], stat[(z, ref)]["features"]
        return abs(f - rf) <= BUFFER_TOLERANCE * max(rf, 1)

    def same_objects(z, s):
        """The same objects in the tiles: inside every tile (by number), or by id within
        BUFFER_TOLERANCE of the reference's features."""
        if by_id:
            return apart[(z, s)] <= BUFFER_TOLERANCE * max(stat[(z, ref)]["features"], 1)
        return differ[(z, s)] == 0

    w = max(len(s) for s in servers)
    print(f"content of the {len(tiles)} tiles (200 answers: average raw and gzip bytes; features summed over the zoom's tiles,")
    print("all of them and those inside the tile proper, the rest lying in its buffer)")
    print(f"{'zoom':<5} {'server':<{w}} {'tiles':>6} {'200':>6} {'204':>6} {'other':>6} {'features':>10} {'inside':>10} {'raw avg B':>10} {'gzip avg B':>10} {'raw vs ' + ref:>14} {'tiles differing inside':>23}")
    md = []
    md.append("| zoom | tiles | " + " | ".join(f"{s}: features (inside the tile), raw / gzip avg B" for s in servers)
              + f" | tiles whose inside features differ from {ref}'s | equal content |")
    md.append("|---" * (len(servers) + 4) + "|")
    equal = []
    for z in zooms:
        same = all(same_objects(z, s) and buffer_ok(z, s) for s in servers[1:])
        if z in candidates and same:
            equal.append(z)
        cells = []
        for s in servers:
            st = stat[(z, s)]
            n = st["ok200"] or 1
            rs = stat[(z, ref)]
            rel = ""
            if s != ref and rs["raw"]:
                rel = f"{(st['raw'] / n) / (rs['raw'] / (rs['ok200'] or 1)) * 100 - 100:+.1f}%"
            print(f"z{z:<4} {s:<{w}} {st['tiles']:>6} {st['ok200']:>6} {st['ok204']:>6} {st['other']:>6} {st['features']:>10} {st['inside']:>10} {st['raw'] / n:>10.0f} {st['gz'] / n:>10.0f} {rel:>14} {differ[(z, s)] if s != ref else '':>23}")
            cells.append(f"{st['features']:,} ({st['inside']:,}), {st['raw'] / n:,.0f} / {st['gz'] / n:,.0f}" + (f" ({rel})" if rel else ""))
        diffs = "; ".join(f"{s} {differ[(z, s)]}" + (f" ({apart[(z, s)]:,} features apart)" if by_id else "")
                          for s in servers[1:])
        md.append(f"| z{z} | {stat[(z, ref)]['tiles']} | " + " | ".join(cells) + f" | {diffs} | {'yes' if same else 'no'} |")
    print()
    for (z, s), layers in sorted(differ_layers.items()):
        for layer, (n, rf, mf) in sorted(layers.items()):
            print(f"differs: z{z} {s} vs {ref}, layer {layer}: {n} tiles, features inside {ref} {rf:,} vs {s} {mf:,}"
                  + (" (same count, other objects)" if rf == mf else ""))
    if not differ_layers:
        print("differs: nowhere inside the tiles: every tile has the same objects on every server")
    for z in zooms:
        for s in servers[1:]:
            if by_id:
                rf = max(stat[(z, ref)]["features"], 1)
                print(f"by id: z{z} {s}: {apart[(z, s)]:,} features in one server's tile and not in the other's,"
                      f" {apart[(z, s)] / rf:.2%} of {ref}'s {stat[(z, ref)]['features']:,}")
            if differ[(z, s)] == 0 and not buffer_ok(z, s):
                print(f"differs: z{z} {s}: the same objects inside every tile, but {stat[(z, s)]['features']:,} features in all against {ref}'s {stat[(z, ref)]['features']:,} (more than {BUFFER_TOLERANCE:.0%} apart in the buffers)")
    print(f"equal-content zooms among the candidates {candidates}: {equal or 'none'}"
          + (f" (equal: the features apart by id, and all features, buffers included, within {BUFFER_TOLERANCE:.0%})" if by_id else
             f" (equal: the same objects inside every tile, and all features, buffers included, within {BUFFER_TOLERANCE:.0%})"))
    left = [z for z in candidates if z not in equal]
    if left:
        print(f"*** not equal content, moved to the unequal list: {['z%d' % z for z in left]}")
    print(f"answers other than 200/204 (or a raw and a gzip answer that disagree): {bad_status}")
    with open(a.equal_out, "w") as fh:
        fh.write("".join(f"{z}\n" for z in equal))
    with open(a.markdown, "w") as fh:
        fh.write("\n".join(md) + "\n")
    sys.exit(1 if bad_status else 0)


if __name__ == "__main__":
    main()
