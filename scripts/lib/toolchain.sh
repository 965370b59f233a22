# Shared by the scripts in scripts/: find cargo, install the wasm target.
# shellcheck shell=bash

if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    source "$HOME/.cargo/env"
fi
command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install Rust with rustup first" >&2; exit 1; }

step() { printf '\n==> %s\n' "$*" >&2; }

ensure_wasm_target() {
    if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
        step "installing the wasm32-wasip2 target"
        rustup target add wasm32-wasip2
    fi
}

# Every crate that is built as a wasm32-wasip2 component.
WASM_PACKAGES=(sluice-checkin sluice-status sluice-manifest sluice-chunks sluice-admin sluice-policy-staged sluice-policy-standard sluice-policy-hold sluice-test-trap)

build_components() {
    cargo build --locked --release --target wasm32-wasip2 "${WASM_PACKAGES[@]/#/-p}"
}

# Installs a Debian package providing `command` when it is missing.
ensure_command() {
    local command="$1" package="$2"
    command -v "$command" >/dev/null 2>&1 && return 0
    step "installing $package (for $command)"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$package" >/dev/null
}
