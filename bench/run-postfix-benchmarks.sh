#!/usr/bin/env bash
# Messages per second through a real Postfix on loopback, one hook at a time
# (issue 17; reusable for any "hook A >= X % of hook B" target).
#
#   bash bench/run-postfix-benchmarks.sh                 # every hook, 3 rounds
#   bash bench/run-postfix-benchmarks.sh --rounds 5 --messages 3000 \
#       --hooks "none policy" --require "policy/none>=0.95"
#
# Options:
#   --hooks "H ..."    which hooks to measure (default: all of them):
#                        none         Postfix without any greylister
#                        milter-tcp   greylist-milter's milter, inet:127.0.0.1:PORT
#                        milter-unix  greylist-milter's milter, unix:PATH
#                        policy       greylist-milter's policy front end (check_policy_service)
#                        postgrey     Debian's postgrey (check_policy_service)
#                        noop-milter  bench/noop-milter over TCP (libmilter doing nothing)
#                        milter-tcp-base, milter-unix-base  as milter-tcp and
#                                     milter-unix, with the --baseline binary
#   --rounds N         rounds; within a round every hook is measured once, in an
#                      order rotated from round to round (default 3)
#   --messages N       messages per measurement (default 2000)
#   --sessions N       parallel SMTP sessions of smtp-source (default 8)
#   --size N           message size in bytes (default 512)
#   --require "A/B>=R" exit with status 1 unless median(A)/median(B) >= R;
#                      repeatable
#   --results FILE     JSON lines, one per measurement (default
#                      bench/results/postfix-latest.jsonl)
#   --keep             leave the work directory (Postfix's maillog, daemon logs)
#   --loopback-quickack  for the run, give the loopback routes (127.0.0.0/8 and
#                      127.0.0.1) "quickack 1", the administrator's setting of
#                      README's milter section; restored on exit
#   --baseline BINARY  another greylist-milter (an earlier build) for the
#                      *-base hooks: before/after in the same rounds
#   --benchmarks FILE  write the "## Through Postfix" section of FILE
#                      (BENCHMARKS.md) from this run, replacing only it
#
# One private Postfix (test/e2e/postfix_instance.cc's layout: own
# config_directory and queue under a temporary directory, /etc/postfix
# untouched, 127.0.0.1 only) with one smtpd port per hook, chrooted into
# the queue directory as in Debian's master.cf (the unix-socket milter is
# set up as README says for that case); all mail is
# discarded after the queue (discard(8)), so what is measured is smtpd, the
# hook, cleanup and the queue manager. Every greylister runs with --delay 1 (greylist-milter also with --dynamic-delay 0, postgrey's single delay: the same work) and
# the one triplet of the load (127.0.0.1, bench@src.test, rcpt@dest.test) is
# made to pass before measuring (one deferred attempt, 2 s, one passing); a
# measurement in which Postfix rejected anything is reported and fails the
# run. The load is smtp-source (Debian's postfix package): --messages
# messages over --sessions sessions, one SMTP session per message.
#
# Needs root (Postfix's master). Everything started is stopped on exit; every
# wait is bounded in time. Network: 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

