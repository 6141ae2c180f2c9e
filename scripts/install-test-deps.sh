#!/usr/bin/env bash
# Installs what the test suite needs that a fresh machine may lack.
# Idempotent: each tool is checked first; nothing is reinstalled.
set -euo pipefail

need_apt=()
# PostgreSQL server binaries for the backend's storage tests (testkit starts a
# throwaway cluster with initdb/pg_ctl; no system service is used).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v cargo-nextest >/dev/null 2>&1 || cargo install --locked cargo-nextest

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-test-deps: missing ${need_apt[*]}; run as root or install them (apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
