#!/usr/bin/env bash
# The worker's performance table: the mini-runtime side by side with raw wasmtime in one run
# (tea-worker/benches/runtime.rs). Prints a Markdown table; the README's comes from it.
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$TEA_ROOT"
cargo test -q -p tea-worker --bench runtime 2>&1 | grep '^|'
echo
cargo test -q -p tea-worker --bench attestation 2>&1 | grep '^|'
echo
cargo test -q -p tea-worker --bench blob 2>&1 | grep '^|'
echo
cargo test -q -p tea-worker --bench evidence 2>&1 | grep '^|'
echo
cargo test -q -p tea-worker --bench tasks 2>&1 | grep '^|'
