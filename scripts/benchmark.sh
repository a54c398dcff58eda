#!/usr/bin/env bash
# Generates the runtime's weight files on this machine with `tea-node benchmark` (built with the
# `runtime-benchmarks` feature in its own target dir, so the everyday build is not recompiled).
#
#   scripts/benchmark.sh                      # the TEA pallets + block/extrinsic overhead
#   scripts/benchmark.sh pallet_balances ...  # other pallets
#
# Output: runtime/src/weights/<pallet>.rs (and block_weights.rs, extrinsic_weights.rs).
# STEPS / REPEAT override the sampling (defaults 20 / 10).
set -euo pipefail
. "$(dirname "$0")/env.sh"
export CARGO_TARGET_DIR="${TEA_BENCH_TARGET_DIR:-$HOME/.cache/tea-target-bench}"
require_wasm_toolchain
# frame-benchmarking-cli pulls in a test runtime for `benchmark storage` whose Wasm the builder
# cannot locate from this workspace's metadata; that subcommand is not used here.
export SKIP_FRAME_STORAGE_ACCESS_TEST_RUNTIME_WASM_BUILD=1

cd "$TEA_ROOT"
log "building tea-node with runtime-benchmarks in $CARGO_TARGET_DIR"
cargo build -p tea-node --features runtime-benchmarks
NODE="$CARGO_TARGET_DIR/debug/tea-node"
RUNTIME="$CARGO_TARGET_DIR/debug/wbuild/tea-runtime/tea_runtime.compact.compressed.wasm"
OUT=runtime/src/weights
mkdir -p "$OUT"

pallets=("$@")
[ ${#pallets[@]} -gt 0 ] || pallets=(pallet_tea_actors pallet_tea_upgrades pallet_tea_nodes pallet_tea_attestation)
for pallet in "${pallets[@]}"; do
	log "benchmarking $pallet"
	"$NODE" benchmark pallet \
		--runtime "$RUNTIME" --genesis-builder runtime \
		--pallet "$pallet" --extrinsic '*' \
		--steps "${STEPS:-20}" --repeat "${REPEAT:-10}" \
		--header scripts/weights-header.txt \
		--output "$OUT/$pallet.rs"
done

if [ $# -eq 0 ]; then
	log "benchmarking block and extrinsic overhead"
	"$NODE" benchmark overhead \
		--runtime "$RUNTIME" --genesis-builder runtime \
		--header scripts/weights-header.txt \
		--weight-path "$OUT"
fi
log "weights written to $OUT"
