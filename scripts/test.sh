#!/usr/bin/env bash
# The test command (CI runs exactly this): every check the project has.
#
#   scripts/test.sh [PYTEST ARGS...]
#
# 1. scripts/bootstrap.sh --test: .venv with the project and test tools, Qt runtime libraries, PostgreSQL
# 2. ruff check (whole repo) and lint-imports (the layer contracts in pyproject.toml)
# 3. a throwaway PostgreSQL cluster on 127.0.0.1 (a free port, password auth), exported as
#    CALLCUE_TEST_PG_URL; stopped and removed on exit, also on failure or Ctrl-C. An already set
#    CALLCUE_TEST_PG_URL is used as it is instead.
# 4. pytest "$@" with QT_QPA_PLATFORM=offscreen
#
# The exit code is pytest's; "no tests collected" (5) counts as a failure, and so does a lint failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh --test

PY=.venv/bin/python
say() { printf '[test] %s\n' "$*"; }
is_root() { [ "$(id -u)" -eq 0 ]; }

# --- Cleanup of everything this run starts or creates outside the repo.
RUN_TMP=""
PG_DATA=""
PG_BIN=""

# Runs a PostgreSQL program as the cluster's owner: postgres refuses to run as root.
as_pg_owner() {
  if is_root; then
    (cd "$RUN_TMP" && runuser -u postgres -- "$@")
  else
    (cd "$RUN_TMP" && "$@")
  fi
}

# Stops the cluster and removes RUN_TMP; the messages come last and may fail (a closed stdout, e.g. `| head`).
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  set +e
  trap '' PIPE
  [ -n "$RUN_TMP" ] || return 0
  local stopped=""
  if [ -n "$PG_DATA" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
    local pid
    pid=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null)
    as_pg_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 20 stop >/dev/null 2>&1 ||
      as_pg_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 10 stop >/dev/null 2>&1 ||
      { [[ $pid =~ ^[0-9]+$ ]] && kill -KILL "$pid" 2>/dev/null; }
    stopped="PostgreSQL test cluster stopped; "
  fi
  rm -rf "$RUN_TMP"
  say "${stopped}removed $RUN_TMP" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM

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

start_pg() {
  local cluster=$RUN_TMP/pg locale_opt=(--no-locale) password port attempt
  mkdir "$cluster"
  if is_root; then
    getent passwd postgres >/dev/null || { say "ERROR: no 'postgres' user to run PostgreSQL as"; return 1; }
    chown postgres: "$cluster"
  fi
  chmod 700 "$cluster"
  PG_DATA=$cluster/data
  if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then locale_opt=(--locale=C.UTF-8); fi
  password=$("$PY" -c 'import secrets; print(secrets.token_hex(16))')
  printf '%s\n' "$password" >"$cluster/pwfile"
  if is_root; then chown postgres: "$cluster/pwfile"; fi
  if ! as_pg_owner "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --pwfile="$cluster/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 "${locale_opt[@]}" --no-sync \
    >"$cluster/initdb.log" 2>&1; then
    cat "$cluster/initdb.log"
    say "ERROR: initdb failed"
    return 1
  fi
  rm -f "$cluster/pwfile"
  # Loopback only; the unix socket in our private directory; durability off (a throwaway cluster).
  cat >>"$PG_DATA/postgresql.conf" <<EOF

# --- scripts/test.sh: throwaway test cluster
listen_addresses = '127.0.0.1'
unix_socket_directories = '$cluster'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  for attempt in 1 2 3; do
    port=$(free_port)
    if as_pg_owner setsid -w "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$cluster/server.log" -o "-p $port" \
      -w -t 60 start >>"$cluster/pg_ctl.log" 2>&1; then
      break
    fi
    say "PostgreSQL did not start on port $port (attempt $attempt of 3)"
    tail -n 20 "$cluster/server.log" 2>/dev/null || true
    [ "$attempt" -lt 3 ] || return 1
  done
  # A real login over TCP with the password, as the tests will do.
  if ! PGPASSWORD=$password PGCONNECT_TIMEOUT=10 "$PG_BIN/psql" -X -h 127.0.0.1 -p "$port" -U postgres \
    -d postgres -Atqc 'select 1' >/dev/null; then
    say "ERROR: PostgreSQL started but refused a login on 127.0.0.1:$port"
    return 1
  fi
  export CALLCUE_TEST_PG_URL="postgresql+psycopg://postgres:${password}@127.0.0.1:${port}/postgres"
  say "PostgreSQL $("$PG_BIN/postgres" -V | awk '{print $3}') test cluster on 127.0.0.1:$port" \
    "(data in $PG_DATA): CALLCUE_TEST_PG_URL=postgresql+psycopg://postgres:***@127.0.0.1:$port/postgres"
}

# Everything this run creates outside the repo lives in one directory, removed on exit. As root it is
# under /tmp, where the postgres user can reach it whatever TMPDIR says.
if is_root; then tmp_base=/tmp; else tmp_base=${TMPDIR:-/tmp}; fi
RUN_TMP=$(mktemp -d "$tmp_base/callcue-test.XXXXXX")
chmod 711 "$RUN_TMP"   # the postgres user must reach its cluster directory inside
mkdir -m 700 "$RUN_TMP/xdg-runtime"
export XDG_RUNTIME_DIR=$RUN_TMP/xdg-runtime   # else Qt warns (and qt_log_level_fail fails the test)

# --- 2. Lint: fast feedback first; tests/unit/test_ruff.py and test_layers.py enforce the same in pytest.
lint_failed=()
say "ruff check: style and bug patterns, whole repo"
.venv/bin/ruff check --quiet --output-format=concise . || lint_failed+=("ruff check")
say "lint-imports: the layer contracts of DESIGN.md §2 (pyproject.toml [tool.importlinter])"
.venv/bin/lint-imports --no-cache >"$RUN_TMP/lint-imports.log" 2>&1 || {
  cat "$RUN_TMP/lint-imports.log"
  lint_failed+=("lint-imports")
}

# --- 3. A throwaway PostgreSQL cluster.
if [ -n "${CALLCUE_TEST_PG_URL:-}" ]; then
  say "using the PostgreSQL server given in CALLCUE_TEST_PG_URL"
elif PG_BIN=$(find_pg_bin); then
  start_pg || { say "ERROR: could not start the PostgreSQL test cluster"; exit 1; }
elif [ "${CI:-}" = "true" ]; then
  say "ERROR: no PostgreSQL server (/usr/lib/postgresql/*/bin/postgres) and CALLCUE_TEST_PG_URL is not set."
  say "ERROR: CI must run the PostgreSQL tests: install the Debian package 'postgresql' (bootstrap does as root)."
  exit 1
else
  say "##########################################################################################"
  say "WARNING: no PostgreSQL server found (/usr/lib/postgresql/*/bin/postgres): the PostgreSQL"
  say "WARNING: tests will SKIP. Install it: sudo apt-get install -y postgresql (CI fails without it)."
  say "##########################################################################################"
fi

# --- 4. pytest.
export QT_QPA_PLATFORM=offscreen
say "pytest $*"
set +e
"$PY" -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  say "ERROR: pytest collected no tests (exit 5): that is a failure, not a pass"
  rc=1
fi
if [ "$rc" -eq 0 ] && [ "${#lint_failed[@]}" -gt 0 ]; then
  say "ERROR: the tests passed but ${lint_failed[*]} failed (see above)"
  rc=1
fi
exit "$rc"
