#!/usr/bin/env bash
# Regenerates primitives/test-vectors/tpm-quote-*.json with a real software TPM (swtpm +
# tpm2-tools, installed by setup.sh): an ECC EK, a restricted P-256 ECDSA attestation key under
# it, PCR 16 extended with a mini-runtime measurement, and TPM2_Quote over PCRs 16 and 23 with a
# chain-style nonce. The vectors are committed; tea-primitives' tests verify them.
set -euo pipefail
. "$(dirname "$0")/env.sh"
OUT="$TEA_ROOT/primitives/test-vectors"
mkdir -p "$OUT"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

vector() { # name measurement nonce-hex
	local name=$1 measurement=$2 nonce=$3 dir port
	dir=$(mktemp -d)
	port=$(free_port)
	mkdir "$dir/state"
	swtpm socket --tpm2 --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
		--ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" --tpmstate "dir=$dir/state" \
		--flags not-need-init,startup-clear &
	local pid=$!
	trap 'kill $pid 2>/dev/null; rm -rf "$dir"' RETURN
	sleep 0.5
	export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$port"
	(
		cd "$dir"
		tpm2_createek -c ek.ctx -G ecc -u ek.pub >/dev/null
		tpm2_createak -C ek.ctx -c ak.ctx -G ecc -g sha256 -s ecdsa -u ak.pem -f pem -n ak.name >/dev/null
		tpm2_flushcontext -t
		tpm2_pcrextend "16:sha256=$(printf '%s' "$measurement" | sha256sum | cut -d' ' -f1)"
		tpm2_quote -c ak.ctx -l sha256:16,23 -q "$nonce" -m attest.bin -s sig.bin -g sha256 >/dev/null
		tpm2_pcrread sha256:16,23 -o pcrs.bin >/dev/null
	)
	python3 - "$dir" "$OUT/tpm-quote-$name.json" "$measurement" "$nonce" <<'PY'
import json, subprocess, sys
d, out, measurement, nonce = sys.argv[1:]
der = subprocess.run(["openssl", "pkey", "-pubin", "-in", f"{d}/ak.pem", "-pubout", "-outform", "DER"],
                     check=True, capture_output=True).stdout
pcrs = open(f"{d}/pcrs.bin", "rb").read()
json.dump({
    "description": "TPM2_Quote by swtpm; regenerate with scripts/tpm-vectors.sh",
    "measurement": measurement,
    "akSec1": der[-65:].hex(),
    "nonce": nonce,
    "attest": open(f"{d}/attest.bin", "rb").read().hex(),
    "signature": open(f"{d}/sig.bin", "rb").read().hex(),
    "pcrs": [[16, pcrs[:32].hex()], [23, pcrs[32:64].hex()]],
}, open(out, "w"), indent=2)
open(out, "a").write("\n")
PY
	log "wrote $OUT/tpm-quote-$name.json"
}

vector a "tea-mini-runtime v1" 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
vector b "tea-mini-runtime v2" ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100
