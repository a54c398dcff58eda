# Sourced by every script: one place for the build environment.
# shellcheck shell=bash

TEA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export TEA_ROOT

# One persistent target dir outside the checkout, shared by sessions and CI.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tea-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# The Wasm toolchain chosen by setup.sh (see scripts/setup.sh).
TEA_WASM_ENV="$HOME/.cache/tea-wasm-toolchain.env"
if [ -f "$TEA_WASM_ENV" ]; then
	# shellcheck disable=SC1090
	. "$TEA_WASM_ENV"
fi

TEA_BIN="$CARGO_TARGET_DIR/debug"
export TEA_BIN

log() { printf '[tea %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Fails with one clear line when the runtime cannot be compiled to Wasm here.
require_wasm_toolchain() {
	case "${TEA_WASM_MODE:-}" in
	rustup)
		rustup target list --installed 2>/dev/null | grep -qx wasm32v1-none \
			|| die "no Wasm toolchain: rustup's wasm32v1-none target is gone; run scripts/setup.sh"
		;;
	debian)
		rustup toolchain list 2>/dev/null | grep -q '^debian-web' \
			|| die "no Wasm toolchain: the debian-web rustup toolchain is gone; run scripts/setup.sh"
		;;
	*) die "no Wasm toolchain for the runtime is set up: run scripts/setup.sh" ;;
	esac
}