ALL_HOOKS="none milter-tcp milter-unix policy postgrey"
HOOKS=$ALL_HOOKS
ROUNDS=3
MESSAGES=2000
SESSIONS=8
SIZE=512
REQUIRES=()
RESULTS=$ROOT/bench/results/postfix-latest.jsonl
KEEP=0
QUICKACK_ROUTE=0
BENCHMARKS=""
BASELINE=""
COMMAND="bash bench/run-postfix-benchmarks.sh$(printf ' %q' "$@")"
while [ $# -gt 0 ]; do
  case "$1" in
    --hooks) HOOKS=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --messages) MESSAGES=$2; shift ;;
    --sessions) SESSIONS=$2; shift ;;
    --size) SIZE=$2; shift ;;
    --require) REQUIRES+=("$2"); shift ;;
    --results) RESULTS=$2; shift ;;
    --keep) KEEP=1 ;;
    --loopback-quickack) QUICKACK_ROUTE=1 ;;
    --benchmarks) BENCHMARKS=$2; shift ;;
    --baseline) BASELINE=$2; shift ;;
    -h|--help) sed -n '2,51p' "$0"; exit 0 ;;
    *) echo "run-postfix-benchmarks: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "run-postfix-benchmarks: needs root (Postfix's master)" >&2; exit 2; }
for tool in /usr/sbin/postfix /usr/sbin/smtp-source /usr/sbin/postgrey; do
  [ -x "$tool" ] || { echo "run-postfix-benchmarks: $tool is missing (apt-get install postfix postgrey)" >&2; exit 2; }
done

# shellcheck source=bench/bench-lib.sh
source "$ROOT/bench/bench-lib.sh"
# shellcheck source=bench/postfix-lib.sh
source "$ROOT/bench/postfix-lib.sh"
stop_system_postgrey

BUILD_DIR=${BUILD_DIR:-$ROOT/build}
[ -f "$BUILD_DIR/build.ninja" ] || meson setup "$BUILD_DIR" --buildtype=debugoptimized >/dev/null
ninja -C "$BUILD_DIR" greylist-milter bench/noop-milter >/dev/null
DAEMON=$BUILD_DIR/greylist-milter

WORK=$(mktemp -d /tmp/greylist-postfix-bench-XXXXXX)
chmod 755 "$WORK"
STARTED=()
LOOPBACK_ROUTES=""
cleanup() {
  local pid
  postfix_stop "$WORK/postfix"
  for pid in "${STARTED[@]}"; do stop_pid "$pid"; done
  [ -z "$LOOPBACK_ROUTES" ] || restore_loopback_routes "$LOOPBACK_ROUTES"
  if [ "$KEEP" = 1 ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
write_whitelists "$WORK"
if [ "$QUICKACK_ROUTE" = 1 ]; then
  LOOPBACK_ROUTES=$(loopback_routes)
  set_loopback_quickack "$LOOPBACK_ROUTES"
fi

# ---- the greylisters ----------------------------------------------------------
declare -A HOOK_SETTING HOOK_PID
MILTER_SOCKET=$WORK/postfix/spool/greylist-milter/milter.sock
BASE_SOCKET=$WORK/postfix/spool/greylist-milter/milter-base.sock

# start_greylister HOOK: starts what HOOK needs (nothing for "none"); sets
# HOOK_SETTING[HOOK] to its Postfix setting.
start_greylister() {
  local hook=$1 port db=$WORK/db-$1 log=$WORK/$1.log
  port=$(free_port)
  mkdir -p "$db"
  local -a spf_ours spf_base
  read -ra spf_ours <<<"$(no_spf_args "$DAEMON")"
  [ -z "$BASELINE" ] || read -ra spf_base <<<"$(no_spf_args "$BASELINE")"
  local common=(--dbdir "$db" --log stderr --delay 1 --dynamic-delay 0 --whitelist-clients "$WL_CLIENTS"
                --whitelist-recipients "$WL_RCPTS" --skip-networks 198.51.100.255/32)
  case "$hook" in
    none) HOOK_SETTING[$hook]=""; HOOK_PID[$hook]=""; return 0 ;;
    milter-tcp)
      "$DAEMON" --policy none --milter "inet:127.0.0.1:$port" "${common[@]}" "${spf_ours[@]}" 2>>"$log" &
      HOOK_SETTING[$hook]="-o smtpd_milters=inet:127.0.0.1:$port" ;;
    milter-unix)
      # README's set-up for Debian's chrooted smtpd: the socket in a
      # root-owned directory of Postfix's queue directory that only the group
      # postfix may enter, named relative to it.
      install -d -o root -g postfix -m 0750 "$(dirname "$MILTER_SOCKET")"
      "$DAEMON" --policy none --milter "unix:$MILTER_SOCKET" "${common[@]}" "${spf_ours[@]}" 2>>"$log" &
      HOOK_SETTING[$hook]="-o smtpd_milters=unix:greylist-milter/milter.sock" ;;
    milter-tcp-base)
      [ -x "$BASELINE" ] || { echo "run-postfix-benchmarks: $hook needs --baseline BINARY" >&2; exit 2; }
      "$BASELINE" --policy none --milter "inet:127.0.0.1:$port" "${common[@]}" "${spf_base[@]}" 2>>"$log" &
      HOOK_SETTING[$hook]="-o smtpd_milters=inet:127.0.0.1:$port" ;;
    milter-unix-base)
      [ -x "$BASELINE" ] || { echo "run-postfix-benchmarks: $hook needs --baseline BINARY" >&2; exit 2; }
      install -d -o root -g postfix -m 0750 "$(dirname "$BASE_SOCKET")"
      "$BASELINE" --policy none --milter "unix:$BASE_SOCKET" "${common[@]}" "${spf_base[@]}" 2>>"$log" &
      HOOK_SETTING[$hook]="-o smtpd_milters=unix:greylist-milter/milter-base.sock" ;;
    policy)
      "$DAEMON" --milter none --policy "inet:127.0.0.1:$port" "${common[@]}" "${spf_ours[@]}" 2>>"$log" &
      HOOK_SETTING[$hook]="-o smtpd_recipient_restrictions=check_policy_service,inet:127.0.0.1:$port,permit" ;;
    postgrey)
      chown postgrey:postgrey "$db"
      /usr/sbin/postgrey --inet="127.0.0.1:$port" --dbdir="$db" --delay=1 \
        --user=postgrey --group=postgrey --pidfile="$db/postgrey.pid" \
        --whitelist-clients="$WL_CLIENTS" --whitelist-recipients="$WL_RCPTS" 2>>"$log" &
      HOOK_SETTING[$hook]="-o smtpd_recipient_restrictions=check_policy_service,inet:127.0.0.1:$port,permit" ;;
    noop-milter)
      "$BUILD_DIR/bench/noop-milter" --port "$port" 2>>"$log" &
      HOOK_SETTING[$hook]="-o smtpd_milters=inet:127.0.0.1:$port" ;;
    *) echo "run-postfix-benchmarks: unknown hook $hook" >&2; exit 2 ;;
  esac
  STARTED+=("$!")
  HOOK_PID[$hook]=$!
  if [ "$hook" = milter-unix ]; then
    wait_file_socket "$MILTER_SOCKET" 60
  elif [ "$hook" = milter-unix-base ]; then
    wait_file_socket "$BASE_SOCKET" 60
  elif ! wait_port "$port" 60 >/dev/null; then
    echo "run-postfix-benchmarks: $hook did not listen within 60 s; its log:" >&2
    tail -20 "$log" >&2
    exit 1
  fi
}

