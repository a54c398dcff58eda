#!/usr/bin/env bash
# Fuzzes the TPM quote verifier (primitives/fuzz, cargo fuzz + libFuzzer, nightly toolchain):
# seeds the corpus with the committed swtpm vectors and runs for SECONDS (default 300).
#
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
. "$(dirname "$0")/env.sh"
export CARGO_TARGET_DIR="${TEA_FUZZ_TARGET_DIR:-$HOME/.cache/tea-target-fuzz}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
CORPUS="$TEA_ROOT/primitives/fuzz/corpus/verify_quote"
mkdir -p "$CORPUS"
python3 - "$TEA_ROOT/primitives/test-vectors" "$CORPUS" <<'PY'
import json, pathlib, sys
src, out = map(pathlib.Path, sys.argv[1:])
for f in sorted(src.glob("tpm-quote-*.json")):
    v = json.loads(f.read_text())
    attest, sig = bytes.fromhex(v["attest"]), bytes.fromhex(v["signature"])
    pcrs = b"".join(bytes([i]) + bytes.fromhex(h) for i, h in v["pcrs"])
    seed = bytes([len(attest)]) + attest + bytes([len(sig)]) + sig + bytes([len(v["pcrs"])]) + pcrs
    (out / f"seed-{f.stem}").write_bytes(seed)
PY
cd "$TEA_ROOT/primitives/fuzz"
cargo +nightly fuzz run verify_quote "$CORPUS" -- -max_total_time="${1:-300}" -print_final_stats=1
