#!/usr/bin/env bash
# Fault soak (not part of CI): sipp at a steady rate through Kamailio (dispatcher over two
# callgate daemons sharing one Postgres) while, in turn, Postgres is stopped and restarted,
# one daemon is killed -9 and restarted, and a third daemon's SQLite disk (a small tmpfs, or
# a loop-mounted file system where tmpfs can't be mounted) fills up and is freed. An admin
# writer and an HTTP checker run throughout. Afterwards every acknowledged write must be in
# its store; the script prints a table and exits 1 if an acknowledged write is lost, an
# emergency call got anything but 302, or a daemon still refuses writes after its fault ended.
#
#   scripts/soak.sh [SECONDS]          # default 120: four phases of SECONDS/4
#   RATE=80 EMERGENCY_RATE=20 scripts/soak.sh 120
#
# Needs root (Postgres runs as `postgres`, the SQLite disk is a mount), sipp, kamailio
# (with dispatcher), PostgreSQL, python3, curl. Leaves nothing running or mounted.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_TOTAL=${1:-120}
RATE=${RATE:-80}                    # ordinary INVITEs a second
EMERGENCY_RATE=${EMERGENCY_RATE:-20} # emergency INVITEs a second
PHASE=$(( SECONDS_TOTAL / 4 ))
(( PHASE >= 12 )) || { echo "soak.sh: at least 48 seconds, please" >&2; exit 2; }
FAULT_AT=$(( PHASE / 4 ))           # a fault starts this far into its phase...
FAULT_FOR=$(( PHASE / 3 ))          # ...and lasts this long, then the rest is recovery

for tool in sipp kamailio python3 curl runuser mount; do
  command -v "$tool" >/dev/null || { echo "soak.sh: $tool is missing (apt-get install sip-tester kamailio python3 curl postgresql)" >&2; exit 1; }
done
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x "$PGBIN/initdb" ]] || { echo "soak.sh: no PostgreSQL server (apt-get install postgresql)" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "soak.sh: run as root (Postgres as user postgres, a tmpfs mount)" >&2; exit 1; }

cargo build --release -q -p callgate-daemon
BIN=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/callgate

T=$(mktemp -d /tmp/callgate-soak.XXXXXX)
chmod 755 "$T"
DISK="$T/disk"
MOUNTED=""
PIDS_FILE="$T/pids"; : >"$PIDS_FILE"
base=$(( 20000 + RANDOM % 20000 ))
PGPORT=$base; HA=$((base+1)); SA=$((base+2)); HB=$((base+3)); SB=$((base+4))
HC=$((base+5)); SC=$((base+6)); KPORT=$((base+7))
PGURL="postgres://postgres@127.0.0.1:$PGPORT/callgate"
pg_running=0

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
pg_ctl() { runuser -u postgres -- "$PGBIN/pg_ctl" -D "$T/pg/data" "$@"; }
pg_start() {
  pg_ctl -l "$T/pg/postgres.log" -w -t 60 -o "-p $PGPORT -k $T/pg/sock -c listen_addresses=127.0.0.1 -c max_connections=100" start >/dev/null
  pg_running=1
}
pg_stop() { pg_ctl -m fast -w stop >/dev/null; pg_running=0; }