for hook in $HOOKS; do start_greylister "$hook"; done

# ---- Postfix ------------------------------------------------------------------
declare -A SMTPD_PORT
services=()
for hook in $HOOKS; do
  SMTPD_PORT[$hook]=$(free_port)
  # chroot "y": smtpd runs in the queue directory, as Debian configures it.
  services+=("127.0.0.1:${SMTPD_PORT[$hook]} inet n - y - - smtpd ${HOOK_SETTING[$hook]}")
done
postfix_start "$WORK/postfix" "${services[@]}"
for hook in $HOOKS; do wait_port "${SMTPD_PORT[$hook]}" 30 >/dev/null; done

LOAD=(-f bench@src.test -t rcpt@dest.test -M client.src.test -l "$SIZE")
# Make the load's triplet pass every greylister: one deferred try, then one
# that passes after the 1 s delay.
for hook in $HOOKS; do
  smtp-source "${LOAD[@]}" -s 1 -m 1 "127.0.0.1:${SMTPD_PORT[$hook]}" >/dev/null 2>&1 || true
done
sleep 2.2
for hook in $HOOKS; do
  smtp-source "${LOAD[@]}" -s 1 -m 1 "127.0.0.1:${SMTPD_PORT[$hook]}" >/dev/null 2>&1 || true
