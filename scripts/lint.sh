#!/usr/bin/env bash
# The code checks of every workspace (root, plugins/, sdk/ and sdk/page/): rustfmt and clippy
# with warnings as errors. Prints one `check <name>: passed|FAILED` line per check and
# exits non-zero when any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
check() {
  local name=$1; shift
  if "$@"; then echo "check $name: passed"; else echo "check $name: FAILED"; status=1; fi
}
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
check "fmt root" cargo fmt --all --check
check "fmt plugins" cargo fmt --manifest-path plugins/Cargo.toml --all --check
check "fmt sdk" cargo fmt --manifest-path sdk/Cargo.toml --all --check
check "fmt sdk/page" cargo fmt --manifest-path sdk/page/Cargo.toml --all --check
check "clippy root" cargo clippy -q --workspace --all-targets -- -D warnings
check "clippy plugins (wasm32-wasip2)" cargo clippy -q --manifest-path plugins/Cargo.toml \
  --target wasm32-wasip2 -- -D warnings
check "clippy sdk" cargo clippy -q --manifest-path sdk/Cargo.toml --all-targets -- -D warnings
check "clippy sdk/page" cargo clippy -q --manifest-path sdk/page/Cargo.toml --all-targets -- -D warnings
exit $status
