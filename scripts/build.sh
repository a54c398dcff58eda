#!/usr/bin/env bash
# Builds tea-node and tea-worker (debug profile, dependencies optimised; see Cargo.toml).
set -euo pipefail
. "$(dirname "$0")/env.sh"
require_wasm_toolchain
log "building the workspace (tea-node, tea-worker, tests) into $CARGO_TARGET_DIR"
# tea-worker/test-faults: test-only crash points (inert unless a TEA_FAULT_* variable is set);
# never in a release build.
cargo build --workspace --all-targets --features tea-worker/test-faults "$@"
