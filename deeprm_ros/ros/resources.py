"""Where the bundled demo data lives: the installed share/deeprm_ros, or the source checkout."""
from __future__ import annotations

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


def shared_memory_dds_profile() -> Path:
    """config/fastdds_shm.xml: Fast DDS over shared memory only, with room for whole camera images (see the file)."""
    return share_dir() / "config" / "fastdds_shm.xml"
