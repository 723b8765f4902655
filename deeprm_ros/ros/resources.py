"""Where the bundled demo data lives: the installed share/deeprm_ros, or the source checkout."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

PACKAGE = "deeprm_ros"


def share_dir() -> Path:
    """share/deeprm_ros of the install (via ament_index when available), else the repository root."""
    try:
        from ament_index_python.packages import get_package_share_directory
        return Path(get_package_share_directory(PACKAGE))
    except Exception:
        pass
    here = Path(__file__).resolve()
    for parent in here.parents:
        for candidate in (parent / "share" / PACKAGE, parent):
            if (candidate / "data" / "demo").is_dir():
                return candidate
    raise FileNotFoundError("cannot find the deeprm_ros share folder with data/demo (is the package installed?)")


def default_checkpoint() -> Path:
    return share_dir() / "data" / "demo" / "checkpoint"


def default_models_dir() -> Path:
    return share_dir() / "data" / "demo" / "models"


def executable(name: str) -> str:
    """lib/deeprm_ros/<name> of the install: the node programs that `ros2 run deeprm_ros <name>` starts."""
    path = share_dir().parent.parent / "lib" / PACKAGE / name
    if not path.exists():
        raise FileNotFoundError(f"{path}: executable not found (build the package: bash scripts/setup.sh)")
    return str(path)


def shared_memory_dds_profile() -> Path:
    """config/fastdds_shm.xml: Fast DDS over shared memory only, with room for whole camera images (see the file)."""
    return share_dir() / "config" / "fastdds_shm.xml"


def loopback_ros_environment(prefix: str, domain_id: int | None = None, shared_memory: bool = True) -> tuple[dict, str]:
    """The environment for the ROS processes a program starts (demo, benchmarks), and its temporary folder:
    discovery on loopback only, ROS_DOMAIN_ID = domain_id (default: the caller's, else one from the pid),
    a fresh ROS_HOME/ROS_LOG_DIR in the folder, and with shared_memory Fast DDS over shared memory only
    (whole camera images instead of UDP fragments that a busy machine drops; see config/fastdds_shm.xml)."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env.pop("ROS_LOCALHOST_ONLY", None)
    env.pop("ROS_STATIC_PEERS", None)
    if domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(domain_id)
    env.setdefault("ROS_DOMAIN_ID", str(1 + (os.getpid() * 7919) % 100))
    env["ROS_HOME"] = os.path.join(tmp, "home")
    env["ROS_LOG_DIR"] = os.path.join(tmp, "log")
    env["PYTHONSAFEPATH"] = "1"
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    if shared_memory:
        env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(shared_memory_dds_profile()))
    return env, tmp
