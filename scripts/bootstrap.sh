#!/usr/bin/env bash
# Installs what the two commands need, and only what is missing; safe to run again and again (well
# under 2 s when everything is in place). Used by scripts/run.sh and scripts/test.sh.
#
#   scripts/bootstrap.sh          Qt runtime libraries, CJK fonts and xvfb (Debian), and .venv with the project
#   scripts/bootstrap.sh --test   the same plus the PostgreSQL server that the tests run against and
#                                 Chromium, the headless browser of the local-bridge tests, and baresip,
#                                 the real SIP softphone of the connector tests, and the installer tools
#                                 (PyInstaller via the `installer` extra, NSIS, binutils for strip)
#
# System packages are installed with apt-get only when running as root on Debian/Ubuntu; otherwise the
# script prints the exact command to run and goes on. The project is pip-installed into .venv (editable,
# with the `test` extra) only when pyproject.toml changed since the last install (stamp in .venv).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV=.venv
STAMP=$VENV/.callcue-pyproject.sha256   # sha256 of pyproject.toml at the last successful pip install

say() { printf '[bootstrap] %s\n' "$*"; }
die() { printf '[bootstrap] ERROR: %s\n' "$*" >&2; exit 1; }

with_pg=0
for arg in "$@"; do
  case $arg in
    --test) with_pg=1 ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) die "unknown argument '$arg' (use --test or nothing)" ;;
  esac
done

# Qt's xcb platform plugin needs these on a real display (Qt >= 6.5 aborts without libxcb-cursor0),
# the panel's Chinese text needs a CJK font, and xvfb gives screenshots and GUI checks a virtual display.
GUI_DEBS=(libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxkbcommon-x11-0 libegl1 libgl1
  libfontconfig1 libdbus-1-3 fonts-noto-cjk xvfb)
PG_DEBS=(postgresql)
BROWSER_DEBS=(chromium)   # tests/bridge/test_browser.py drives it headless over the DevTools protocol
SOFTPHONE_DEBS=(baresip-core)   # tests/connectors/test_baresip_real.py: two real SIP agents on 127.0.0.1
INSTALLER_DEBS=(nsis binutils gnome-keyring dbus-daemon)   # tests/installer: makensis, strip/objdump, a real Secret Service

is_root() { [ "$(id -u)" -eq 0 ]; }

# Prints those of the given Debian packages that dpkg does not report as installed.
missing_debs() {
  local installed pkg
  # dpkg -s exits 1 when any is missing; its records for the others still count.
  installed=" $({ dpkg -s "$@" 2>/dev/null || true; } | awk '/^Package:/ {p = $2} /^Status: .* installed$/ {printf "%s ", p}') "
  for pkg in "$@"; do
    [[ $installed == *" $pkg "* ]] || printf '%s\n' "$pkg"
  done
}

# A Python >= 3.11 that can create a virtual environment (Debian's python3 needs python3-venv for that).
find_python() {
  local cand
  for cand in "${PYTHON:-}" python3 python3.14 python3.13 python3.12 python3.11; do
    if [ -z "$cand" ] || ! command -v "$cand" >/dev/null 2>&1; then continue; fi
    if "$cand" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$cand"
      return 0
    fi
  done
  return 1
}

venv_ok() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

# 1. System packages (Debian/Ubuntu only).
debs=("${GUI_DEBS[@]}")
why="Qt runtime libraries, CJK fonts, xvfb"
if [ "$with_pg" -eq 1 ]; then
  debs+=("${PG_DEBS[@]}" "${BROWSER_DEBS[@]}" "${SOFTPHONE_DEBS[@]}" "${INSTALLER_DEBS[@]}")
  why+=", PostgreSQL server, Chromium, baresip, NSIS and gnome-keyring for the tests"
fi
if ! venv_ok && ! find_python >/dev/null; then
  debs+=(python3 python3-venv)
  why+=", Python >= 3.11 with venv"
fi
if ! command -v dpkg >/dev/null 2>&1; then
  say "no dpkg here (not Debian/Ubuntu): not checking system packages; make sure you have: $why"
else
  mapfile -t missing < <(missing_debs "${debs[@]}")
  if [ "${#missing[@]}" -eq 0 ]; then
    say "system packages present ($why)"
  elif is_root; then
    say "installing missing system packages (${missing[*]}): needed for $why"
    export DEBIAN_FRONTEND=noninteractive
    say "apt-get update: refreshing the package lists once before installing"
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    say "WARNING: missing system packages (${missing[*]}), needed for $why. Install them with:"
    say "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
  fi
fi

# 2. The virtual environment.
if venv_ok; then
  say ".venv present ($("$VENV/bin/python" -V 2>&1)): keeping it"
else
  py=$(find_python) || die "no Python >= 3.11 with venv found (set PYTHON=/path/to/python3.11 or install python3-venv)"
  if [ -e "$VENV" ]; then
    say ".venv is unusable or older than Python 3.11: recreating it with $py ($("$py" -V 2>&1))"
    "$py" -m venv --clear "$VENV"
  else
    say "creating .venv with $py ($("$py" -V 2>&1)): the project's own Python environment"
    "$py" -m venv "$VENV"
  fi
fi

# 3. The project and its test tools, editable, only when pyproject.toml changed since the last install
# (--test adds the `installer` extra, PyInstaller; the stamp records which extras that install had).
extras=test
if [ "$with_pg" -eq 1 ]; then extras=test,installer; fi
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
read -r have have_extras 2>/dev/null <"$STAMP" || true
if [ "$want" = "${have:-}" ] && { [ "$extras" = test ] || [ "${have_extras:-}" = test,installer ]; }; then
  say "pyproject.toml unchanged since the last install: skipping pip"
else
  if [ -n "${have:-}" ]; then reason="pyproject.toml or the extras changed since the last install"; else reason="first install into this .venv"; fi
  say "pip install -e '.[$extras]' ($reason)"
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install -q -e ".[$extras]"
  printf '%s %s\n' "$want" "$extras" >"$STAMP"
fi
