#!/usr/bin/env bash
# Runs every benchmark against the release build (`make bench` builds it first).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python3 "$root/scripts/bench.py"
