#!/usr/bin/env bash
# The rules' cost in the daemon in instructions (issue 14): a count that a
# shared, loaded machine does not disturb, unlike rates and CPU time.
#
#   bash bench/run-rules-callgrind.sh [--requests N] [--mix new|repeat]
#
# The daemon (policy front end, Berkeley DB, crash-safe, as in
# run-rules-benchmarks.sh) runs under valgrind --tool=callgrind, without
# rules and with the 1,000 rules of `rules-bench --write-rules`; policy-load
# sends it N and then 3N requests of the mix (C = 4), each in a daemon of
# its own; the difference of the two totals over 2N is the instructions per
# request, start-up and shutdown excluded. Prints one line per daemon and
# the ratio. Run as root. Everything started is stopped on exit; waits are bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

REQUESTS=2000
MIX=new
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) REQUESTS=$2; shift ;;
    --mix) MIX=$2; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "run-rules-callgrind: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$REQUESTS" -ge 100 ] && [ "$REQUESTS" -le 100000 ] || { echo "run-rules-callgrind: --requests 100..100000" >&2; exit 2; }
case "$MIX" in new|repeat) ;; *) echo "run-rules-callgrind: --mix new|repeat" >&2; exit 2 ;; esac

BUILD_DIR=${BUILD_DIR:-$ROOT/build}
# shellcheck source=bench/bench-lib.sh
source "$ROOT/bench/bench-lib.sh"
ninja -C "$BUILD_DIR" greylist-milter bench/policy-load bench/rules-bench >/dev/null
start_work_dir rules-callgrind
# The daemon runs as its service user from the start (setpriv): started as
# root it would drop privileges after callgrind opened its file as root.
DAEMON_USER=greylist-milter
chmod 1777 "$WORK"
write_whitelists "$WORK"
RULES_FILE=$WORK/rules-1000
"$BUILD_DIR/bench/rules-bench" --rules 1000 --write-rules "$RULES_FILE"
chmod 644 "$RULES_FILE"

# run RULES N: the instructions a daemon executed in all while answering N requests.
run() {
  local rules=$1 n=$2 port out pid db extra=""
  port=$(free_port)
  out=$WORK/callgrind.$RANDOM.out
  db=$WORK/db.$RANDOM
  mkdir -p "$db"
  chown "$DAEMON_USER:" "$db"
  setpriv --reuid="$DAEMON_USER" --regid="$DAEMON_USER" --init-groups valgrind --tool=callgrind --callgrind-out-file="$out" "$BUILD_DIR/greylist-milter" \
    --policy "inet:127.0.0.1:$port" --milter none --dbdir "$db" --log stderr --delay 1 \
    --dynamic-delay 0 --sync crash-safe --whitelist-clients "$WL_CLIENTS" \
    --whitelist-recipients "$WL_RCPTS" --rules "$rules" --dns-server 127.0.0.1:9 \
    2>>"$WORK/daemon.log" &
  pid=$!
  STARTED+=("$pid")
  wait_port "$port" 120 >/dev/null || { echo "run-rules-callgrind: the daemon did not start" >&2; tail "$WORK/daemon.log" >&2; exit 1; }
  [ "$MIX" = repeat ] && extra="--prewarm yes --pool 300 --prewarm-wait 2"
  # shellcheck disable=SC2086
  "$BUILD_DIR/bench/policy-load" --port "$port" --mix "$MIX" --connections 4 --requests "$n" \
    --duration 600 --timeout 60 $extra >/dev/null
  kill -TERM "$pid"
  for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done  # callgrind writes its file
  wait "$pid" 2>/dev/null || true
  callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }'
}

per_request() {  # RULES: instructions per request
  local small large
  small=$(run "$1" "$REQUESTS")
  large=$(run "$1" $((REQUESTS * 3)))
  echo $(((large - small) / (REQUESTS * 2)))
}

without=$(per_request "")
with=$(per_request "$RULES_FILE")
echo "mix $MIX, $REQUESTS and $((REQUESTS * 3)) requests, C = 4"
echo "instructions per request without rules: $without"
echo "instructions per request with 1,000 rules: $with"
awk -v a="$without" -v b="$with" 'BEGIN { printf "without / with: %.1f%% (the rate a CPU-bound daemon keeps)\n", 100 * a / b }'
