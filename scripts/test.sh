#!/usr/bin/env bash
# Installs what the tests need, then runs every check and test of the workspace. `.ci/run` calls
# this; run it locally the same way. Behaves the same with or without `CI` set.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

export ASTRO_DEPLOY_TEST_DEPS="${ASTRO_DEPLOY_TEST_DEPS:-$repo_root/.test-deps}"
# Keep the run's output the same in CI and in a terminal.
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() {
    printf '\n==> %s\n' "$*"
}

step "Installing test dependencies into $ASTRO_DEPLOY_TEST_DEPS"
scripts/install-test-deps.sh

step "Checking formatting (cargo fmt)"
cargo fmt --all -- --check

step "Linting (cargo clippy)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Running tests (cargo test)"
# Every test binary runs even after one fails, so that a red run shows all that is wrong.
cargo test --workspace --locked --no-fail-fast

step "All checks and tests passed"
