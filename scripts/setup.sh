# Sourced by scripts/demo and scripts/test: installs what a fresh Debian machine with only the
# Rust toolchain lacks, idempotently, and picks the one cargo target dir both commands share.
set -euo pipefail

# A package counts only when installed (not merely known, e.g. removed with its config kept).
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
need_pkgs=()
installed libclang-dev || need_pkgs+=(libclang-dev)   # bindgen, for rocksdb
installed g++ || need_pkgs+=(g++)                     # RocksDB's C++
installed procps || need_pkgs+=(procps)               # kill(1), used by the end-to-end tests
installed mount || need_pkgs+=(mount)                 # mount(8): the full-disk test mounts a tmpfs
if [ "${VIGIL_SETUP_TESTS:-0}" = 1 ]; then
  installed chromium || need_pkgs+=(chromium)         # the web page's tests run in it
  # The independent verifier (tests/independent/) is Python, with the blake3 module: the
  # machine's own Python if it has one, else Debian's; pip for the module (below) if missing.
  python3 -c 'import blake3' 2>/dev/null || python3 -m pip --version >/dev/null 2>&1 ||
    need_pkgs+=(python3 python3-pip)
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "setup: installing ${need_pkgs[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# The browser verifier is the core compiled for wasm32.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  echo "setup: adding the wasm32-unknown-unknown target" >&2
  rustup target add wasm32-unknown-unknown >/dev/null
fi

# The independent verifier (tests/independent/, Python) hashes with BLAKE3.
if [ "${VIGIL_SETUP_TESTS:-0}" = 1 ] && ! python3 -c 'import blake3' 2>/dev/null; then
  echo "setup: installing the blake3 Python module" >&2
  # Debian's own Python refuses pip installs outside a venv unless told (PEP 668).
  python3 -m pip install -q --root-user-action=ignore blake3==1.0.11 2>/dev/null ||
    python3 -m pip install -q --root-user-action=ignore --break-system-packages blake3==1.0.11
fi

# Formatting and lints are checked by the test command.
if ! cargo fmt --version >/dev/null 2>&1; then
  echo "setup: adding rustfmt" >&2
  rustup component add rustfmt >/dev/null
fi
if ! cargo clippy --version >/dev/null 2>&1; then
  echo "setup: adding clippy" >&2
  rustup component add clippy >/dev/null
fi

# One target dir, outside the clone, so the demo, the tests and CI reuse one RocksDB build
# (its C++ takes ~16 minutes to compile on 2 cores).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vigil/target}"

# The web page's verifier: the core for wasm32, copied to web/vigil.wasm (not in git).
build_wasm() {
  cargo build --locked -q -p vigil-wasm --target wasm32-unknown-unknown --release
  cp "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/vigil_wasm.wasm" web/vigil.wasm
}
