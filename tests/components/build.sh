#!/usr/bin/env bash
# Builds the test-only components for wasm32-wasip2 (release) and copies
# them to one folder under stable names:
#   echo-v1.wasm echo-v2.wasm hostile.wasm badinit.wasm wrongworld.wasm
#   badinit-first-call.wasm
#
# Usage: tests/components/build.sh [OUT_DIR]
#   OUT_DIR defaults to target/test-components/out (relative to the repo
#   root); a relative OUT_DIR is taken relative to the caller's directory.
#
# Meant to be called from inside `cargo test`, so it clears the settings the
# outer (native) build exports and uses its own target directory: the outer
# build holds the lock on the main one.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
TARGET=wasm32-wasip2
TARGET_DIR="$ROOT/target/test-components"
OUT="${1:-$TARGET_DIR/out}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS \
    RUSTC_WORKSPACE_WRAPPER RUSTC_WRAPPER CARGO_BUILD_TARGET \
    CARGO_TARGET_DIR CARGO_PRIMARY_PACKAGE ECHO_VERSION
CARGO="${CARGO:-cargo}"
BUILT="$TARGET_DIR/$TARGET/release"

build() {
    (cd "$ROOT" && "$CARGO" build --release --target "$TARGET" \
        --target-dir "$TARGET_DIR" "$@")
}

# Copies a built artifact and checks it is a component (not a core module).
ship() {
    local from="$BUILT/$1.wasm" to="$OUT/$2.wasm"
    cp "$from" "$to"
    local magic
    magic="$(od -An -tx1 -N8 "$to" | tr -d ' \n')"
    if [[ "$magic" != "0061736d0d000100" ]]; then
        echo "error: $to is not a wasm component (magic $magic)" >&2
        exit 1
    fi
}

# The version is baked in by option_env!, which cargo tracks, so each of
# these rebuilds only test-echo.
ECHO_VERSION=v1 build -p test-echo
ship test_echo echo-v1
ECHO_VERSION=v2 build -p test-echo
ship test_echo echo-v2

# Same for the feature: only test-badinit is rebuilt.
build -p test-badinit --features first-call-trap
ship test_badinit badinit-first-call

build -p test-hostile -p test-badinit -p test-wrongworld
ship test_hostile hostile
ship test_badinit badinit
ship test_wrongworld wrongworld

echo "test components in $OUT" >&2
