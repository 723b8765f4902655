"""The refiner node's parameter schema: one list of specs, declared and validated in one place.

`declare_and_validate(node)` declares every parameter with a ParameterDescriptor (description, and an
IntegerRange/FloatingPointRange where the spec has a range), checks the values (ranges, choices, formats) and
returns them as a plain dict. Any invalid value raises ``ValueError("parameter 'name': ...")``. Later changes
through the parameter services are checked with the same rules and rejected with the same message.

This module imports rclpy lazily (inside the functions), so the schema itself (PARAMETERS, defaults(),
validate_value()) can be used without ROS, e.g. by tests or documentation tools.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

# Spec types: how the value is declared in ROS.
STRING, STRING_ARRAY, INTEGER, DOUBLE, BOOL = "string", "string_array", "integer", "double", "bool"


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    default: Any
    type: str
    description: str
    range: Optional[tuple] = None          # (min, max), inclusive, for integer/double
    choices: Optional[Sequence[str]] = None  # allowed values of a string
    check: Optional[Callable[[Any], Optional[str]]] = None  # extra rule: returns an error text or None
    read_only: bool = False                 # True: needs a node restart to change; the others apply from the next frame


def parse_object_labels(items) -> dict[str, int]:
    """['mug:1', 'power drill:15'] -> {'mug': 1, 'power drill': 15}: the one reading of the object_labels
    parameter, for its check and for the node. The class_id is everything before the last ':' (it may hold
    spaces and colons), entries are stripped; raises ValueError naming the entry."""
    out: dict[str, int] = {}
    for item in items:
        class_id, sep, obj_id = str(item).strip().rpartition(":")
        # Digits that int() reads (str.isdigit() also passes e.g. '²', and lstrip('-') passed '--3': int() fails)
        if not sep or not class_id or not re.fullmatch(r"\s*-?\d+\s*", obj_id):
            raise ValueError(f"entry {item!r} is not 'class_id:obj_id' (e.g. 'mug:1')")
        if int(obj_id) < 0:
            raise ValueError(f"entry {item!r}: obj_id must be >= 0")
        if class_id in out:
            raise ValueError(f"class_id {class_id!r} appears twice")
        out[class_id] = int(obj_id)
    return out


def _check_object_labels(value) -> Optional[str]:
    try:
        parse_object_labels(value)
    except ValueError as e:
        return str(e)
    return None


PARAMETERS: list[ParameterSpec] = [
    ParameterSpec("checkpoint", "", STRING,
                  "Checkpoint folder (model.safetensors + config.json); '' = the bundled demo checkpoint "
                  "(share/deeprm_ros/data/demo/checkpoint).", read_only=True),
    ParameterSpec("models_dir", "", STRING,
                  "BOP-style models folder (meshes + models_info.json); '' = the bundled demo models "
                  "(share/deeprm_ros/data/demo/models).", read_only=True),
    ParameterSpec("mesh_unit", "mm", STRING, "Unit of the mesh coordinates: 'mm' (BOP models) or 'm'.",
                  choices=("mm", "m"), read_only=True),
    ParameterSpec("object_labels", [], STRING_ARRAY,
                  "Map detection class_id strings to mesh obj_ids, as 'class_id:obj_id' pairs (e.g. ['mug:1']); "
                  "empty = every obj_id of models_dir is its own class_id ('1', '2', ...).",
                  check=_check_object_labels, read_only=True),
    ParameterSpec("device", "auto", STRING, "Torch device: 'auto' (cuda when available, else cpu), 'cpu' or 'cuda'.",
                  choices=("auto", "cpu", "cuda"), read_only=True),
    ParameterSpec("backend", "torch", STRING,
                  "Network backend: 'torch', 'onnx' (onnxruntime; CUDA with onnxruntime-gpu), 'openvino' (CPU only; "
                  "bf16 on CPUs that have it natively: the fastest CPU choice for the demo model there) or 'auto' (the "
                  "fastest here: torch on a GPU, openvino on a CPU with native bf16, else onnx; the log and "
                  "/diagnostics say which).",
                  choices=("torch", "onnx", "openvino", "auto"), read_only=True),
    ParameterSpec("openvino_precision", "auto", STRING,
                  "Precision of the openvino backend: 'auto' (bf16 where the CPU has it natively, else f32), 'f32' or "
                  "'bf16'.", choices=("auto", "f32", "bf16"), read_only=True),
    ParameterSpec("cpu_threads", 0, INTEGER,
                  "CPU threads of the network (torch, onnxruntime or OpenVINO); 0 = half of the cores, at least 1, leaving the "
                  "rest to the camera driver and the robot (all cores oversubscribe a small CPU badly).",
                  range=(0, 256), read_only=True),
    ParameterSpec("image_transport", "raw", STRING,
                  "How images arrive: 'raw' (sensor_msgs/Image on 'image') or 'compressed' (sensor_msgs/CompressedImage, "
                  "JPEG or PNG, on '<image>/compressed', image_transport's topic convention).",
                  choices=("raw", "compressed"), read_only=True),
    ParameterSpec("diagnostics_period_s", 1.0, DOUBLE,
                  "Period of the node's diagnostic_msgs/DiagnosticArray on /diagnostics (s); rates and latencies in it "
                  "are taken over the last 5 periods.", range=(0.1, 60.0), read_only=True),
    ParameterSpec("iterations", 4, INTEGER, "Refinement iterations for a new track (a fresh detection).", range=(1, 32)),
    ParameterSpec("tracking_iterations", 2, INTEGER,
                  "Refinement iterations per frame for an existing track (recurrent state carried over).",
                  range=(1, 32)),
    ParameterSpec("refine_from", "track", STRING,
                  "Where each frame's refinement starts: 'track' (the object's refined pose and recurrent state from "
                  "the last frame, tracking_iterations) or 'detection' (its latest detection, a zero state, iterations: "
                  "twice the network time; about 1 AUC less accurate than 'track' on the tracking benchmark with the "
                  "bundled model).",
                  choices=("track", "detection")),
    ParameterSpec("association_gate_m", 0.1, DOUBLE,
                  "A detection joins an existing track of its class when their positions are closer than this (m).",
                  range=(0.001, 2.0)),
    ParameterSpec("track_timeout_s", 2.0, DOUBLE, "A track with no detection for this long (s) is removed.",
                  range=(0.1, 60.0)),
    ParameterSpec("min_confidence", 0.5, DOUBLE,
                  "A refined pose whose confidence (the Detection3D score: the share of the model's outline, drawn at "
                  "the pose, that lies on an image edge) is below this is a low-confidence one.",
                  range=(0.0, 1.0)),
    ParameterSpec("max_low_confidence_frames", 5, INTEGER,
                  "A track whose confidence stays below min_confidence for this many frames in a row is re-initialized "
                  "from its latest detection (pose and recurrent state); 0 turns the check off.",
                  range=(0, 1000)),
    ParameterSpec("max_unconverged_frames", 0, INTEGER,
                  "A track whose last update stays above the convergence thresholds for this many frames in a row is "
                  "re-initialized from its latest detection. A moving object exceeds them every frame, so this is off "
                  "(0) by default; the confidence rule replaces it.",
                  range=(0, 1000)),
    ParameterSpec("reinit_rotation_deg", 45.0, DOUBLE,
                  "A tracked object whose rotation is further than this (degrees, up to its symmetries) from a new "
                  "detection has drifted: it is re-initialized from the detection. About 3 sigma of the detector's "
                  "rotation noise; 0 turns the check off.",
                  range=(0.0, 180.0)),
    ParameterSpec("verify_rotation_deg", 10.0, DOUBLE,
                  "When a new detection joins a tracked object, the detection is also refined afresh in the same frame "
                  "(one extra batch per detection frame); if the track's rotation is further than this (degrees, up to "
                  "its symmetries) from that refined detection, the track has drifted and takes over its pose and "
                  "recurrent state. 0 turns the check off.",
                  range=(0.0, 180.0)),
    ParameterSpec("convergence_translation_mm", 2.0, DOUBLE,
                  "Converged when the last translation update is below this (mm) and the rotation test holds.",
                  range=(0.0, 1000.0)),
    ParameterSpec("convergence_rotation_deg", 1.0, DOUBLE,
                  "Converged when the last rotation update is below this (degrees) and the translation test holds.",
                  range=(0.0, 180.0)),
    ParameterSpec("max_objects", 32, INTEGER,
                  "At most this many objects (tracks) are refined per frame; extra detections are dropped, "
                  "lowest score first.", range=(1, 256)),
    ParameterSpec("tf_prefix", "deeprm_", STRING,
                  "Prefix of the published TF child frames: <tf_prefix><class_id>_<track_id>."),
    ParameterSpec("publish_tf", True, BOOL, "Publish one TF frame per track on /tf."),
    ParameterSpec("publish_markers", True, BOOL, "Publish mesh markers (visualization_msgs/MarkerArray) of the tracks."),
    ParameterSpec("score_threshold", 0.0, DOUBLE, "Ignore detection hypotheses with a score below this.",
                  range=(0.0, 1.0)),
    ParameterSpec("image_queue_slop_s", 0.02, DOUBLE,
                  "An image and a camera_info (and detections) are paired when their stamps differ by at most this (s).",
                  range=(0.0, 1.0)),
]

SPECS: dict[str, ParameterSpec] = {s.name: s for s in PARAMETERS}


def defaults() -> dict:
    """Every parameter's default value, by name."""
    return {s.name: (list(s.default) if isinstance(s.default, list) else s.default) for s in PARAMETERS}


