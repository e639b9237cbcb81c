#!/usr/bin/env bash
# A/B comparison of greylist-milter builds on the policy front end, for
# measuring one change at a time (not part of BENCHMARKS.md's tables).
#
#   bash bench/ab-policy.sh [options] LABEL=/path/to/greylist-milter [LABEL=/path ...]
#
# Options: --rounds N (5), --duration S (3), --connections C (32),
# --mix new|repeat|whitelisted (new), --sync crash-safe|full (crash-safe),
# --bench-dir DIR (where policy-load and noop-policy are: build/bench),
# --extra "ARGS" (more daemon options, e.g. "--threads 2").
#
# Each round starts every build and noop-policy in turn (order rotated
# between rounds), with a fresh database directory and the harness's
# whitelists (Debian's postgrey list plus 192.0.2.0/24), and measures one
# policy-load run against each. Prints one line per run, then the median
# req/s and server CPU time per request (user + system, from /proc) of
# each server and the median over rounds of each build's ratio to
# noop-policy and to the first build. On a shared machine the CPU time per
# request is the steadier figure. Loopback only; every wait bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/bench-lib.sh
source bench/bench-lib.sh  # no_spf_args (its free_port, wait_port: ours below win)

ROUNDS=5
DURATION=3
CONNECTIONS=32
MIX=new
SYNC=crash-safe
BENCH=${BENCH:-$PWD/build/bench}
EXTRA=""
declare -a LABELS=() BINARIES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --connections) CONNECTIONS=$2; shift ;;
    --mix) MIX=$2; shift ;;
    --sync) SYNC=$2; shift ;;
    --bench-dir) BENCH=$2; shift ;;
    --extra) EXTRA=$2; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *=*) LABELS+=("${1%%=*}"); BINARIES+=("${1#*=}") ;;
    *) echo "ab-policy: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[ ${#LABELS[@]} -ge 1 ] || { echo "ab-policy: give at least one LABEL=BINARY" >&2; exit 2; }

WORK=$(mktemp -d /tmp/greylist-ab.XXXXXX)
chmod 755 "$WORK"
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

{ cat /etc/postgrey/whitelist_clients; echo "192.0.2.0/24"; } >"$WORK/wl_clients"
cp /etc/postgrey/whitelist_recipients "$WORK/wl_rcpts"
chmod 644 "$WORK/wl_clients" "$WORK/wl_rcpts"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() {  # PORT: waits at most 30 s
  local i
  for i in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

RESULTS=$WORK/results.txt
SERVERS=("${LABELS[@]}" noop)
n=${#SERVERS[@]}
for round in $(seq 1 "$ROUNDS"); do
  for k in $(seq 0 $((n - 1))); do
    idx=$(( (k + round - 1) % n ))
    label=${SERVERS[$idx]}
    port=$(free_port)
    db=$WORK/db-$label-$round
    mkdir -p "$db"
    if [ "$label" = noop ]; then
      "$BENCH/noop-policy" --port "$port" --threads 2 2>>"$WORK/noop.log" &
    else
      read -ra spf <<<"$(no_spf_args "${BINARIES[$idx]}")"
      # shellcheck disable=SC2086
      "${BINARIES[$idx]}" "${spf[@]}" --policy "inet:127.0.0.1:$port" --milter none --dbdir "$db" \
        --log stderr --delay 1 --dynamic-delay 0 --sync "$SYNC" --whitelist-clients "$WORK/wl_clients" \
        --whitelist-recipients "$WORK/wl_rcpts" $EXTRA 2>>"$WORK/$label.log" &
    fi
    PID=$!
    wait_port "$port" || { echo "ab-policy: $label did not start" >&2; tail -5 "$WORK/$label.log" >&2; exit 1; }
    extra=""
    [ "$MIX" = repeat ] && extra="--nonce $((round * 1000 + k)) --prewarm yes --pool 300 --prewarm-wait 2"
    # shellcheck disable=SC2086
    out=$("$BENCH/policy-load" --port "$port" --mix "$MIX" --connections "$CONNECTIONS" \
      --client-threads 2 --requests 2000000 --duration "$DURATION" --timeout 10 $extra \
      --label "$label" | grep '^{' || true)
    rate=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["rate"])' "$out" 2>/dev/null || echo 0)
    cpu=$(awk '{print $14+$15}' "/proc/$PID/stat" 2>/dev/null || echo 0)
    # Server CPU per request (start-up included, a few ms): ticks are 10 ms.
    us=$(python3 -c 'import sys; r=float(sys.argv[1]); print(round(float(sys.argv[2])*10000/(r*float(sys.argv[3])),1) if r else 0)' "$rate" "$cpu" "$DURATION")
    echo "round $round $label $rate req/s, server cpu ~$us us/request, load $(cut -d' ' -f1 /proc/loadavg)"
    echo "$round $label $rate $us" >>"$RESULTS"
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=""
    rm -rf "$db"
  done
done

python3 - "$RESULTS" "${LABELS[@]}" <<'EOF'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
labels = sys.argv[2:]
by = {}
cpu = {}
for r, label, rate, us in rows:
    by.setdefault(label, {})[int(r)] = float(rate)
    cpu.setdefault(label, []).append(float(us))
noop = by.get("noop", {})
first = by.get(labels[0], {})
for label in labels + ["noop"]:
    rates = list(by.get(label, {}).values())
    line = (f"{label}: median {statistics.median(rates):,.0f} req/s, "
            f"server cpu {statistics.median(cpu[label]):.1f} us/request")
    if label != "noop":
        ratios = [by[label][r] / noop[r] for r in by[label] if noop.get(r)]
        line += f", {statistics.median(ratios):.0%} of noop-policy"
        if label != labels[0]:
            vs = [by[label][r] / first[r] for r in by[label] if first.get(r)]
            line += f", {statistics.median(vs):.2f}x {labels[0]}"
    print(line)
EOF
