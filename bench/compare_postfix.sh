#!/usr/bin/env bash
# Mailgate against Postfix, with the same load: `smtp-source -s 20 -m 20000 -l 5120`.
#
# Postfix (from Debian's packages, installed here when missing) is a yardstick on this bench,
# never part of the product: loopback-only on 127.0.0.1:$POSTFIX_PORT, relaying everything to
# `smtp-sink` on $SINK_PORT. Mailgate runs from .venv with SQLite (synchronous=FULL, WAL), a
# registered and enabled sender domain, DKIM on, submission from a relay network (no AUTH, as
# smtp-source cannot do it). Rounds alternate Postfix, Mailgate, ...; each rate is messages
# accepted per second of smtp-source wall time. The summary line is
#   postfix_msgs_per_s=... mailgate_msgs_per_s=... ratio=...
#
# Environment: MESSAGES (20000), SESSIONS (20), SIZE (5120), ROUNDS (2),
# SKIP_POSTFIX=1 / SKIP_MAILGATE=1, MAILGATE (path of the mailgate command).
set -euo pipefail
cd "$(dirname "$0")/.."

MESSAGES=${MESSAGES:-20000}
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-5120}
ROUNDS=${ROUNDS:-2}
POSTFIX_PORT=${POSTFIX_PORT:-10025}
SINK_PORT=${SINK_PORT:-10026}
MAILGATE_PORT=${MAILGATE_PORT:-10027}
MAILGATE=${MAILGATE:-.venv/bin/mailgate}
FROM=sender@bench.example
TO=rcpt@sink.example

log() { echo "[compare_postfix] $*" >&2; }

ensure_postfix() {
  if ! command -v smtp-source >/dev/null || ! command -v postfix >/dev/null; then
    log "installing postfix from Debian's packages (a yardstick only)"
    apt-get update -qq
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
  fi
}

configure_postfix() {
  # A relay-only configuration on loopback; rewritten on every run, so the script is idempotent.
  postfix stop >/dev/null 2>&1 || true
  cat >/etc/postfix/main.cf <<EOF
compatibility_level = 3.6
myhostname = postfix.bench
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
local_recipient_maps =
local_transport = error:local delivery is disabled
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$SINK_PORT
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = permit_mynetworks, reject
smtputf8_enable = no
biff = no
append_dot_mydomain = no
default_process_limit = 200
default_destination_concurrency_limit = 20
maillog_file = /var/log/postfix-bench.log
EOF
  # master.cf: the SMTP listener on our port, not chrooted (no chroot files are needed).
  sed -i -E "s/^(smtp|[0-9.:]+)[[:space:]]+inet[[:space:]].*smtpd$/127.0.0.1:$POSTFIX_PORT inet n - n - - smtpd/" \
    /etc/postfix/master.cf
  grep -q "^postlog" /etc/postfix/master.cf ||
    echo "postlog   unix-dgram n  -       n       -       1       postlogd" >>/etc/postfix/master.cf
  postfix check
  postfix start >/dev/null 2>&1
}

wait_port() { # port, timeout seconds
  local deadline=$((SECONDS + $2))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    ((SECONDS < deadline)) || { log "port $1 did not open"; return 1; }
    sleep 0.2
  done
}

wait_postfix_queue_empty() {
  local deadline=$((SECONDS + 300))
  until postqueue -p 2>/dev/null | grep -q "Mail queue is empty"; do
    ((SECONDS < deadline)) || { log "postfix queue did not drain"; return 1; }
    sleep 0.5
  done
}

mailgate_pending() { # data dir -> recipients not yet delivered
  python3 - "$1/mailgate.db" "$MESSAGES" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30)
delivered = db.execute("SELECT count(*) FROM deliveries WHERE status = 'delivered'").fetchone()[0]
print(int(sys.argv[2]) - delivered)
PY
}

wait_mailgate_drained() { # data dir
  local deadline=$((SECONDS + 300))
  until [ "$(mailgate_pending "$1")" -le 0 ]; do
    ((SECONDS < deadline)) || { log "mailgate queue did not drain"; return 1; }
    sleep 0.1
  done
}

run_load() { # port, drain command... -> prints "accepted/s delivered/s"
  local port=$1 start accepted drained
  shift
  start=$(date +%s.%N)
  smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -f "$FROM" -t "$TO" "127.0.0.1:$port"
  accepted=$(date +%s.%N)
  "$@"
  drained=$(date +%s.%N)
  python3 -c "print(f'{$MESSAGES / ($accepted - $start):.1f} {$MESSAGES / ($drained - $start):.1f}')"
}

