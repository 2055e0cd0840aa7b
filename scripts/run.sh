#!/usr/bin/env bash
# The run command: installs what is missing (scripts/bootstrap.sh), then starts the product on its
# embedded defaults. Arguments go to the demo command.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh

# The demo: the reference analytics server with generated sample data on 127.0.0.1, the agent panel signed
# in to it, and a simulated incoming call so the first thing you see is a real pop.
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  shot="${CALLCUE_SCREENSHOT:-$PWD/callcue-demo.png}"
  echo "[run] no display here: the panel runs offscreen, pops a sample caller, writes a screenshot and exits"
  exec .venv/bin/callcue demo --headless --screenshot "$shot" "$@"
fi
echo "[run] starting the sample server and the panel; a sample call rings in a moment (quit from the tray)"
exec .venv/bin/callcue demo "$@"
