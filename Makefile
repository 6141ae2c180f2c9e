# Developer entry points. `make dev-all` and `make test` are the two that matter.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: help dev-all dev-backend dev-gateway dev-bot build test test-deps lint fmt-check clippy nextest \
        bench bench-load test-faults doctor deny fuzz stack-up stack-down stack-logs stack-reset check-k8s k8s-generate check-infra

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

dev-all: ## Build once, then run backend, gateway and bot in this terminal (Ctrl-C stops all)
	@scripts/dev-all.sh

dev-backend: ## Run the backend alone (port 3000)
	$(CARGO) run --bin backend

dev-gateway: ## Run the gateway alone (port 3001)
	$(CARGO) run --bin gateway

dev-bot: ## Run the bot alone (HTTP port 3003)
	$(CARGO) run --bin bot

build: ## Build every binary (debug)
	$(CARGO) build --workspace --bins

test: test-deps fmt-check deny clippy check-k8s check-infra nextest ## Everything CI runs: install what is missing, lint, the whole suite

test-deps: ## Install the tools the tests need (idempotent)
	@scripts/install-test-deps.sh

fmt-check:
	$(CARGO) fmt --all --check

# The crates are fetched from crates.io first so cargo-deny runs --offline:
# it never reaches for the advisory database (docs/security.md, "Supply chain").
deny: ## Supply chain (deny.toml): licences allowed, no unlisted duplicate versions, crates.io only
	$(CARGO) fetch --locked --quiet
	$(CARGO) deny --offline --locked check bans licenses sources

fuzz: ## Fuzz the network-facing parsers, FUZZ_SECONDS (60) each; nightly cargo-fuzz; not in make test
	@scripts/fuzz.sh

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

nextest: build
	$(CARGO) nextest run --workspace --no-fail-fast

.PHONY: demo-traffic
DEMO_ARGS ?=
demo-traffic: ## Drive realistic load through the gateway (needs backend + gateway; DEMO_ARGS="--duration 60s --rate 50 --guilds 5")
	$(CARGO) run -q -p demo-traffic -- $(DEMO_ARGS)
check-k8s: ## Render the k8s overlays and validate them strictly: core + CRD schemas, NetworkPolicies, no literal Secret, Helm values, drift
	python3 infrastructure/k8s/check.py
	python3 -m unittest discover -s infrastructure/k8s -p check_test.py

k8s-generate: ## Regenerate infrastructure/k8s/base/generated/ (PrometheusRules, dashboard ConfigMaps, collector config) from infrastructure/
	python3 infrastructure/k8s/generate.py

DOCTOR_ARGS ?=
doctor: ## Check the services and the stack (Loki, Prometheus, Tempo, Grafana, Alertmanager) with .env; each failure with its fix (DOCTOR_ARGS=--json)
	@$(CARGO) run -q -p doctor -- $(DOCTOR_ARGS)

# --- Observability stack (infrastructure/docker) ------------------------------
COMPOSE_FILE_DEV := infrastructure/docker/docker-compose.yml
# `docker compose` (plugin) when present, else the standalone docker-compose.
COMPOSE_PLUGIN := $(shell docker compose version >/dev/null 2>&1 && echo yes)
COMPOSE = $(if $(COMPOSE_PLUGIN),docker compose,docker-compose) -f $(COMPOSE_FILE_DEV)
# Waits for the health checks where the compose version knows how.
UP = up -d $(if $(COMPOSE_PLUGIN),--wait)
REQUIRE_ENGINE = @docker info >/dev/null 2>&1 || { echo "stack: no Docker engine answers (docker info failed); the stack needs one" >&2; exit 1; }

stack-up: ## Start Loki, Prometheus, Grafana (:3002), Tempo, Alertmanager; add PROFILE=apps for the services too
	$(REQUIRE_ENGINE)
	$(if $(filter apps,$(PROFILE)),PROMETHEUS_CONFIG=prometheus.apps.yml) $(COMPOSE) $(if $(PROFILE),--profile $(PROFILE)) $(UP)

stack-down: ## Stop the stack (data volumes are kept)
	$(REQUIRE_ENGINE)
	$(COMPOSE) --profile apps down

stack-logs: ## Follow the stack's container logs
	$(REQUIRE_ENGINE)
	$(COMPOSE) --profile apps logs -f --tail 100

stack-reset: ## Stop the stack and delete its data (logs, metrics, traces, Grafana state), then start it again
	$(REQUIRE_ENGINE)
	$(COMPOSE) --profile apps down --volumes
	$(COMPOSE) $(UP)

check-infra: ## Validate infrastructure/ with promtool, amtool, Grafana's LogQL grammar, docker-compose
	@infrastructure/check-infra.sh

test-faults: build ## The fault suite at full length (30 s outages; `make test` runs it with 5 s ones)
	FAULT_OUTAGE_SECONDS=$${FAULT_OUTAGE_SECONDS:-30} $(CARGO) nextest run -p testkit --test faults --no-capture

bench: ## Benchmarks (optimised builds): logging cost per event and shipper throughput (criterion), then bench-load
	$(CARGO) bench -p telemetry
	$(MAKE) bench-load

bench-load: ## Load benchmark: CPU per request of telemetry, bare to full, backend and gateway under wrk; written into docs/BENCHMARKS.md
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } || { echo "bench-load: wrk is missing (apt-get install wrk)" >&2; exit 1; }
	$(CARGO) build --release -p backend -p gateway -p testkit --bins
	target/release/load-bench $(BENCH_ARGS)
