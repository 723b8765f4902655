"""Resolve the refiner node's parameters and print them as JSON, then exit.

Creates a node named like the refiner (`deeprm_refiner`), so a parameters file written for the refiner
(`/**:` or `deeprm_refiner:`) applies unchanged, and runs the same `declare_and_validate` the refiner runs.
Usage:  param_check --ros-args --params-file config/refiner.yaml [-p iterations:=8]
Exit status 0 with the JSON on stdout, or 2 with "parameter 'name': ..." on stderr.
"""
from __future__ import annotations

import json
import sys


def main(argv=None) -> int:
    import rclpy
    from rclpy.node import Node

    from .parameters import declare_and_validate

    argv = sys.argv if argv is None else argv
    rclpy.init(args=argv)
    node = None
    try:
        node = Node("deeprm_refiner")
        try:
            values = declare_and_validate(node)
        except ValueError as e:
            print(f"deeprm_refiner: invalid parameters: {e}", file=sys.stderr)
            return 2
        print(json.dumps(values, sort_keys=True))
        return 0
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
