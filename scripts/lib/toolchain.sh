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
WASM_PACKAGES=(sluice-checkin sluice-status sluice-manifest sluice-chunks sluice-ddi sluice-admin sluice-dashboard-component sluice-policy-staged sluice-policy-standard sluice-policy-hold sluice-test-trap sluice-test-hello sluice-policy-offer-now sluice-policy-upgrade)

build_components() {
    cargo build --locked --release --target wasm32-wasip2 "${WASM_PACKAGES[@]/#/-p}"
}

# Installs Debian packages.
apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# Installs a Debian package providing `command` when it is missing.
ensure_command() {
    local command="$1" package="$2"
    command -v "$command" >/dev/null 2>&1 && return 0
    step "installing $package (for $command)"
    apt_install "$package"
}

# componentize-py, pinned, in a virtualenv outside the clone (for policies
# written in Python).
COMPONENTIZE_PY_VERSION=0.25.1
PY_VENV="${SLUICE_PY_VENV:-$HOME/.cache/sluice-venv}"

ensure_componentize_py() {
    if [ -x "$PY_VENV/bin/componentize-py" ] &&
        [ "$("$PY_VENV/bin/componentize-py" --version 2>/dev/null | awk '{print $2}')" = "$COMPONENTIZE_PY_VERSION" ]; then
        return 0
    fi
    ensure_command python3 python3
    step "installing componentize-py $COMPONENTIZE_PY_VERSION into $PY_VENV"
    rm -rf "$PY_VENV"
    if ! python3 -m venv "$PY_VENV" >/dev/null 2>&1; then
        # Debian ships venv's pip bootstrap separately.
        rm -rf "$PY_VENV"
        apt_install python3-venv
        python3 -m venv "$PY_VENV"
    fi
    "$PY_VENV/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION"
}

# Policies written in Python: policies/NAME-py/app.py → sluice_policy_NAME_py.wasm.
build_python_policies() {
    ensure_componentize_py
    local root dir name out
    root="$(pwd)"
    for dir in policies/*-py; do
        name="$(basename "$dir" | tr '-' '_')"
        out="$root/target/wasm32-wasip2/release/sluice_policy_${name}.wasm"
        if [ -f "$out" ] && [ -z "$(find "$dir" wit -newer "$out" -type f)" ]; then
            continue
        fi
        mkdir -p "$(dirname "$out")"
        "$PY_VENV/bin/componentize-py" -d wit -w policy componentize --stub-wasi -p "$dir" app -o "$out"
    done
}
