#!/usr/bin/env bash
# Set up (idempotent, see scripts/setup.sh), then run the tests on the INSTALLED package:
#   bash scripts/test.sh                 # everything under test/
#   bash scripts/test.sh -k ros          # any pytest arguments
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
# shellcheck source=env.sh
source "$ROOT/scripts/env.sh"
cd "$ROOT"
# The pytest script, not `python -m pytest`: the latter puts the source tree (which has no deeprm_ros.msg)
# first on sys.path. test/conftest.py gives the run its own ROS_DOMAIN_ID, ROS_HOME and ROS_LOG_DIR.
exec "$DEEPRM_VENV/bin/pytest" "$@"
