#!/usr/bin/env bash
# Runs every benchmark in bench/ and writes docs/benchmarks.md (the figures, their targets, the machine).
#
#   scripts/bench.sh [--quick] [--only NAME ...] [--timeout SECONDS]
#
# Each script runs alone, one after the other (they measure latency: never run two at once, and prefer a
# quiet machine). Raw output stays in bench/.results/<time>/; `bench/report.py render DIR` rewrites the
# report from it. Exit code 1 when a script failed to run (a missed target is reported, not an error).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh --test
exec .venv/bin/python bench/report.py run "$@"
