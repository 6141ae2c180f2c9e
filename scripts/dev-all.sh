#!/bin/sh
# `make dev-all`: builds backend, gateway, bot and the dev-all runner once,
# then hands the terminal to the runner (crates/dev-all), which starts the
# three services, shows each of their lines as soon as it is written (marked
# with the service's badge), stops all three on Ctrl-C or SIGTERM and
# reports a service that exits while the others keep running.
#
# The prefixing used to be done by awk reading a FIFO; mawk (Debian's and
# Ubuntu's default awk) reads a pipe in 4 KiB blocks, so nothing reached the
# terminal until a block filled or the services stopped. The runner is the
# same Rust on every machine, whatever awk, sed or bash version it ships.
#
#   scripts/dev-all.sh            build (debug) then run
#   DEV_ALL_NO_BUILD=1 ...        run what is already built
#   CARGO_TARGET_DIR / DEV_PROFILE select the binaries (default target/debug)
set -eu

cd "$(dirname "$0")/.."
profile=${DEV_PROFILE:-debug}
bin_dir="${CARGO_TARGET_DIR:-target}/$profile"

if [ -z "${DEV_ALL_NO_BUILD:-}" ]; then
  release=
  [ "$profile" = release ] && release=--release
  # The whole workspace, as `make build` and `make test` build it: the same
  # feature set, so switching between them rebuilds nothing.
  # shellcheck disable=SC2086 # $release is one flag or nothing
  cargo build $release --workspace --bins
fi

exec "$bin_dir/dev-all" "$@"
