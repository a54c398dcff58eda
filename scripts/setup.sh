#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test TEA. Idempotent and fast
# (a few seconds) when everything is present.
set -euo pipefail
. "$(dirname "$0")/env.sh"

APT_PACKAGES=(protobuf-compiler clang libclang-dev pkg-config libtss2-dev swtpm swtpm-tools tpm2-tools curl)

missing=()
for p in "${APT_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing Debian packages: ${missing[*]}"
	SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v cargo >/dev/null || die "cargo not found: install Rust with rustup first"
command -v node >/dev/null || die "node not found: install Node.js 20 (Debian package nodejs) first"

# --- The Wasm toolchain for the runtime -------------------------------------------------------
# Preferred: rustup's own wasm32v1-none target. Fallback (rustup cannot download it): Debian's
# rustc-web with its library sources, linked into rustup as `debian-web` (shared/TOOLCHAIN.md).
mkdir -p "$HOME/.cache"
wasm_env_ok() { [ -f "$TEA_WASM_ENV" ] && grep -q "TEA_WASM_MODE=" "$TEA_WASM_ENV"; }
if ! wasm_env_ok; then
	if rustup target list --installed 2>/dev/null | grep -qx wasm32v1-none \
		|| rustup target add wasm32v1-none >/dev/null 2>&1; then
		log "wasm toolchain: rustup target wasm32v1-none"
		echo "export TEA_WASM_MODE=rustup" > "$TEA_WASM_ENV"
	else
		log "wasm toolchain: rustup has no wasm32v1-none here; using Debian's rustc-web"
		SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
			rustc-web cargo-web rust-web-src lld-22 >/dev/null \
			|| die "cannot install Debian's rustc-web: no Wasm toolchain available"
		T="$HOME/.cache/debian-rust"
		mkdir -p "$T/bin"
		for b in rustc cargo rustdoc; do ln -sf "/usr/bin/$b" "$T/bin/$b"; done
		ln -sfn /usr/lib "$T/lib"
		ln -sf /usr/lib/llvm-22/bin/lld "$T/bin/rust-lld"
		rustup toolchain link debian-web "$T"
		if ! ls /usr/lib/rustlib/wasm32v1-none/lib/libcore-*.rlib >/dev/null 2>&1; then
			log "building core/alloc for wasm32v1-none from Debian's sources (~25 s)"
			S="$(mktemp -d)"; mkdir -p "$S/src"
			printf '#![no_std]\nextern crate alloc;\n' > "$S/src/lib.rs"
			printf '[package]\nname="sysroot"\nversion="0.0.0"\nedition="2021"\n[profile.release]\npanic="abort"\nopt-level=3\ncodegen-units=1\n' > "$S/Cargo.toml"
			(cd "$S" && RUSTC_BOOTSTRAP=1 RUSTFLAGS="-C embed-bitcode=yes -Z force-unstable-if-unmarked" \
				PATH="$T/bin:$PATH" CARGO_TARGET_DIR="$S/target" /usr/bin/cargo build -q --release \
				--target wasm32v1-none -Zbuild-std=core,alloc)
			mkdir -p /usr/lib/rustlib/wasm32v1-none/lib
			cp "$S"/target/wasm32v1-none/release/deps/lib{core,alloc,compiler_builtins}-*.rlib \
				/usr/lib/rustlib/wasm32v1-none/lib/
			rm -rf "$S"
		fi
		cat > "$TEA_WASM_ENV" <<ENV
export TEA_WASM_MODE=debian
export WASM_BUILD_TOOLCHAIN=debian-web
export PATH="\$PATH:$T/bin"
export WASM_BUILD_RUSTFLAGS="-C link-arg=--allow-undefined"
ENV
	fi
fi

# --- JavaScript test client (@polkadot/api), from the committed lock file ---------------------
E2E="$TEA_ROOT/scripts/e2e"
if [ -f "$E2E/package-lock.json" ]; then
	stamp="$E2E/node_modules/.tea-lock-sha"
	want="$(sha256sum "$E2E/package-lock.json" | cut -d' ' -f1)"
	if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
		log "installing JS test dependencies (npm ci)"
		(cd "$E2E" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
		echo "$want" > "$stamp"
	fi
fi
log "setup complete"
