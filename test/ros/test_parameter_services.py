"""The refiner's parameter services as `ros2 param get` / `ros2 param dump` use them, against a real node started
with its defaults (no object_labels: the string array that rclpy cannot declare with an empty default)."""
from __future__ import annotations

import time

from .node_harness import NodeProcess


def _call(node, client, request, what, timeout=60.0):
    import rclpy

    deadline = time.monotonic() + timeout
    while not client.service_is_ready():
        assert time.monotonic() < deadline, f"{what}: the refiner's service never appeared"
        rclpy.spin_once(node, timeout_sec=0.1)
    fut = client.call_async(request)
    while not fut.done():
        assert time.monotonic() < deadline, f"{what}: no answer"
        rclpy.spin_once(node, timeout_sec=0.1)
    return fut.result()


def test_every_parameter_answers_get_parameters(ros_prefix):
    """GetParameters answers nothing at all when one requested parameter is unset, so every declared
    parameter must have a value: object_labels answers an empty string array."""
    import rclpy
    from rcl_interfaces.msg import ParameterType
    from rcl_interfaces.srv import GetParameters, ListParameters

    from deeprm_ros.ros.parameters import PARAMETERS

    proc = NodeProcess(ros_prefix, "backend:=onnx")
    rclpy.init()
    node = rclpy.create_node("parameter_client")
    try:
        listing = node.create_client(ListParameters, "/deeprm_refiner/list_parameters")
        names = list(_call(node, listing, ListParameters.Request(), "list_parameters").result.names)
        assert {p.name for p in PARAMETERS} <= set(names)
        get = node.create_client(GetParameters, "/deeprm_refiner/get_parameters")
        values = _call(node, get, GetParameters.Request(names=names), "get_parameters").values
        assert len(values) == len(names)
        by_name = dict(zip(names, values))
        assert all(v.type != ParameterType.PARAMETER_NOT_SET for v in values)
        assert by_name["object_labels"].type == ParameterType.PARAMETER_STRING_ARRAY
        assert list(by_name["object_labels"].string_array_value) == []
        assert by_name["iterations"].integer_value == next(p.default for p in PARAMETERS if p.name == "iterations")
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        proc.stop()
