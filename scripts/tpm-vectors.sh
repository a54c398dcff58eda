#!/usr/bin/env bash
# Regenerates primitives/test-vectors/tpm-quote-{a,b}.json with a real software TPM: starts two
# swtpm instances on free loopback ports (control port = port + 1, as the swtpm TCTI expects)
# and runs tea-worker's example `tpm-vectors`, which quotes through the worker's own tss-esapi
# code. The vectors are committed; tea-primitives' tests verify them.
set -euo pipefail
. "$(dirname "$0")/env.sh"
OUT="$TEA_ROOT/primitives/test-vectors"
mkdir -p "$OUT"

free_pair() { python3 -c '
import socket
while True:
    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]
    b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 1)); print(p); break
    except OSError:
        pass
    finally:
        a.close(); b.close()'; }

pids=()
dirs=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "${dirs[@]}"' EXIT
start_swtpm() { # prints the TCTI
	local dir port
	dir=$(mktemp -d)
	port=$(free_pair)
	dirs+=("$dir")
	swtpm socket --tpm2 --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
		--ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" --tpmstate "dir=$dir" \
		--flags not-need-init,startup-clear >/dev/null 2>&1 &
	pids+=($!)
	TCTI="swtpm:host=127.0.0.1,port=$port"
}
start_swtpm
A=$TCTI
start_swtpm
B=$TCTI
sleep 0.5
cd "$TEA_ROOT"
cargo run -q --example tpm-vectors -- "$A" "$B" "$OUT"
