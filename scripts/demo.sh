#!/usr/bin/env bash
# Set up (idempotent, see scripts/setup.sh), then run the installed demo (deeprm_ros.ros.demo):
#   bash scripts/demo.sh [demo arguments]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
# shellcheck source=env.sh
source "$ROOT/scripts/env.sh"
# Its own ROS logs unless the caller chose a place.
export ROS_LOG_DIR="${ROS_LOG_DIR:-$ROOT/log/ros}"
cd "$ROOT"
exec "$DEEPRM_INSTALL/lib/deeprm_ros/demo" "$@"
