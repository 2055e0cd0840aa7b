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
PG_CLUSTER=""

# Stops the cluster and removes RUN_TMP; the messages come last and may fail (a closed stdout, e.g. `| head`).
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  set +e
  trap '' PIPE
  [ -n "$RUN_TMP" ] || return 0
  local stopped=""
  if [ -n "$PG_CLUSTER" ]; then
    bash scripts/pg_cluster.sh stop "$PG_CLUSTER" 2>/dev/null
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

has_pg_server() {
  compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

# scripts/pg_cluster.sh (shared with the benchmarks) starts it; its last line of output is the URL.
start_pg() {
  local url
  PG_CLUSTER=$RUN_TMP/pg
  url=$(bash scripts/pg_cluster.sh start "$PG_CLUSTER" | tail -n 1) || return 1
  [[ $url == postgresql+psycopg://* ]] || return 1
  export CALLCUE_TEST_PG_URL=$url
  say "PostgreSQL test cluster: CALLCUE_TEST_PG_URL=${url%%:*}://postgres:***@${url##*@}"
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
elif has_pg_server; then
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
