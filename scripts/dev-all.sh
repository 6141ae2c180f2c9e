#!/usr/bin/env bash
# Runs backend, gateway and bot in one terminal, output interleaved line by
# line, each line marked with its app's badge. Ctrl-C (or SIGTERM) stops all
# three and leaves no process behind; if one service exits, the others keep
# running and the exit is reported with its code.
#
#   scripts/dev-all.sh            build (debug) then run
#   DEV_ALL_NO_BUILD=1 ...        run what is already built
#   CARGO_TARGET_DIR / DEV_PROFILE select the binaries (default target/debug)
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
services=(backend gateway bot)
profile=${DEV_PROFILE:-debug}
bin_dir="${CARGO_TARGET_DIR:-target}/$profile"

if [ -z "${DEV_ALL_NO_BUILD:-}" ]; then
  flags=()
  [ "$profile" = release ] && flags+=(--release)
  for s in "${services[@]}"; do flags+=(--bin "$s"); done
  cargo build "${flags[@]}" || exit $?
fi

color() { # badge colours match the console formatter's
  case "$1" in backend) echo 44 ;; gateway) echo 42 ;; bot) echo 45 ;; *) echo 47 ;; esac
}
use_color=0
if [ -z "${NO_COLOR:-}" ] && { [ -t 1 ] || [ -n "${FORCE_COLOR:-}" ]; }; then use_color=1; fi
# The services colour their own lines only when they see a terminal; they
# write into a pipe here, so pass the decision on explicitly.
[ "$use_color" = 1 ] && export FORCE_COLOR=1

workdir=$(mktemp -d)
declare -A pid_of name_of
readers=()

cleanup() {
  trap - INT TERM EXIT
  local pids=()
  for s in "${services[@]}"; do
    p=${pid_of[$s]:-}
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null && pids+=("$p")
  done
  if [ ${#pids[@]} -gt 0 ]; then
    kill -TERM "${pids[@]}" 2>/dev/null
    # Give them the graceful-shutdown window, then insist.
    for _ in $(seq 1 100); do
      alive=0
      for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
      [ "$alive" = 0 ] && break
      sleep 0.1
    done
    kill -KILL "${pids[@]}" 2>/dev/null
    wait "${pids[@]}" 2>/dev/null
  fi
  [ ${#readers[@]} -gt 0 ] && wait "${readers[@]}" 2>/dev/null
  rm -rf "$workdir"
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

for s in "${services[@]}"; do
  fifo="$workdir/$s"
  mkfifo "$fifo"
  badge=$(printf '%-7s' "$s" | tr '[:lower:]' '[:upper:]')
  if [ "$use_color" = 1 ]; then badge=$(printf '\033[%s;97m %s \033[0m' "$(color "$s")" "$badge"); else badge="[$badge]"; fi
  upper=$(echo "$s" | tr '[:lower:]' '[:upper:]')
  # Lines the service printed itself carry its badge already; mark the rest.
  # Each service and its reader get their own session (setsid), so a terminal
  # Ctrl-C reaches only this script, which then sends each service exactly
  # one SIGTERM: a second signal would skip the graceful shutdown.
  setsid awk -v badge="$badge" -v own="[$upper]" '{ if (index($0, own) == 0) print badge " " $0; else print $0; fflush() }' <"$fifo" &
  readers+=($!)
  setsid "$bin_dir/$s" >"$fifo" 2>&1 &
  pid_of[$s]=$!
  name_of[$!]=$s
done

running=${#services[@]}
while [ "$running" -gt 0 ]; do
  wait -n -p exited "${pid_of[@]}"
  code=$?
  [ -z "${exited:-}" ] && continue
  running=$((running - 1))
  echo "dev-all: ${name_of[$exited]} exited with code $code ($running still running)" >&2
  unset "pid_of[${name_of[$exited]}]"
  exited=
done