done
postfix_wait_queue_empty "$WORK/postfix" 60
MASTER_PID=$(tr -d ' ' <"$WORK/postfix/spool/pid/master.pid")

# ---- measurements -------------------------------------------------------------
mkdir -p "$(dirname "$RESULTS")"
python3 - "$COMMAND" "$ROUNDS" "$MESSAGES" "$SESSIONS" "$SIZE" "$QUICKACK_ROUTE" \
  "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  "$(/usr/sbin/postconf -d -h mail_version 2>/dev/null)" \
  "$(dpkg-query -W -f '${Version}' postgrey 2>/dev/null)" >"$RESULTS" <<'PY'
import json, os, platform, sys, time
command, rounds, messages, sessions, size, quickack, commit, postfix, postgrey = sys.argv[1:]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(json.dumps({"run": True, "command": command.strip(), "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                  "commit": commit, "nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
                  "postfix": postfix, "postgrey": postgrey, "rounds": int(rounds), "messages": int(messages),
                  "sessions": int(sessions), "size": int(size), "loopback_quickack": quickack == "1"}))
PY
read -r -a hook_list <<<"$HOOKS"
failed=0
for round in $(seq 1 "$ROUNDS"); do
  count=${#hook_list[@]}
  for i in $(seq 0 $((count - 1))); do
    hook=${hook_list[$(((i + round - 1) % count))]}
    rejects_before=$(postfix_rejects "$WORK/postfix")
    # CPU of Postfix's processes and of the hook's server: robust to a
    # shared machine, where messages/s follows the neighbours' load.
    cpu_before=$(python3 "$ROOT/bench/cpu_seconds.py" "$MASTER_PID" ${HOOK_PID[$hook]})
    hook_cpu_before=$(python3 "$ROOT/bench/cpu_seconds.py" ${HOOK_PID[$hook]})
    start=$(date +%s.%N)
    timeout 600 smtp-source "${LOAD[@]}" -s "$SESSIONS" -m "$MESSAGES" \
      "127.0.0.1:${SMTPD_PORT[$hook]}" >"$WORK/source.out" 2>&1 || true
    end=$(date +%s.%N)
    postfix_wait_queue_empty "$WORK/postfix" 120
    cpu_after=$(python3 "$ROOT/bench/cpu_seconds.py" "$MASTER_PID" ${HOOK_PID[$hook]})
    hook_cpu_after=$(python3 "$ROOT/bench/cpu_seconds.py" ${HOOK_PID[$hook]})
    rejects=$(( $(postfix_rejects "$WORK/postfix") - rejects_before ))
    rate=$(python3 -c "print('%.1f' % ($MESSAGES / ($end - $start)))")
    printf '{"round": %d, "hook": "%s", "seconds": %.3f, "messages_per_s": %s, "cpu_ms_per_message": %.3f, "hook_cpu_ms_per_message": %.3f, "rejected": %d, "loadavg": %s}\n' \
      "$round" "$hook" "$(python3 -c "print($end - $start)")" "$rate" \
      "$(python3 -c "print(1000 * ($cpu_after - $cpu_before) / $MESSAGES)")" \
      "$(python3 -c "print(1000 * (${hook_cpu_after:-0} - ${hook_cpu_before:-0}) / $MESSAGES)")" "$rejects" \
      "$(cut -d' ' -f1 /proc/loadavg)" >>"$RESULTS"
    echo "round $round: $hook $rate messages/s, $rejects rejected" >&2
    if [ "$rejects" != 0 ] || grep -q 'fatal\|error' "$WORK/source.out"; then
      echo "run-postfix-benchmarks: $hook: Postfix refused mail during the measurement:" >&2
      head -5 "$WORK/source.out" >&2
      failed=1
    fi
  done
done

report=(python3 "$ROOT/bench/postfix_report.py" "$RESULTS")
for requirement in "${REQUIRES[@]}"; do report+=(--require "$requirement"); done
[ -z "$BENCHMARKS" ] || report+=(--benchmarks "$BENCHMARKS")
"${report[@]}" || failed=1
exit $failed
