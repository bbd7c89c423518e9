#!/usr/bin/env python3
"""A city-sized basemap from a small real one, for benches/tiles-vs-martin.sh DATA=basemap.

Reads citytwin's GeoJSON exports of the basemap layers of a real extract (Helsinki's OSM
extract in data/osm: every shape real, a few km² of them) and writes one GeoJSON per layer
holding GRID x GRID copies of it, side by side: copy (i, j) is moved by i extract-widths east
and j extract-heights south (the extent of the extract's buildings, so that blocks of houses
tile without overlapping; a street or river reaching past that extent overlaps its neighbour's,
as roads meet at a city's edges). Each copy keeps every property; its `source_id` names the copy
so that citytwin imports each copy as objects of their own. The output reads back into
citytwin with `import --mapping citytwin`.

Usage: basemap_grid.py --grid 8 --out DIR LAYER.geojson...
Prints the grid's bounding box, west,south,east,north.
"""

import argparse
import json
import os


def coords(g):
    """Every [lon, lat] of a GeoJSON geometry."""
    t, c = g["type"], g["coordinates"]
    if t == "Point":
        return [c]
    if t == "LineString":
        return c
    if t in ("Polygon", "MultiLineString"):
        return [p for r in c for p in r]
    if t == "MultiPolygon":
        return [p for poly in c for r in poly for p in r]
    raise ValueError(f"unexpected geometry type {t}")


def moved(g, dx, dy):
    def walk(c):
        if isinstance(c[0], (int, float)):
            return [c[0] + dx, c[1] + dy]
        return [walk(x) for x in c]

    return {"type": g["type"], "coordinates": walk(g["coordinates"])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--grid", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("layers", nargs="+")
    a = ap.parse_args()
    docs = {}
    for path in a.layers:
        with open(path) as fh:
            docs[path] = json.load(fh)["features"]
    # The step between copies: the extent of the buildings (else of everything).
    basis = [f for p, fs in docs.items() if os.path.basename(p).startswith("buildings") for f in fs]
    if not basis:
        basis = [f for fs in docs.values() for f in fs]
    pts = [p for f in basis for p in coords(f["geometry"])]
    w, s = min(p[0] for p in pts), min(p[1] for p in pts)
    e, n = max(p[0] for p in pts), max(p[1] for p in pts)
    step_x, step_y = e - w, n - s
    os.makedirs(a.out, exist_ok=True)
    every = []
    for path, feats in docs.items():
        out = []
        for i in range(a.grid):
            for j in range(a.grid):
                dx, dy = i * step_x, -j * step_y
                for f in feats:
                    p = f["properties"]
                    g = moved(f["geometry"], dx, dy)
                    every.extend(coords(g))
                    out.append({
                        "type": "Feature",
                        "geometry": g,
                        "properties": {
                            "layer": p["layer"],
                            "number": p.get("number"),
                            "status": p["status"],
                            "source_id": f"{i}.{j}:{p.get('source_id') or f.get('id')}",
                            "attributes": p.get("attributes") or {},
                        },
                    })
        name = os.path.basename(path)
        with open(os.path.join(a.out, name), "w") as fh:
            json.dump({"type": "FeatureCollection", "features": out}, fh)
    print(",".join(f"{v:.6f}" for v in (
        min(p[0] for p in every), min(p[1] for p in every),
        max(p[0] for p in every), max(p[1] for p in every))))


if __name__ == "__main__":
    main()
