#!/usr/bin/env bash
# The rules' cost in the daemon in instructions (issue 14): a count that a
# shared, loaded machine does not disturb, unlike rates and CPU time.
#
#   bash bench/run-rules-callgrind.sh [--requests N] [--mix new|repeat]
#
# The daemon (policy front end, Berkeley DB, crash-safe, as in
# run-rules-benchmarks.sh) runs under valgrind --tool=callgrind, without
# rules and with the 1,000 rules of `rules-bench --write-rules`, each for
# --rounds rounds (alternating), each round a fresh daemon and database
# answering N requests of the mix from policy-load (C = 1). Counted: the
# instructions of the connection handler of src/policy/policy_server.cc
# (inclusive: reading, parsing, deciding with the rules and the store,
# replying) and of PolicyResponder::begin (the decision alone), divided by
# N. Start-up, shutdown and the daemon's background threads (expiry, the
# store's checkpoints: they follow wall time, which valgrind stretches)
# are left out. DAEMON=PATH runs another build's daemon. Prints one line per daemon and round, then the medians and
# their ratio. Run as root. Everything started is stopped on exit; waits
# are bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

REQUESTS=3000
ROUNDS=3
MIX=new
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) REQUESTS=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --mix) MIX=$2; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "run-rules-callgrind: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 20 ] || { echo "run-rules-callgrind: --rounds 1..20" >&2; exit 2; }
[ "$REQUESTS" -ge 100 ] && [ "$REQUESTS" -le 100000 ] || { echo "run-rules-callgrind: --requests 100..100000" >&2; exit 2; }
case "$MIX" in new|repeat) ;; *) echo "run-rules-callgrind: --mix new|repeat" >&2; exit 2 ;; esac

BUILD_DIR=${BUILD_DIR:-$ROOT/build}
DAEMON=${DAEMON:-$BUILD_DIR/greylist-milter}  # another build's daemon, to compare commits
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

# run RULES N: writes "HANDLER BEGIN" to $WORK/counted: the instructions per
# request of the connection handler and of PolicyResponder::begin in a
# daemon that answered N requests.
run() {
  local rules=$1 n=$2 port out pid db extra="" calls=$2
  local -a spf
  read -ra spf <<<"$(no_spf_args "$DAEMON")"
  port=$(free_port)
  out=$WORK/callgrind.$RANDOM.out
  db=$WORK/db.$RANDOM
  mkdir -p "$db"
  chown "$DAEMON_USER:" "$db"
  setpriv --reuid="$DAEMON_USER" --regid="$DAEMON_USER" --init-groups \
    valgrind --tool=callgrind --callgrind-out-file="$out" "$DAEMON" "${spf[@]}" \
    --policy "inet:127.0.0.1:$port" --milter none --dbdir "$db" --log stderr --delay 1 \
    --dynamic-delay 0 --sync crash-safe --whitelist-clients "$WL_CLIENTS" \
    --whitelist-recipients "$WL_RCPTS" --rules "$rules" --dns-server 127.0.0.1:9 \
    2>>"$WORK/daemon.log" &
  pid=$!
  STARTED+=("$pid")
  wait_port "$port" 120 >/dev/null || { echo "run-rules-callgrind: the daemon did not start" >&2; tail "$WORK/daemon.log" >&2; exit 1; }
  if [ "$MIX" = repeat ]; then  # two passes over the pool first: counted as requests too
    extra="--prewarm yes --pool 300 --prewarm-wait 2"
    calls=$((n + 600))
  fi
  # shellcheck disable=SC2086
  "$BUILD_DIR/bench/policy-load" --port "$port" --mix "$MIX" --connections 1 --requests "$n" \
    --duration 600 --timeout 60 $extra >/dev/null
  kill -TERM "$pid"
  for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done  # callgrind writes its file
  wait "$pid" 2>/dev/null || true
  callgrind_annotate --inclusive=yes "$out" 2>/dev/null | awk -v n="$calls" '
    function count(field) { gsub(",", "", field); return field / n }
    /policy_server\.cc:greylist::\(anonymous namespace\)::Connection</ && !h { h = count($1) }
    /PolicyResponder::begin\(greylist::PolicyRequest const&\)/ && !b { b = count($1) }
    END { if (!h || !b) exit 1; printf "%.0f %.0f\n", h, b }' >"$WORK/counted"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "mix $MIX, $REQUESTS requests per daemon, C = 1, $ROUNDS rounds; instructions per request:"
: >"$WORK/counts"
for round in $(seq 1 "$ROUNDS"); do
  for rules in "" "$RULES_FILE"; do
    name=without; [ -n "$rules" ] && name=with
    run "$rules" "$REQUESTS"
    counts=$(cat "$WORK/counted")
    echo "round $round, $name rules: connection handler ${counts% *}, PolicyResponder::begin ${counts#* }"
    echo "$name $counts" >>"$WORK/counts"
  done
done
for column in 2 3; do
  label="connection handler"; [ "$column" = 3 ] && label="PolicyResponder::begin"
  without=$(awk -v c="$column" '$1 == "without" { print $c }' "$WORK/counts" | median)
  with=$(awk -v c="$column" '$1 == "with" { print $c }' "$WORK/counts" | median)
  awk -v l="$label" -v a="$without" -v b="$with" \
    'BEGIN { printf "median, %s: %d without rules, %d with 1,000 rules: without / with %.1f%%\n", l, a, b, 100 * a / b }'
done
