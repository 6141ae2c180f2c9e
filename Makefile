# Developer entry points. `make dev-all` and `make test` are the two that matter.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: help dev-all dev-backend dev-gateway dev-bot build test test-deps lint fmt-check clippy nextest \
        bench test-faults stack-up stack-down stack-logs stack-reset check-k8s

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

test: test-deps fmt-check clippy check-k8s nextest ## Everything CI runs: install what is missing, lint, the whole suite

test-deps: ## Install the tools the tests need (idempotent)
	@scripts/install-test-deps.sh

fmt-check:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

nextest: build
	$(CARGO) nextest run --workspace --no-fail-fast

.PHONY: demo-traffic
DEMO_ARGS ?=
demo-traffic: ## Drive realistic load through the gateway (needs backend + gateway; DEMO_ARGS="--duration 60s --rate 50 --guilds 5")
	$(CARGO) run -q -p demo-traffic -- $(DEMO_ARGS)
# 1.30 is the oldest Kubernetes the manifests support (the preStop `sleep`
# action is on by default from 1.30); the default is the newest schema shipped.
check-k8s: ## Validate infrastructure/k8s/ against the Kubernetes API schemas (strict)
	python3 -m kubernetes_validate --strict --quiet -k 1.30.0 infrastructure/k8s/*.yaml
	python3 -m kubernetes_validate --strict --quiet infrastructure/k8s/*.yaml
	python3 infrastructure/k8s/check_timings.py