def _type_error(spec: ParameterSpec, value) -> Optional[str]:
    expected = {STRING: str, INTEGER: int, DOUBLE: float, BOOL: bool}
    if spec.type == STRING_ARRAY:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            return f"expected a list of strings, got {value!r}"
        return None
    if spec.type == DOUBLE and isinstance(value, int) and not isinstance(value, bool):
        return None  # an integer is a fine double in Python-side validation
    if spec.type == INTEGER and isinstance(value, bool):
        return f"expected an integer, got {value!r}"
    if not isinstance(value, expected[spec.type]):
        return f"expected {'a' if spec.type != INTEGER else 'an'} {spec.type}, got {value!r} ({type(value).__name__})"
    return None


def validate_value(name: str, value) -> Any:
    """Check one value against its spec; return it (normalized) or raise ValueError("parameter 'name': ...")."""
    spec = SPECS.get(name)
    if spec is None:
        raise ValueError(f"parameter {name!r}: unknown parameter (known: {', '.join(SPECS)})")
    err = _type_error(spec, value)
    if err is None and spec.range is not None:
        lo, hi = spec.range
        if not (lo <= value <= hi):
            err = f"{value!r} is out of range [{lo}, {hi}]"
    if err is None and spec.choices is not None and value not in spec.choices:
        err = f"{value!r} is not one of {', '.join(repr(c) for c in spec.choices)}"
    if err is None and spec.check is not None:
        err = spec.check(value)
    if err is not None:
        raise ValueError(f"parameter '{name}': {err}")
    if spec.type == DOUBLE:
        return float(value)
    if spec.type == STRING_ARRAY:
        return list(value)
    return value


