#!/usr/bin/env bash
# Installs what the test suite needs that a fresh machine may lack.
# Idempotent: each tool is checked first; nothing is reinstalled.
set -euo pipefail

need_apt=()
# PostgreSQL server binaries for the backend's storage tests (testkit starts a
# throwaway cluster with initdb/pg_ctl; no system service is used).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1 || need_apt+=(postgresql)
# `script` (util-linux) gives the `make dev-all` test its pseudo-terminal.
command -v script >/dev/null 2>&1 || need_apt+=(bsdutils)
command -v cargo-nextest >/dev/null 2>&1 || cargo install --locked cargo-nextest
# Supply-chain checks (`make deny`). Pinned: deny.toml's schema follows the
# tool's releases. A first install compiles for about 6 minutes on 2 cores.
CARGO_DENY_VERSION=0.20.2
if ! command -v cargo-deny >/dev/null 2>&1; then
  cargo install --locked cargo-deny --version "$CARGO_DENY_VERSION"
elif [ "$(cargo-deny --version)" != "cargo-deny $CARGO_DENY_VERSION" ]; then
  echo "install-test-deps: $(cargo-deny --version) found; deny.toml is checked with $CARGO_DENY_VERSION" >&2
fi
# Observability stack checks (make check-infra) and the real-Prometheus test.
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v amtool >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)
# `script` runs the doctor in a real pseudo-terminal (colour tests).
command -v script >/dev/null 2>&1 || need_apt+=(bsdutils)
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)

# Kubernetes manifest validation (`make check-k8s`): kubernetes-validate ships
# the API schemas, so validation runs offline once installed.
if ! python3 -c 'import kubernetes_validate' >/dev/null 2>&1; then
  python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
fi

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-test-deps: missing ${need_apt[*]}; run as root or install them (apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! python3 -c 'import kubernetes_validate' >/dev/null 2>&1; then
  # Debian's system Python refuses plain `pip install` (PEP 668); the tool is
  # self-contained, so installing it beside the system packages is safe.
  python3 -m pip install --quiet --disable-pip-version-check kubernetes-validate 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages kubernetes-validate
fi

# `make check-k8s` and the production-environment test render the overlays
# with `kubectl kustomize` (kustomize v5: kubectl 1.27 or newer). Debian's
# kubernetes-client is far older; the machines ship a current kubectl.
if ! command -v kubectl >/dev/null 2>&1; then
  echo "install-test-deps: kubectl not found: install kubectl 1.27 or newer (it renders infrastructure/k8s/overlays)" >&2
  exit 1
fi

# CRD validation in `make check-k8s` (jsonschema usually comes with
# kubernetes-validate; installed on its own when it did not).
if ! python3 -c 'import jsonschema' >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check jsonschema 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages jsonschema
fi

# npm packages of the infrastructure checks (lockfile committed; `npm ci`
# again only when the lockfile changed since the last install).
checks="$(dirname "$0")/../infrastructure/checks"
if ! cmp -s "$checks/package-lock.json" "$checks/node_modules/.installed-lock.json" 2>/dev/null; then
  (cd "$checks" && npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.installed-lock.json)
fi
