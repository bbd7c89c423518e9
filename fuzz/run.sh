#!/usr/bin/env bash
# Coverage-guided fuzzing with cargo-fuzz on stable Rust: every target (or those named) for
# SECONDS each, debug assertions and overflow checks on (as in `cargo test`).
#   fuzz/run.sh [SECONDS] [TARGET...]
# Needs `cargo install cargo-fuzz`. RUSTC_BOOTSTRAP=1 lets stable rustc take the nightly flags
# cargo-fuzz passes. Seeds: fuzz/seeds/<target> (see fuzz/Cargo.toml). Builds go to
# $FUZZ_TARGET_DIR (default fuzz/target).
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(csv_import geojson_import osm_import ofds_import resolve_query tile_coord)
fi
export RUSTC_BOOTSTRAP=1
target_dir="${FUZZ_TARGET_DIR:-$PWD/target}"
failed=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  echo "== $t: ${secs}s"
  # A crash stops this target (its input is in artifacts/$t); the others still run.
  cargo fuzz run --debug-assertions --target-dir "$target_dir" "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 || failed+=("$t")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "crashed: ${failed[*]} (inputs in fuzz/artifacts/)"
  exit 1
fi