def _descriptor(spec: ParameterSpec):
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType

    ros_type = {STRING: ParameterType.PARAMETER_STRING, STRING_ARRAY: ParameterType.PARAMETER_STRING_ARRAY,
                INTEGER: ParameterType.PARAMETER_INTEGER, DOUBLE: ParameterType.PARAMETER_DOUBLE,
                BOOL: ParameterType.PARAMETER_BOOL}[spec.type]
    text = spec.description
    if spec.choices:
        text += f" One of: {', '.join(spec.choices)}."
    d = ParameterDescriptor(name=spec.name, type=ros_type, description=text, read_only=spec.read_only)
    if spec.range is not None and spec.type == INTEGER:
        d.integer_range = [IntegerRange(from_value=int(spec.range[0]), to_value=int(spec.range[1]), step=1)]
    elif spec.range is not None and spec.type == DOUBLE:
        d.floating_point_range = [FloatingPointRange(from_value=float(spec.range[0]),
                                                     to_value=float(spec.range[1]), step=0.0)]
    if spec.choices:
        d.additional_constraints = f"one of: {', '.join(spec.choices)}"
    return d


def _ros_options(argv: Sequence[str], flags: tuple) -> list[tuple[str, str]]:
    """(flag, value) for each of `flags` in argv's --ros-args sections (up to a '--'), in order."""
    out, in_ros, it = [], False, iter(argv)
    for tok in it:
        if tok == "--ros-args":
            in_ros = True
        elif tok == "--":
            in_ros = False
        elif in_ros and tok in flags:
            out.append((tok, next(it, "")))
    return out


def command_line_parameters(argv: Sequence[str], node_name: str) -> dict:
    """The `-p name:=value` / `--param name:=value` of the --ros-args sections of argv that apply to node_name,
    as {name: text}, the last one winning."""
    out = {}
    for _, arg in _ros_options(argv, ("-p", "--param")):
        name, sep, text = arg.partition(":=")
        if not sep:
            continue
        target, colon, pname = name.rpartition(":")
        if colon and target not in (node_name, "/" + node_name, "*", "**", "/**"):
            continue
        out[pname] = text
    return out


