#!/usr/bin/env bash
# Fuzzes the parsers that face the network (fuzz/fuzz_targets), each for
# FUZZ_SECONDS, starting from the committed seeds in fuzz/corpus/<target>/
# (inputs found on the way are kept there, untracked). Needs a nightly
# toolchain; installs cargo-fuzz when missing. Not part of `make test`.
# A crash leaves its input in fuzz/artifacts/<target>/ and fails the run;
# `cargo +nightly fuzz run <target> <file>` replays it.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-60}"
targets="${FUZZ_TARGETS:-trace_context request_id snowflake api_bodies forwarded_events loki_push}"
CARGO_FUZZ_VERSION=0.13.2

cargo +nightly --version >/dev/null 2>&1 || { echo "fuzz: no nightly toolchain (rustup toolchain install nightly)" >&2; exit 1; }
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"

cargo +nightly fuzz build
summary=()
failed=0
for target in $targets; do
  log="fuzz/target/$target.log"
  mkdir -p fuzz/target "fuzz/corpus/$target"
  echo "fuzz: $target for ${seconds}s"
  # 2 GiB of RSS, and no single allocation past it: a parser that lets a
  # small input allocate without bound is a crash.
  if cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 \
       -print_final_stats=1 >"$log" 2>&1; then
    outcome=ok
  else
    outcome="CRASH (fuzz/artifacts/$target/, log $log)"
    failed=1
    tail -n 30 "$log" >&2
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  summary+=("$(printf '%-18s %12s execs  %s' "$target" "${runs:-?}" "$outcome")")
done
printf '%s\n' "${summary[@]}"
exit "$failed"
