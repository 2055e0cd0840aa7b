#!/usr/bin/env bash
# The run command: installs what is missing (scripts/bootstrap.sh), then starts the product on its
# embedded defaults. Arguments go to the demo command.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh

# For now the product demo is the analytics server with sample data: `callcue-server demo` seeds a sample
# database in a data directory and serves it on 127.0.0.1, printing the URL and a token. When the desktop
# panel's `callcue demo` exists, replace the next line with:  exec .venv/bin/callcue demo "$@"
exec .venv/bin/callcue-server demo "$@"