def _check_command_line(node, values: dict, argv) -> None:
    """rcl silently ignores a `-p` override whose type differs from the same parameter's type in a params file
    (e.g. `-p iterations:=2.5` or `-p max_objects:=many` with --params-file). Make that an error."""
    import yaml

    for name, text in command_line_parameters(list(argv), node.get_name()).items():
        if name not in SPECS:
            continue
        try:
            wanted = yaml.safe_load(text)
        except yaml.YAMLError:
            wanted = text
        if wanted is None and SPECS[name].type == STRING_ARRAY:
            wanted = []
        got = values[name]
        same = (wanted == got and type(wanted) is type(got)) or (SPECS[name].type == STRING and str(wanted) == got)
        if not same:
            validate_value(name, wanted)  # a clear reason when the value itself is invalid
            raise ValueError(f"parameter '{name}': the command-line value {text!r} was not applied "
                             f"(the node has {got!r}); expected a {SPECS[name].type}")


# Parameters rclpy itself declares or reads on every node: not typos.
RCLPY_PARAMETERS = ("use_sim_time", "start_type_description_service")


def _section_applies(key: str, fq_name: str) -> bool:
    """Whether a parameters-file section key names the node fq_name ('/ns/deeprm_refiner'), as rclpy matches
    them: a key without a leading '/' gets one (so 'deeprm_refiner' is the node in the root namespace only),
    '*' stands for one name, '**' for any number."""
    pattern, name = key.strip("/").split("/"), fq_name.strip("/").split("/")
    if not all(pattern):
        return False

    def match(p, n):
        if not p:
            return not n
        if p[0] == "**":
            return any(match(p[1:], n[i:]) for i in range(len(n) + 1))
        return bool(n) and p[0] in ("*", n[0]) and match(p[1:], n[1:])
    return match(pattern, name)


def params_files(argv: Sequence[str]) -> list[str]:
    """The --params-file arguments of argv's --ros-args sections (launch passes config_file this way)."""
    return [path for _, path in _ros_options(argv, ("--params-file",))]


