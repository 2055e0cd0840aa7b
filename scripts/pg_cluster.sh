#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on 127.0.0.1 (a free port, password auth), for benchmarks and tests.
#
#   scripts/pg_cluster.sh start DIR [--durable]   prints the URL as the last line of stdout
#   scripts/pg_cluster.sh stop DIR                stops it (fast, then immediate, then KILL); keeps DIR
#
# start creates DIR (it must not exist; as root its parent must be traversable by the postgres user, e.g.
# a mkdtemp directory under /tmp with mode 711), runs initdb as the postgres user when run as root
# (postgres refuses to run as root), listens on 127.0.0.1 only with the unix socket inside DIR, and checks
# a real password login over TCP. The URL printed is
#   postgresql+psycopg://postgres:PASSWORD@127.0.0.1:PORT/postgres
# Durability is off by default (fsync, synchronous_commit, full_page_writes: a throwaway test cluster);
# --durable keeps PostgreSQL's durability defaults and sizes shared_buffers as a tuned server would (a
# quarter of RAM, at most 2 GB), as a benchmark of a production-like server wants.
# The postmaster runs in its own session (setsid), so a Ctrl-C in the caller's terminal does not reach it
# and the caller's cleanup can stop it in order. Messages go to stderr; the exit code is non-zero on
# failure (DIR is kept for its logs: DIR/initdb.log, DIR/server.log).
set -euo pipefail

say() { printf '[pg_cluster] %s\n' "$*" >&2; }
is_root() { [ "$(id -u)" -eq 0 ]; }
usage() {
  sed -n '2,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -x "$REPO/.venv/bin/python" ]; then PY=$REPO/.venv/bin/python; else PY=python3; fi

# Runs a PostgreSQL program as the cluster's owner, from inside the cluster directory.
as_pg_owner() {
  if is_root; then
    (cd "$CLUSTER" && runuser -u postgres -- "$@")
  else
    (cd "$CLUSTER" && "$@")
  fi
}

# Picks the newest installed server, e.g. /usr/lib/postgresql/15/bin.
find_pg_bin() {
  local postgres
  shopt -s nullglob
  local servers=(/usr/lib/postgresql/*/bin/postgres)
  shopt -u nullglob
  [ "${#servers[@]}" -gt 0 ] || return 1
  postgres=$(printf '%s\n' "${servers[@]}" | sort -V | tail -n 1)
  dirname "$postgres"
}

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
  local durable=$1 locale_opt=(--no-locale) password port attempt
  PG_BIN=$(find_pg_bin) || { say "ERROR: no PostgreSQL server (/usr/lib/postgresql/*/bin/postgres)"; return 1; }
  [ ! -e "$CLUSTER" ] || { say "ERROR: $CLUSTER already exists"; return 1; }
  mkdir "$CLUSTER"
  if is_root; then
    getent passwd postgres >/dev/null || { say "ERROR: no 'postgres' user to run PostgreSQL as"; return 1; }
    chown postgres: "$CLUSTER"
  fi
  chmod 700 "$CLUSTER"
  local data=$CLUSTER/data
  if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then locale_opt=(--locale=C.UTF-8); fi
  password=$("$PY" -c 'import secrets; print(secrets.token_hex(16))')
  (umask 077 && printf '%s\n' "$password" >"$CLUSTER/pwfile")
  if is_root; then chown postgres: "$CLUSTER/pwfile"; fi
  if ! as_pg_owner "$PG_BIN/initdb" -D "$data" -U postgres --pwfile="$CLUSTER/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 "${locale_opt[@]}" --no-sync \
    >"$CLUSTER/initdb.log" 2>&1; then
    cat "$CLUSTER/initdb.log" >&2
    say "ERROR: initdb failed"
    return 1
  fi
  rm -f "$CLUSTER/pwfile"
  # Loopback only; the unix socket in our private directory.
  cat >>"$data/postgresql.conf" <<EOF

# --- scripts/pg_cluster.sh: throwaway cluster
listen_addresses = '127.0.0.1'
unix_socket_directories = '$CLUSTER'
max_connections = 200
EOF
  if [ "$durable" = yes ]; then
    # As a tuned production server: a quarter of RAM for shared buffers (PostgreSQL's own guidance),
    # at most 2 GB here; the default 128 MB would make a benchmark of 1M customers one of disk reads.
    local ram_mb
    ram_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
    echo "shared_buffers = $(( ram_mb / 4 < 2048 ? ram_mb / 4 : 2048 ))MB" >>"$data/postgresql.conf"
  else
    cat >>"$data/postgresql.conf" <<EOF
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  fi
  for attempt in 1 2 3; do
    port=$(free_port)
    if as_pg_owner setsid -w "$PG_BIN/pg_ctl" -D "$data" -l "$CLUSTER/server.log" -o "-p $port" \
      -w -t 60 start >>"$CLUSTER/pg_ctl.log" 2>&1; then
      break
    fi
    say "PostgreSQL did not start on port $port (attempt $attempt of 3)"
    tail -n 20 "$CLUSTER/server.log" >&2 2>/dev/null || true
    [ "$attempt" -lt 3 ] || return 1
  done
  printf '%s\n' "$PG_BIN" >"$CLUSTER/pg_bin"
  # A real login over TCP with the password, as the clients will do.
  if ! PGPASSWORD=$password PGCONNECT_TIMEOUT=10 "$PG_BIN/psql" -X -h 127.0.0.1 -p "$port" -U postgres \
    -d postgres -Atqc 'select 1' >/dev/null; then
    say "ERROR: PostgreSQL started but refused a login on 127.0.0.1:$port"
    return 1
  fi
  say "PostgreSQL $("$PG_BIN/postgres" -V | awk '{print $3}') on 127.0.0.1:$port (data in $data," \
    "durability $([ "$durable" = yes ] && echo 'on' || echo 'off'))"
  printf 'postgresql+psycopg://postgres:%s@127.0.0.1:%s/postgres\n' "$password" "$port"
}

stop() {
  local data=$CLUSTER/data pid
  [ -f "$data/postmaster.pid" ] || return 0
  PG_BIN=$(cat "$CLUSTER/pg_bin" 2>/dev/null || find_pg_bin) || return 1
  pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null)
  as_pg_owner "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t 20 stop >/dev/null 2>&1 ||
    as_pg_owner "$PG_BIN/pg_ctl" -D "$data" -m immediate -w -t 10 stop >/dev/null 2>&1 ||
    { [[ $pid =~ ^[0-9]+$ ]] && kill -KILL "$pid" 2>/dev/null; } || true
  say "PostgreSQL in $CLUSTER stopped"
}

[ "$#" -ge 2 ] || usage
command=$1
CLUSTER=$(realpath -m "$2")
shift 2
case "$command" in
  start)
    durable=no
    for option in "$@"; do
      case "$option" in
        --durable) durable=yes ;;
        *) usage ;;
      esac
    done
    start "$durable"
    ;;
  stop)
    [ "$#" -eq 0 ] || usage
    stop
    ;;
  *) usage ;;
esac