cleanup() {
  local rc=$?
  touch "$T/stop"
  while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$PIDS_FILE"
  for n in A B C; do [[ -f "$T/daemon-$n.pid" ]] && kill "$(cat "$T/daemon-$n.pid")" 2>/dev/null || true; done
  [[ -f "$T/kamailio.pid" ]] && kill "$(cat "$T/kamailio.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  (( pg_running )) && pg_ctl -m immediate -w stop >/dev/null 2>&1 || true
  [[ -n "$MOUNTED" ]] && umount "$DISK" 2>/dev/null || true
  if (( rc == 0 )) && [[ -z ${SOAK_KEEP:-} ]]; then rm -rf "$T"; else echo "soak.sh: logs kept in $T" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A background process of ours (the writers and the checker), remembered for cleanup.
DRIVERS=()
bg() { "$@" & echo $! >>"$PIDS_FILE"; DRIVERS+=($!); }

wait_http() { # port
  for _ in $(seq 150); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "soak.sh: the daemon on :$1 did not become ready" >&2; return 1
}

daemon() { # name db http sip
  local name=$1 db=$2 http=$3 sip=$4
  "$BIN" --db "$db" serve --config "$T/callgate.toml" --http "127.0.0.1:$http" --sip "127.0.0.1:$sip" \
    --peers 127.0.0.0/8 --audit-allows 1 >>"$T/daemon-$name.log" 2>&1 &
  echo $! >"$T/daemon-$name.pid"
  wait_http "$http"
}

metric() { # port name: the counter's value, or "-" if the daemon does not answer
  curl -sf --max-time 2 "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1==m {v=$2} END {print (v==""?0:v)}' || echo "-"
}

# --- Postgres, as the test support starts it
mkdir -p "$T/pg/sock"; chown -R postgres:postgres "$T/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$T/pg/data" -U postgres --auth=trust -E UTF8 --no-locale --no-sync >"$T/pg/initdb.log" 2>&1
pg_start
"$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres callgate
log "postgres on :$PGPORT"

# A small audit queue, so that an outage of the store overflows it and the counting of what
# could not be kept is exercised (the default, 65536, would hold a whole outage here).
printf 'audit_queue = 512\n' >"$T/callgate.toml"

"$BIN" --db "$PGURL" import examples/demo.yaml >"$T/import.log"
TOKEN=$("$BIN" --db "$PGURL" token soak | tail -1)

# --- the SQLite daemon's small disk
mkdir -p "$DISK"
if mount -t tmpfs -o size=8m soak-disk "$DISK" 2>"$T/mount.log"; then
  MOUNTED=tmpfs
else
  truncate -s 16m "$T/disk.img" && mkfs.ext4 -q "$T/disk.img" && mount -o loop "$T/disk.img" "$DISK" 2>>"$T/mount.log" && MOUNTED=loop \
    || { echo "soak.sh: could not mount a small file system for the SQLite phase: $(cat "$T/mount.log")" >&2; exit 1; }
fi
SQLITE="sqlite://$DISK/callgate.db"
"$BIN" --db "$SQLITE" import examples/demo.yaml >>"$T/import.log"
TOKEN_C=$("$BIN" --db "$SQLITE" token soak | tail -1)
log "sqlite store on a $MOUNTED file system at $DISK"

daemon A "$PGURL" "$HA" "$SA"
daemon B "$PGURL" "$HB" "$SB"
daemon C "$SQLITE" "$HC" "$SC"
log "daemons A :$HA/$SA, B :$HB/$SB (postgres), C :$HC/$SC (sqlite)"

printf '1 sip:127.0.0.1:%s\n1 sip:127.0.0.1:%s\n' "$SA" "$SB" >"$T/dispatcher.list"
kamailio -f scripts/soak/kamailio.cfg -DD -E -w "$T" -P "$T/kamailio.pid" -Y "$T" -m 64 -M 8 \
  -A LISTEN_PORT="$KPORT" -A "DS_LIST=\"$T/dispatcher.list\"" >"$T/kamailio.log" 2>&1 &
echo $! >>"$PIDS_FILE"
sleep 3   # the first probes mark both daemons active
log "kamailio on :$KPORT"

echo baseline >"$T/phase"
bg python3 scripts/soak/driver.py write "$T/writes-pg.jsonl" "$TOKEN" "$T/stop" "$T/phase" \
  "http://127.0.0.1:$HA" "http://127.0.0.1:$HB"
bg python3 scripts/soak/driver.py write "$T/writes-sqlite.jsonl" "$TOKEN_C" "$T/stop" "$T/phase" \
  "http://127.0.0.1:$HC"
bg python3 scripts/soak/driver.py check "$T/checks.jsonl" "$T/stop" "$T/phase" \
  "pair=http://127.0.0.1:$HA,http://127.0.0.1:$HB" "A=http://127.0.0.1:$HA" \
  "B=http://127.0.0.1:$HB" "C=http://127.0.0.1:$HC"

# One phase: sipp (ordinary and emergency calls) for PHASE seconds through Kamailio, the fault
# function called FAULT_AT seconds in.
phase() { # name fault-function
  local name=$1 fault=$2 dir="$T/sipp-$1"
  mkdir -p "$dir"
  echo "$name" >"$T/phase"
  log "phase $name"
  local pids=()
  for kind in calls emergency; do
    local rate=$RATE port=$((base+8)); [[ $kind == emergency ]] && rate=$EMERGENCY_RATE port=$((base+9))
    mkdir -p "$dir/$kind"
    ( cd "$dir/$kind" && exec sipp -sf "$ROOT/scripts/soak/uac.xml" -inf "$ROOT/scripts/soak/$kind.csv" \
        -i 127.0.0.1 -p "$port" -r "$rate" -m $(( rate * PHASE )) -l $(( rate * 15 )) -nostdin \
        -recv_timeout 10000 -timeout $(( PHASE + 40 ))s -trace_stat -stf stat.csv -fd 1 \
        -trace_counts -trace_err 127.0.0.1:"$KPORT" >sipp.out 2>&1 ) &
    pids+=($!); echo $! >>"$PIDS_FILE"
  done
  sleep "$FAULT_AT"
  $fault
  for p in "${pids[@]}"; do wait "$p" || true; done
}

no_fault() { :; }

postgres_down() {
  log "postgres: stop (fast)"
  echo "postgres-down" >"$T/phase"
  pg_stop
  sleep "$FAULT_FOR"
  log "postgres: start"
  pg_start
  echo "postgres-restarted" >"$T/phase"
}

kill_daemon() {
  echo "A: $(metric "$HA" callgate_audit_dropped_total)" >"$T/dropped-A-before-kill"
  log "daemon A: kill -9"
  echo "daemon-A-killed" >"$T/phase"
  kill -9 "$(cat "$T/daemon-A.pid")"
  wait "$(cat "$T/daemon-A.pid")" 2>/dev/null || true
  sleep "$FAULT_FOR"
  log "daemon A: restart"
  daemon A "$PGURL" "$HA" "$SA"
  echo "daemon-A-restarted" >"$T/phase"
}

fill_disk() {
  log "sqlite disk: fill"
  echo "sqlite-disk-full" >"$T/phase"
  dd if=/dev/zero of="$DISK/fill" bs=64k 2>/dev/null || true
  df -k "$DISK" | tail -1 >"$T/disk-full.df"
  ls -l "$DISK" >>"$T/disk-full.df"
  # small writes may fit in the WAL's existing space: large ones until one is refused
  local t0=$SECONDS
  python3 scripts/soak/driver.py burst "$T/writes-sqlite.jsonl" "$TOKEN_C" "$T/phase" "http://127.0.0.1:$HC" 40
  sleep $(( FAULT_FOR - (SECONDS - t0) > 1 ? FAULT_FOR - (SECONDS - t0) : 1 ))
  log "sqlite disk: free"
  rm -f "$DISK/fill"
  echo "sqlite-disk-freed" >"$T/phase"
}

phase baseline no_fault
phase postgres postgres_down
phase kill9 kill_daemon
phase sqlite fill_disk
echo after >"$T/phase"
sleep 5   # every fault has ended: the writers' last writes must be acknowledged
touch "$T/stop"
for pid in "${DRIVERS[@]}"; do wait "$pid" 2>/dev/null || true; done

# --- afterwards: the stores, the daemons' tables, the audit trail
sleep 1   # the daemons' audit writers catch up
for n in A B C; do
  port=$HA; [[ $n == B ]] && port=$HB; [[ $n == C ]] && port=$HC
  echo "$n: $(metric "$port" callgate_audit_dropped_total)" >>"$T/dropped-end"
  curl -sf --max-time 2 "http://127.0.0.1:$port/v1/check/caller-id" \
    -d '{"tenant":"acme","user":"bob","requested":"+15550100000","dialed":"5551234"}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["revision"])' >"$T/revision-$n" || echo "-" >"$T/revision-$n"
done
"$BIN" --db "$PGURL" export --tenant acme --json >"$T/export-pg.json"
"$BIN" --db "$SQLITE" export --tenant acme --json >"$T/export-sqlite.json"
"$PGBIN/psql" -qtA -h 127.0.0.1 -p "$PGPORT" -U postgres callgate \
  -c "SELECT coalesce(sum((detail::jsonb->>'dropped')::bigint),0) || ' in ' || count(*) || ' records' FROM audit WHERE kind='audit_dropped'" >"$T/trail-dropped-pg"
python3 - "$DISK/callgate.db" >"$T/trail-dropped-sqlite" <<'PY'
import json, sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute("SELECT detail FROM audit WHERE kind='audit_dropped'").fetchall()
print(f"{sum(json.loads(d)['dropped'] for (d,) in rows)} in {len(rows)} records")
PY

python3 scripts/soak/report.py "$T" "$SECONDS_TOTAL" "$RATE" "$EMERGENCY_RATE" "$MOUNTED"
