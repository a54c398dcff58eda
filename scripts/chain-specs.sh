#!/usr/bin/env bash
# Renders chain-specs/{dev,local}.json and their raw forms from the runtime's genesis presets,
# with the tea-node binary built from this checkout. Never edit those files by hand: run this.
# The Rust test node/tests/chain_specs.rs fails when they are out of date.
set -euo pipefail
. "$(dirname "$0")/env.sh"

NODE="$TEA_BIN/tea-node"
if [ "${1:-}" != "--no-build" ]; then
	"$TEA_ROOT/scripts/build.sh"
fi
[ -x "$NODE" ] || die "$NODE not built: run cargo build -p tea-node"

out="$TEA_ROOT/chain-specs"
mkdir -p "$out"
for chain in dev local; do
	"$NODE" export-chain-spec --chain "$chain" --output "$out/$chain.json" >/dev/null
	"$NODE" export-chain-spec --chain "$chain" --raw --output "$out/$chain-raw.json" >/dev/null
	log "wrote chain-specs/$chain.json and chain-specs/$chain-raw.json"
done
