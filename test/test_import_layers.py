"""The package's import graph, read from the installed sources with ast: no module imports a higher layer, the
learning core never imports ROS, and no two modules import each other, directly or around a circle (lazy
imports inside functions count too)."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import deeprm_ros

# Lowest first; a module may import its own layer or lower ones.
LAYERS = [
    {"geometry", "meshes"},
    {"metrics", "model", "losses", "render"},
    {"data", "checkpoint"},
    {"export", "distributed", "openvino_step", "backend_choice"},
    {"refiner"},
    {"tracking"},
    {"training_config"},
    {"train", "evaluate"},
    {"ros", "msg"},
]
LAYER_OF = {name: i for i, layer in enumerate(LAYERS) for name in layer}
ROS_ROOTS = ("rclpy", "sensor_msgs", "geometry_msgs", "vision_msgs", "tf2_msgs", "std_msgs", "std_srvs",
             "visualization_msgs", "diagnostic_msgs", "builtin_interfaces", "deeprm_ros.msg")


def _graph():
    """{module: set of imported deeprm_ros modules} and {module: set of imported top-level names}."""
    root = Path(deeprm_ros.__file__).parent
    edges, externals = defaultdict(set), defaultdict(set)
    for path in root.rglob("*.py"):
        if "msg" in path.relative_to(root).parts[:1]:
            continue  # generated message code
        parts = ["deeprm_ros", *path.relative_to(root).with_suffix("").parts]
        package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
        module = ".".join(parts if parts[-1] != "__init__" else parts[:-1])
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package[:len(package) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                names = [f"{target}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                target, names = None, [a.name for a in node.names]
            else:
                continue
            for name in ([target] if target else []) + names:
                if name.startswith("deeprm_ros"):
                    mod = name
                    while mod and not (root.parent / (mod.replace(".", "/") + ".py")).exists() \
                            and not (root.parent / mod.replace(".", "/") / "__init__.py").exists():
                        mod = mod.rpartition(".")[0]
                    if mod and mod != module:
                        edges[module].add(mod)
                externals[module].add(name)
    return edges, externals


def _layer(module: str):
    parts = module.split(".")
    return LAYER_OF.get(parts[1]) if len(parts) > 1 else None


def test_no_module_imports_a_higher_layer():
    edges, _ = _graph()
    upward = [(a, b) for a, bs in edges.items() for b in bs
              if _layer(a) is not None and _layer(b) is not None and _layer(b) > _layer(a)]
    assert not upward, upward
    unknown = {m.split(".")[1] for m in edges if len(m.split(".")) > 1} - set(LAYER_OF)
    assert not unknown, f"modules outside every layer: {unknown} (add them to LAYERS)"


def test_the_learning_core_never_imports_ros():
    _, externals = _graph()
    offenders = {m: sorted(n for n in names if n.startswith(ROS_ROOTS)) for m, names in externals.items()
                 if not m.startswith("deeprm_ros.ros")}
    assert not {m: n for m, n in offenders.items() if n}


def test_no_import_cycle():
    edges, _ = _graph()
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(set(edges) | {w for ws in edges.values() for w in ws}):
        if v not in index:
            visit(v)
    assert not cycles, cycles
    assert len(edges) > 30  # the graph was read (every module of the package)