def configuration_warnings(fq_name: str, argv: Sequence[str], overrides: Sequence[str]) -> list[str]:
    """What rcl ignores without a word: a parameters file none of whose sections names this node (a renamed or
    namespaced node, a typo in the node name), and parameter names this node does not have (a typo in the
    file or in a -p). overrides: the names of the parameter values given to the node (files and -p)."""
    import difflib

    import yaml

    warnings = []
    for path in params_files(argv):
        try:
            sections = list((yaml.safe_load(Path(path).read_text()) or {}).keys())
        except (OSError, yaml.YAMLError, AttributeError):
            continue  # rcl itself refuses an unreadable file, naming it
        if not any(_section_applies(str(k), fq_name) for k in sections):
            warnings.append(f"parameters file {path}: no section names this node {fq_name} (its sections: "
                            f"{', '.join(map(str, sections)) or 'none'}); none of its values are used. "
                            f"Use '/**:' or '{fq_name}:' as the section name")
    for name in sorted(set(overrides)):
        if name in SPECS or name in RCLPY_PARAMETERS or name.startswith("qos_overrides."):
            continue
        close = difflib.get_close_matches(name, list(SPECS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        warnings.append(f"unknown parameter '{name}' ignored (this node has no such parameter){hint}")
    return warnings


def _set_declared_default(node, param):
    """Give a parameter declared by type only (not overridden) its default value. Not through set_parameters:
    a read-only parameter refuses every set. rclpy has no public call for an empty string array default."""
    node._parameters[param.name] = param
    return param


def declare_and_validate(node, reject_invalid_updates: bool = True, argv: Optional[Sequence[str]] = None) -> dict:
    """Declare every parameter of PARAMETERS on `node`, validate the values, return {name: value}.

    Raises ValueError("parameter 'name': ...") for a value of the wrong type, out of range, not one of the
    choices, or badly formatted. With reject_invalid_updates, later set_parameters calls that break the same
    rules are refused (the result's reason names the parameter). `argv` (default sys.argv) is checked for
    `-p name:=value` overrides that rcl dropped silently (a type different from the params file's).
    """
    from rclpy.exceptions import (InvalidParameterTypeException, InvalidParameterValueException,
                                  ParameterUninitializedException)
    from rclpy.parameter import Parameter

    values = {}
    for spec in PARAMETERS:
        descriptor = _descriptor(spec)
        try:
            if spec.type == STRING_ARRAY:
                # rclpy reads an empty list as a byte array, so a string array is declared by its type; left
                # unset, GetParameters would answer nothing for any request naming it (`ros2 param get/dump`).
                param = node.declare_parameter(spec.name, Parameter.Type.STRING_ARRAY, descriptor)
                if param.type_ == Parameter.Type.NOT_SET:
                    param = _set_declared_default(node, Parameter(spec.name, Parameter.Type.STRING_ARRAY,
                                                                  list(spec.default)))
            else:
                param = node.declare_parameter(spec.name, spec.default, descriptor)
        except InvalidParameterTypeException as e:
            hint = " (write a decimal point, e.g. 1.0)" if spec.type == DOUBLE else ""
            raise ValueError(f"parameter '{spec.name}': wrong type, expected {spec.type}{hint}: {e}") from None
        except InvalidParameterValueException as e:
            rng = f" [{spec.range[0]}, {spec.range[1]}]" if spec.range else ""
            raise ValueError(f"parameter '{spec.name}': invalid value, allowed range{rng}: {e}") from None
        try:
            value = param.value
        except ParameterUninitializedException:
            value = None
        if value is None and spec.type == STRING_ARRAY:
            value = list(spec.default)
        values[spec.name] = validate_value(spec.name, value)

    _check_command_line(node, values, sys.argv if argv is None else argv)

    if reject_invalid_updates:
        from rcl_interfaces.msg import SetParametersResult

        def _on_set(params):
            for p in params:
                if p.name in SPECS:
                    try:
                        value = p.value
                        if value is None and SPECS[p.name].type == STRING_ARRAY:
                            value = []
                        validate_value(p.name, value)
                    except ValueError as e:
                        return SetParametersResult(successful=False, reason=str(e))
            return SetParametersResult(successful=True)

        node.add_on_set_parameters_callback(_on_set)
    return values


QOS_OVERRIDES_EXAMPLE = """Every input's QoS can be overridden, e.g. for a best-effort detector (topic names fully qualified):
qos_overrides:
  /detections:
    subscription:
      reliability: best_effort"""


def refiner_yaml() -> str:
    """config/refiner.yaml, written from PARAMETERS: every parameter with its description and limits as a comment
    and its default, the read-only ones first. The committed file is this text (a test checks it); regenerate it
    with `python -m deeprm_ros.ros.parameters > config/refiner.yaml` after changing the table."""
    import textwrap

    def comment(text: str, indent: str = "    ") -> list[str]:
        return textwrap.wrap(text, 112, initial_indent=indent + "# ", subsequent_indent=indent + "# ")

    def literal(spec: ParameterSpec) -> str:
        v = spec.default
        if spec.type == BOOL:
            return "true" if v else "false"
        if spec.type == STRING:
            return "'" + str(v).replace("'", "''") + "'"
        if spec.type == STRING_ARRAY:
            return "[" + ", ".join("'" + str(x).replace("'", "''") + "'" for x in v) + "]"
        return repr(float(v)) if spec.type == DOUBLE else str(int(v))

    lines = ["# Parameters of the DeepRM refiner node (deeprm_ros refiner_node), written by",
             "# `python -m deeprm_ros.ros.parameters` from deeprm_ros/ros/parameters.py (schema, ranges, checks).",
             "# Use decimal points for float parameters (1.0, not 1).", "/**:", "  ros__parameters:"]
    def block(heading: str, read_only: bool) -> list[str]:
        out = comment(heading)
        for spec in (s for s in PARAMETERS if s.read_only == read_only):
            limits = f" Range {spec.range[0]}..{spec.range[1]}." if spec.range else ""
            out += comment(spec.description + limits) + [f"    {spec.name}: {literal(spec)}"]
        return out

    qos_heading, *qos_example = QOS_OVERRIDES_EXAMPLE.splitlines()
    lines += block("Read-only: these need a node restart to change.", read_only=True)
    lines += comment(qos_heading) + ["    #   " + line for line in qos_example]
    lines += block("Applied from the next frame when changed at run time (ros2 param set).", read_only=False)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(refiner_yaml())
