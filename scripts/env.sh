# Source me (bash or zsh) after scripts/setup.sh:   source scripts/env.sh
# Puts the venv, the ROS 2 wheels and the colcon install of deeprm_ros (install/deeprm_ros) on the paths, the
# way sourcing a ROS 2 workspace's setup.bash would, and keeps ROS 2 discovery on this machine.
if [ -n "${BASH_SOURCE[0]:-}" ]; then _deeprm_here="${BASH_SOURCE[0]}"; else _deeprm_here="${(%):-%x}"; fi
DEEPRM_ROOT="$(cd "$(dirname "$_deeprm_here")/.." && pwd)"
unset _deeprm_here
DEEPRM_VENV="$DEEPRM_ROOT/.venv"
DEEPRM_INSTALL="$DEEPRM_ROOT/install/deeprm_ros"
export DEEPRM_ROOT DEEPRM_VENV DEEPRM_INSTALL

_deeprm_prepend() {  # _deeprm_prepend VAR DIR: put DIR first in the colon list VAR, once
  local var="$1" dir="$2" cur
  eval "cur=\"\${$var:-}\""
  cur=":$cur:"; cur="${cur//:$dir:/:}"; cur="${cur#:}"; cur="${cur%:}"
  eval "export $var=\"$dir\${cur:+:\$cur}\""
}

export VIRTUAL_ENV="$DEEPRM_VENV"
_deeprm_prepend PATH "$DEEPRM_VENV/bin"
for _p in "$DEEPRM_VENV" "$DEEPRM_INSTALL"; do
  _deeprm_prepend AMENT_PREFIX_PATH "$_p"
  _deeprm_prepend CMAKE_PREFIX_PATH "$_p"
done
_deeprm_prepend LD_LIBRARY_PATH "$DEEPRM_VENV/lib"
_deeprm_prepend LD_LIBRARY_PATH "$DEEPRM_INSTALL/lib"
for _p in "$DEEPRM_INSTALL"/lib/python3*/site-packages; do
  [ -d "$_p" ] && _deeprm_prepend PYTHONPATH "$_p"
done
unset _p
unset -f _deeprm_prepend

# ROS 2 (Kilted has no ROS_LOCALHOST_ONLY): discovery stays on loopback. Pick your own ROS_DOMAIN_ID if
# other ROS 2 programs share this machine.
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