MAILGATE_PID=""
SINK_PID=""
DATA_DIRS=()
cleanup() {
  [ -n "$MAILGATE_PID" ] && kill -TERM -- "-$MAILGATE_PID" 2>/dev/null || true
  [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null || true
  postfix stop >/dev/null 2>&1 || true
  for dir in "${DATA_DIRS[@]}"; do rm -rf "$dir"; done
}
trap cleanup EXIT

start_mailgate() {
  local dir
  dir=$(mktemp -d /var/tmp/mailgate-bench.XXXXXX)
  DATA_DIRS+=("$dir")
  export MAILGATE_DATA_DIR=$dir MAILGATE_BIND=127.0.0.1 MAILGATE_SMTP_PORT=$MAILGATE_PORT \
    MAILGATE_SUBMISSION_PORTS= MAILGATE_SMTPS_PORT= MAILGATE_HTTP_PORT=10028 \
    MAILGATE_RELAY_NETWORKS=127.0.0.0/8 MAILGATE_HOSTNAME=mailgate.bench MAILGATE_LOG_LEVEL=warning \
    MAILGATE_ROUTES="*=127.0.0.1:$SINK_PORT"
  "$MAILGATE" init 2>/dev/null
  local user domain
  user=$("$MAILGATE" user add bench@bench.example 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["UserID"])')
  domain=$("$MAILGATE" domain add bench.example --user "$user" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["DomainID"])')
  "$MAILGATE" domain enable "$domain" >/dev/null 2>&1
  setsid "$MAILGATE" serve 2>>"$dir/serve.log" &
  MAILGATE_PID=$!
  wait_port "$MAILGATE_PORT" 60
}

stop_mailgate() {
  kill -TERM -- "-$MAILGATE_PID" 2>/dev/null || true
  wait "$MAILGATE_PID" 2>/dev/null || true
  MAILGATE_PID=""
}

postfix_rates=()
mailgate_rates=()
postfix_e2e=()
mailgate_e2e=()
if [ "${SKIP_POSTFIX:-0}" != 1 ]; then
  ensure_postfix
  configure_postfix
fi
smtp-sink -u postfix -c "127.0.0.1:$SINK_PORT" 1000 >/dev/null &
SINK_PID=$!
wait_port "$SINK_PORT" 10
[ "${SKIP_POSTFIX:-0}" = 1 ] || wait_port "$POSTFIX_PORT" 30

for round in $(seq 1 "$ROUNDS"); do
  if [ "${SKIP_POSTFIX:-0}" != 1 ]; then
    wait_postfix_queue_empty
    read -r accepted delivered < <(run_load "$POSTFIX_PORT" wait_postfix_queue_empty)
    postfix_rates+=("$accepted")
    postfix_e2e+=("$delivered")
    log "round $round postfix: accepted $accepted msg/s, end to end $delivered msg/s"
  fi
  if [ "${SKIP_MAILGATE:-0}" != 1 ]; then
    start_mailgate
    read -r accepted delivered < <(run_load "$MAILGATE_PORT" wait_mailgate_drained "$MAILGATE_DATA_DIR")
    mailgate_rates+=("$accepted")
    mailgate_e2e+=("$delivered")
    log "round $round mailgate: accepted $accepted msg/s, end to end $delivered msg/s"
    stop_mailgate
  fi
done

median() { printf '%s\n' "$@" | sort -n | python3 -c 'import sys, statistics; v=[float(x) for x in sys.stdin if x.strip()]; print(f"{statistics.median(v):.1f}" if v else "nan")'; }
ratio() { python3 -c "p, m = float('$1'), float('$2'); print(f'{m / p:.2f}' if p == p and m == m and p else 'nan')"; }
p=$(median "${postfix_rates[@]}")
m=$(median "${mailgate_rates[@]}")
pe=$(median "${postfix_e2e[@]}")
me=$(median "${mailgate_e2e[@]}")
echo "compare_postfix messages=$MESSAGES sessions=$SESSIONS size=$SIZE rounds=$ROUNDS" \
  "postfix_msgs_per_s=$p mailgate_msgs_per_s=$m ratio=$(ratio "$p" "$m")" \
  "postfix_end_to_end=$pe mailgate_end_to_end=$me end_to_end_ratio=$(ratio "$pe" "$me")"
