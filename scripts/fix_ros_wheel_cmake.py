"""Rewrite the include paths that the ROS 2 wheels' CMake files hard-code to this Python's.

The wheels' exported CMake files (<prefix>/share/*/cmake/*.cmake) name the Python and numpy include folders of
the machine that built them (/opt/python/cpXY-cpXY/...). CMake then stops with "Imported target
'..._rosidl_generator_py' includes non-existent path". Idempotent: files already fixed are left alone.
Run with the venv's Python: python scripts/fix_ros_wheel_cmake.py [prefix]
"""
from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy


def main() -> int:
    prefix = Path(sys.argv[1] if len(sys.argv) > 1 else sys.prefix)
    py_include = sysconfig.get_paths()["include"]
    np_include = numpy.get_include()
    # Order matters: numpy's include lies under the foreign site-packages, replace it first.
    rules = [
        (re.compile(r"/opt/python/cp\d+-cp\d+t?/lib/python3\.\d+t?/site-packages/numpy/(?:_core|core)/include"), np_include),
        (re.compile(r"/opt/python/cp\d+-cp\d+t?/include/python3\.\d+t?"), py_include),
    ]
    changed = 0
    for path in sorted(prefix.glob("share/*/cmake/*.cmake")):
        text = path.read_text()
        if "/opt/python/" not in text:
            continue
        new = text
        for pattern, repl in rules:
            new = pattern.sub(lambda _m: repl, new)
        if new != text:
            path.write_text(new)
            changed += 1
    left = [str(p) for p in prefix.glob("share/*/cmake/*.cmake") if "/opt/python/" in p.read_text()]
    print(f"[setup] CMake include paths: {changed} file(s) rewritten", file=sys.stderr)
    if left:
        print(f"[setup] warning: foreign /opt/python paths remain in {left}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
