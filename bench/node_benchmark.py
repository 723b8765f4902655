"""End-to-end benchmark of the refiner node through real ROS processes: the installed synthetic camera and
refiner_node executables, and a subscriber in this process. Prints the machine, markdown tables, writes PNG
plots (and the tables as .md, the numbers as .json) to --out.

    python bench/node_benchmark.py --mode latency --seconds 30 --rate 5          # stamp -> result latency, FPS
    python bench/node_benchmark.py --mode soak --frames 10000 --rate 30           # RSS, tracks, p99 per window
    python bench/node_benchmark.py --mode overload --frames 1500 --rate 30        # queue of one: bounded latency
    python bench/node_benchmark.py --mode latency --backend onnx --iterations 4 --tracking-iterations 2 --objects 2

Run it after `bash scripts/setup.sh && source scripts/env.sh` (it starts install/deeprm_ros/lib/deeprm_ros/*).

Latency: the synthetic camera stamps Image, CameraInfo and ground_truth with its ROS clock (the system clock:
no sim time) right before publishing them, so end-to-end latency = (time the refined Detection3DArray reached
this process) - (the image header stamp), on one machine and one clock. "Reached" is the middleware's
received_timestamp of the message (rclpy MessageInfo), so the benchmark's own spinning does not count; the
time this process's callback ran is reported beside it.

Camera frames are counted here from camera_info (sensor-data QoS, published with every image and the same
stamp; --count-topic image counts the images themselves) and ground_truth (reliable, with every image; its
detections are the live objects of the scene): a frame is counted when either arrives.

Frame accounting: every image the node takes off its queue of one gives exactly one refined_detections and
one refinement_status message (empty when nothing is tracked); an image replaced in the queue is counted in
RefinementStatus.dropped_frames. Camera frames neither refined nor counted as dropped are "unaccounted"
(lost before the node's subscription callback saw them: DDS history of the sensor-data QoS, transport, or
skipped by the node for lack of a camera_info).

Exit status: 0 pass, 1 FAIL (soak / overload criteria, printed as FAIL lines), 2 error (a process stopped,
start-up timed out, no results), 3 overload inconclusive (refinement kept up with the camera), 130 interrupted.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from refiner_benchmark import machine  # noqa: E402  (imports torch: GPU name and torch threads)

DEFAULT_RATE = {"latency": 5.0, "soak": 30.0, "overload": 30.0}
DEFAULT_FRAMES = {"soak": 10000, "overload": 1500}

# ------------------------------------------------------------------------------------------------------------
# processes


class BenchmarkError(RuntimeError):
    pass


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


try:
    _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:
    _LIBC = None


def _die_with_parent():
    """In the child before exec: SIGTERM when the benchmark dies (even by SIGKILL)."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Child:
    """One started executable, its output in a log file; stop() = SIGTERM, then SIGKILL after a grace period."""

    def __init__(self, name: str, argv: list[str], env: dict, log_dir: str):
        self.name = name
        self.log_path = Path(log_dir) / f"{name}.log"
        self.log = open(self.log_path, "wb")
        self.argv = argv
        self.started = time.time()
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, preexec_fn=_die_with_parent)
        self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace_s: float = 10.0) -> int | None:
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                try:
                    self.proc.wait(timeout=5.0)
                except subprocess.TimeoutExpired:
                    pass
            except ProcessLookupError:
                pass
        self.log.close()
        return self.proc.returncode

    def tail(self, n: int = 12) -> str:
        """The log's error lines (e.g. "[deeprm_refiner] start-up failed: ...", at most 5) and its last n lines."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        key = [i for i, line in enumerate(lines[:-n] if n else lines)
               if "failed" in line or "[ERROR]" in line or "error:" in line.lower()][:5]
        picked = [lines[i] for i in key] + (["..."] if key else []) + lines[-n:]
        return "\n".join(f"    [{self.name}] {line}" for line in picked)


def rss_bytes(pid: int) -> int | None:
    """Resident memory of a process (psutil when installed, else /proc/<pid>/status VmRSS)."""
    try:
        import psutil
        return int(psutil.Process(pid).memory_info().rss)
    except ImportError:
        pass
    except Exception:
        return None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def object_subset(models_dir: Path, n: int, tmp: str) -> tuple[Path, list[int]]:
    """A models folder with the first n objects of models_dir (links to the meshes, filtered models_info.json)."""
    from deeprm_ros.meshes import load_object_library
    ids = sorted(load_object_library(models_dir))
    if n > len(ids):
        raise BenchmarkError(f"--objects {n}: the synthetic scene has one object per mesh, and {models_dir} has "
                             f"{len(ids)} ({ids})")
    keep = ids[:n]
    out = Path(tmp) / "models"
    out.mkdir()
    for path in models_dir.iterdir():
        stem_id = None
        if path.name.startswith("obj_"):
            try:
                stem_id = int(path.name[4:].split(".")[0])
            except ValueError:
                pass
        if path.name == "models_info.json":
            info = json.loads(path.read_text())
            (out / path.name).write_text(json.dumps({k: v for k, v in info.items() if int(k) in keep}, indent=1))
        elif stem_id is None or stem_id in keep:
            (out / path.name).symlink_to(path.resolve())
    return out, keep


# ------------------------------------------------------------------------------------------------------------
# statistics and tables


def pct(a, q) -> float:
    a = np.asarray(a, dtype=float)
    return float(np.percentile(a, q)) if a.size else float("nan")


def dist_row(name: str, a, unit_scale: float = 1.0) -> list[str]:
    a = np.asarray(a, dtype=float) * unit_scale
    if not a.size:
        return [name, "0"] + ["-"] * 5
    return [name, str(a.size)] + [f"{v:.1f}" for v in (pct(a, 50), pct(a, 90), pct(a, 99), a.max(), a.mean())]


def md_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def fmt_mb(b) -> str:
    return "-" if b is None or not np.isfinite(b) else f"{b / 2**20:.1f}"


# ------------------------------------------------------------------------------------------------------------
# the run


class Recorder:
    """The benchmark's subscriptions; all times are integer nanoseconds of the system clock."""

    def __init__(self, node, count_topic: str):
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import CameraInfo, Image
        from vision_msgs.msg import Detection3DArray

        from deeprm_ros.msg import RefinementStatus

        self.frames = {}     # stamp_ns -> (camera source_ts, benchmark receive ts)
        self.live = {}       # stamp_ns -> live objects in the scene (ground_truth)
        self.results = []    # (stamp_ns, received_ts, source_ts, callback_ts, n_detections)
        self.status = []     # (stamp_ns, received_ts, total_ms, render_ms, network_ms, dropped, track_count, n_objects)
        self.first_refine_ns = None  # receipt of the first status with a refined object
        self.measure_start_ns = None  # set after the warm-up is known; frames from then on are counted
        self.n_measured = 0
        self.count_stamps = set()     # frames seen on the count topic (camera_info or image)
        self.count_topic = count_topic
        self.last_result_ns = None
        node.create_subscription(Image if count_topic == "image" else CameraInfo, count_topic, self._on_frame,
                                 qos_profile_sensor_data)
        node.create_subscription(Detection3DArray, "ground_truth", self._on_gt, 100)
        node.create_subscription(Detection3DArray, "refined_detections", self._on_result, 100)
        node.create_subscription(RefinementStatus, "refinement_status", self._on_status, 100)

    @staticmethod
    def _stamp(msg) -> int:
        return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec

    @staticmethod
    def _received(info) -> int:
        t = info.get("received_timestamp") or 0
        return int(t) if t > 0 else time.time_ns()

    def _add_frame(self, s: int, source_ts: int):
        if s not in self.frames:
            self.frames[s] = (source_ts, time.time_ns())
            if self.measure_start_ns is not None and s >= self.measure_start_ns:
                self.n_measured += 1
        elif source_ts and not self.frames[s][0]:
            self.frames[s] = (source_ts, self.frames[s][1])

    def _on_frame(self, msg, info):
        self.count_stamps.add(self._stamp(msg))
        self._add_frame(self._stamp(msg), int(info.get("source_timestamp") or 0))

    def _on_gt(self, msg, info):
        s = self._stamp(msg)
        self.live[s] = len(msg.detections)
        self._add_frame(s, 0)

    def _on_result(self, msg, info):
        now = time.time_ns()
        self.results.append((self._stamp(msg), self._received(info), int(info.get("source_timestamp") or 0), now,
                             len(msg.detections)))
        self.last_result_ns = now

    def _on_status(self, msg, info):
        rec = self._received(info)
        self.status.append((self._stamp(msg), rec, msg.total_ms, msg.render_ms, msg.network_ms, int(msg.dropped_frames),
                            int(msg.track_count), len(msg.objects)))
        if self.first_refine_ns is None and len(msg.objects) > 0:
            self.first_refine_ns = rec


def wait_for(node, what: str, cond, children, timeout_s: float):
    import rclpy
    t0 = time.time()
    while not cond():
        rclpy.spin_once(node, timeout_sec=0.05)
        for c in children:
            if not c.alive():
                raise BenchmarkError(f"{c.name} stopped (exit {c.proc.returncode}) while waiting for {what}")
        if time.time() - t0 > timeout_s:
            raise BenchmarkError(f"no {what} within {timeout_s:.0f} s")
    return time.time() - t0


def has_endpoint(node, topic: str, node_name: str, kind: str) -> bool:
    infos = node.get_subscriptions_info_by_topic(topic) if kind == "sub" else node.get_publishers_info_by_topic(topic)
    return any(i.node_name == node_name for i in infos)


def run(args, env, tmp) -> dict:
    """Start the node, then the camera; warm up; measure; stop. Returns the raw recordings."""
    import rclpy
    from rclpy.signals import SignalHandlerOptions
    from tqdm import tqdm

    from deeprm_ros.ros.demo import executable
    from deeprm_ros.ros.resources import default_models_dir

    models_dir = Path(args.models_dir) if args.models_dir else default_models_dir()
    obj_ids = None
    if args.objects:
        models_dir, obj_ids = object_subset(models_dir, args.objects, tmp)
    node_params = {"backend": args.backend, "device": args.device}
    for k in ("iterations", "tracking_iterations", "cpu_threads", "max_objects"):
        if getattr(args, k) is not None:
            node_params[k] = getattr(args, k)
    if args.objects or args.models_dir:
        node_params["models_dir"] = str(models_dir)
    if args.untrained_phi is not None:
        node_params["checkpoint"] = str(untrained_checkpoint(args.untrained_phi, Path(tmp) / "untrained"))
    node_argv = [executable("refiner_node"), "--ros-args"]
    if args.params_file:
        node_argv += ["--params-file", str(Path(args.params_file).resolve())]
    for k, v in node_params.items():
        node_argv += ["-p", f"{k}:={v}"]
    for kv in args.node_param:
        node_argv += ["-p", kv]
    node_argv += ["--log-level", args.log_level]
    cam_params = {"rate_hz": float(args.rate), "detection_rate_hz": float(args.detection_rate)}
    if args.objects or args.models_dir:
        cam_params["models_dir"] = str(models_dir)
    cam_argv = [executable("synthetic_camera"), "--ros-args"]
    for k, v in cam_params.items():
        cam_argv += ["-p", f"{k}:={v}"]
    for kv in args.camera_param:
        cam_argv += ["-p", kv]
    cam_argv += ["--log-level", args.log_level]

    rec = {"node_argv": node_argv, "camera_argv": cam_argv, "rss": [], "interrupted": False, "error": None,
           "models_dir": str(models_dir), "obj_ids": obj_ids}
    children: list[Child] = []
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("deeprm_node_benchmark")
    r = Recorder(node, args.count_topic)
    rec["recorder"] = r
    bar = None
    try:
        print(f"starting refiner_node: {' '.join(node_argv[1:])}", flush=True)
        refiner = Child("refiner_node", node_argv, env, tmp)
        children.append(refiner)
        dt = wait_for(node, "refiner_node subscription on /image", lambda: has_endpoint(node, "/image", "deeprm_refiner", "sub"),
                      children, args.startup_timeout)
        rec["node_ready_s"] = dt
        print(f"refiner_node (pid {refiner.pid}) ready after {dt:.1f} s; starting synthetic_camera: "
              f"{' '.join(cam_argv[1:])}", flush=True)
        camera = Child("synthetic_camera", cam_argv, env, tmp)
        children.append(camera)
        rec["pids"] = {"refiner_node": refiner.pid, "synthetic_camera": camera.pid}
        dt = wait_for(node, "camera frame", lambda: len(r.frames) > 0, children, args.startup_timeout)
        rec["camera_ready_s"] = dt
        print(f"synthetic_camera (pid {camera.pid}) publishing after {dt:.1f} s; waiting for the first refinement "
              "(the node builds the renderer and network on the first frame with a detection) ...", flush=True)
        dt = wait_for(node, "refined object (RefinementStatus with objects)", lambda: r.first_refine_ns is not None,
                      children, args.startup_timeout)
        rec["first_refine_s"] = dt
        measure_start = r.first_refine_ns + int(args.warmup * 1e9)
        rec["measure_start_ns"] = measure_start
        r.n_measured = sum(1 for s in r.frames if s >= measure_start)
        r.measure_start_ns = measure_start
        print(f"first refinement after {dt:.1f} s; warm-up {args.warmup:g} s, then measuring "
              + (f"{args.seconds:g} s" if args.mode == "latency" else f"{args.frames} camera frames"), flush=True)

        tty = sys.stderr.isatty()

        def new_bar():  # created when the warm-up ends, so that its rate and ETA are those of the measurement
            if args.mode == "latency":
                return tqdm(total=round(args.seconds), unit="s", desc="latency", mininterval=1 if tty else 10,
                            dynamic_ncols=True, disable=args.no_progress)
            return tqdm(total=args.frames, unit="frame", desc=args.mode, mininterval=1 if tty else 10,
                        dynamic_ncols=True, disable=args.no_progress)

        next_sample = time.time()
        last_new_frame, n_frames_seen, done_units = time.time(), 0, 0
        in_warmup = True
        while True:
            rclpy.spin_once(node, timeout_sec=0.02)
            now = time.time()
            for c in children:
                if not c.alive():
                    raise BenchmarkError(f"{c.name} stopped during the run (exit {c.proc.returncode})")
            if len(r.frames) != n_frames_seen:
                n_frames_seen, last_new_frame = len(r.frames), now
            elif now - last_new_frame > args.stall_timeout:
                raise BenchmarkError(f"no camera frame for {args.stall_timeout:.0f} s")
            if now >= next_sample:
                rec["rss"].append((time.time_ns(), rss_bytes(refiner.pid), rss_bytes(camera.pid)))
                next_sample += 1.0
                if in_warmup and time.time_ns() >= measure_start:
                    in_warmup = False
                    bar = new_bar()
                if not in_warmup:
                    units = round((time.time_ns() - measure_start) / 1e9) if args.mode == "latency" else r.n_measured
                    units = min(units, bar.total)
                    bar.update(units - done_units)
                    done_units = units
                    recent = [x[1] - x[0] for x in r.results[-60:] if x[0] >= measure_start]
                    st = [s for s in r.status if s[0] >= measure_start]
                    bar.set_postfix_str(f"refined {len([x for x in r.results if x[0] >= measure_start])} "
                                        f"p99~{pct(recent, 99) / 1e6:.0f}ms dropped "
                                        f"{(st[-1][5] - st[0][5]) if st else 0} tracks {r.status[-1][6] if r.status else 0} "
                                        f"rss {fmt_mb(rec['rss'][-1][1])}MB", refresh=False)
            if args.mode == "latency":
                if time.time_ns() >= measure_start + int(args.seconds * 1e9):
                    break
            elif r.n_measured >= args.frames:
                break
        rec["measure_end_ns"] = time.time_ns()
        if bar is not None:
            bar.update(bar.total - bar.n)
            bar.close()
            bar = None
        # Drain: stop the camera, collect the results of the frames in flight.
        camera.stop()
        t_drain = time.time()
        while time.time() - t_drain < args.drain_timeout:
            rclpy.spin_once(node, timeout_sec=0.05)
            if r.last_result_ns is not None and time.time_ns() - r.last_result_ns > 2e9 and time.time() - t_drain > 2:
                break
            if not refiner.alive():
                raise BenchmarkError(f"refiner_node stopped while draining (exit {refiner.proc.returncode})")
        rec["rss"].append((time.time_ns(), rss_bytes(refiner.pid), None))
    except KeyboardInterrupt:
        rec["interrupted"] = True
        rec.setdefault("measure_end_ns", time.time_ns())
        print("\ninterrupted: stopping the processes, reporting what was measured", file=sys.stderr, flush=True)
    except BenchmarkError as e:
        rec["error"] = str(e)
        rec.setdefault("measure_end_ns", time.time_ns())
    finally:
        # A second Ctrl-C (or a SIGTERM) must not leave the processes behind.
        old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            if bar is not None:
                bar.close()
            for c in reversed(children):
                rc = c.stop()
                rec.setdefault("exit", {})[c.name] = rc
            node.destroy_node()
            rclpy.try_shutdown()
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
    rec["logs"] = {c.name: c.tail() for c in children}
    return rec


# ------------------------------------------------------------------------------------------------------------
# analysis


def windows_of(stamps_sorted: np.ndarray, size: int) -> list[tuple[int, int]]:
    """[start, end) stamp ranges of consecutive groups of `size` measured camera frames (the last may be short)."""
    out = []
    for i in range(0, len(stamps_sorted), size):
        lo = int(stamps_sorted[i])
        hi = int(stamps_sorted[i + size]) if i + size < len(stamps_sorted) else int(stamps_sorted[-1]) + 1
        out.append((lo, hi))
    return out


def analyse(args, rec) -> dict:
    r = rec["recorder"]
    m0 = rec.get("measure_start_ns")
    if m0 is None:
        return {}
    m1 = rec["measure_end_ns"]
    frames = np.array(sorted(s for s in r.frames if s >= m0), dtype=np.int64)
    if args.mode == "latency":
        frames = frames[frames < m0 + int(args.seconds * 1e9)]
    else:
        frames = frames[: args.frames]
    if not len(frames):
        return {}
    lo, hi = int(frames[0]), int(frames[-1])
    res = np.array([x for x in r.results if lo <= x[0] <= hi], dtype=np.int64).reshape(-1, 5)
    st = [s for s in r.status if lo <= s[0] <= hi]
    before = [s for s in r.status if s[0] < lo]
    dropped0 = before[-1][5] if before else (st[0][5] if st else 0)
    dropped = (st[-1][5] - dropped0) if st else 0
    lat = (res[:, 1] - res[:, 0]) / 1e6 if len(res) else np.zeros(0)
    lat_cb = (res[:, 3] - res[:, 0]) / 1e6 if len(res) else np.zeros(0)
    lat_pub = (res[:, 2] - res[:, 0]) / 1e6 if len(res) else np.zeros(0)
    lat_pub = lat_pub[res[:, 2] > 0] if len(res) else lat_pub
    cam_pub = np.array([(r.frames[s][0] - s) / 1e6 for s in frames if r.frames[s][0] > 0])
    span_s = max((hi - lo) / 1e9, 1e-9)
    live = [r.live[s] for s in frames if s in r.live]
    out = {
        "frames": int(len(frames)), "span_s": span_s,
        "camera_fps": (len(frames) - 1) / span_s if len(frames) > 1 else float("nan"),
        "refined": int(len(res)), "refined_fps": len(res) / span_s if len(frames) > 1 else float("nan"),
        "dropped": int(dropped), "unaccounted": int(len(frames) - len(res) - dropped),
        "latency_ms": lat, "latency_callback_ms": lat_cb, "latency_node_publish_ms": lat_pub,
        "camera_stamp_to_publish_ms": cam_pub,
        "total_ms": np.array([s[2] for s in st]), "render_ms": np.array([s[3] for s in st]),
        "network_ms": np.array([s[4] for s in st]),
        "seen_count_topic": int(sum(1 for s in frames if s in r.count_stamps)),
        "seen_ground_truth": int(sum(1 for s in frames if s in r.live)),
        "tracks": np.array([s[6] for s in st]), "objects_refined": np.array([s[7] for s in st]),
        "live_max": max(live) if live else None, "live_min": min(live) if live else None,
        "result_times": (res[:, 1] - m0) / 1e9 if len(res) else np.zeros(0),
        "status_times": np.array([(s[1] - m0) / 1e9 for s in st]),
        "frame_times": (frames - m0) / 1e9,
        "status_dropped": np.array([s[5] - dropped0 for s in st]),
    }
    out["tracks_over_live"] = int(sum(1 for s in st if r.live.get(s[0]) is not None and s[6] > r.live[s[0]]))
    # windows of camera frames
    w = args.window
    if args.mode != "latency" and len(frames) < 3 * w:
        w = max(1, len(frames) // 5)
    out["window"] = w
    wins = []
    for i, (a, b) in enumerate(windows_of(frames, w)):
        sel = (res[:, 0] >= a) & (res[:, 0] < b) if len(res) else np.zeros(0, bool)
        wl = lat[sel] if len(res) else np.zeros(0)
        sw = [s for s in r.status if a <= s[0] < b]
        prev = [s for s in r.status if s[0] < a]
        d0 = prev[-1][5] if prev else (sw[0][5] if sw else 0)
        nf = int(((frames >= a) & (frames < b)).sum())
        wins.append({"index": i, "frames": nf, "refined": int(sel.sum()), "dropped": int(sw[-1][5] - d0) if sw else 0,
                     "p50": pct(wl, 50), "p99": pct(wl, 99), "max": float(wl.max()) if wl.size else float("nan"),
                     "max_tracks": max((s[6] for s in sw), default=0)})
    out["windows"] = wins
    # memory
    rss = [(t, a, b) for t, a, b in rec["rss"] if a is not None]
    meas = [(t, a, b) for t, a, b in rss if m0 <= t <= m1]
    out["rss_t"] = np.array([(t - m0) / 1e9 for t, _, _ in rss])
    out["rss_node"] = np.array([a for _, a, _ in rss], dtype=float)
    out["rss_camera"] = np.array([b if b is not None else np.nan for _, _, b in rss], dtype=float)
    if meas:
        k = min(5, len(meas))
        out["rss_start"] = float(np.median([a for _, a, _ in meas[:k]]))
        out["rss_end"] = float(np.median([a for _, a, _ in meas[-k:]]))
        out["rss_max"] = float(max(a for _, a, _ in meas))
        out["rss_growth_pct"] = 100.0 * (out["rss_end"] - out["rss_start"]) / out["rss_start"]
        cams = [b for _, _, b in meas if b is not None]
        if cams:
            kc = min(5, len(cams))
            out["rss_camera_start"], out["rss_camera_end"] = float(np.median(cams[:kc])), float(np.median(cams[-kc:]))
    return out


def verdict(args, a) -> tuple[list[str], list[str], list[str], list[str]]:
    """(passes, fails, warnings, notes) of the mode's criteria. Soak and overload have pass/fail criteria; the
    latency mode only reports (its checks come out as warnings)."""
    ok, bad, warn, notes = [], [], [], []

    def check(passed: bool, line: str, criterion: bool = True):
        """A criterion of this mode: PASS or FAIL; otherwise only a WARN when it does not hold."""
        if criterion:
            (ok if passed else bad).append(line)
        elif not passed:
            warn.append(line)

    wins = [w for w in a["windows"] if w["refined"] > 0]
    if args.mode != "latency":
        if len(wins) >= 2:
            p_first, p_last = wins[0]["p99"], wins[-1]["p99"]
            check(p_last <= 2 * p_first, f"latency p99 last window {p_last:.0f} ms vs first {p_first:.0f} ms "
                                         f"(limit 2x = {2 * p_first:.0f} ms)")
        else:
            bad.append("fewer than two windows with results: the p99 trend cannot be checked")
    if a["live_max"] is None or not len(a["tracks"]):
        (bad if args.mode == "soak" else warn).append("no track counts or no live-object counts recorded")
    else:
        check(a["tracks"].max() <= a["live_max"], f"max track count {int(a['tracks'].max())} vs live objects "
                                                  f"{a['live_max']} ({a['tracks_over_live']} frames with more tracks)",
              criterion=args.mode == "soak")
    if args.mode == "soak":
        g = a.get("rss_growth_pct")
        if g is None:
            bad.append("no RSS samples of the node")
        else:
            check(g < 5.0, f"node RSS {fmt_mb(a['rss_start'])} MB after warm-up -> {fmt_mb(a['rss_end'])} MB at the "
                           f"end: {g:+.2f}% (limit +5%)")
    overloaded = a["refined_fps"] < 0.9 * a["camera_fps"]
    if args.mode == "overload":
        if not overloaded:
            notes.append(f"not overloaded: refined {a['refined_fps']:.1f} FPS vs camera {a['camera_fps']:.1f} FPS "
                         "(raise --rate, --iterations/--tracking-iterations or --objects)")
        else:
            check(a["dropped"] > 0, f"node counted {a['dropped']} dropped of {a['frames']} camera frames "
                                    f"({a['refined']} refined, refined {a['refined_fps']:.1f} FPS < camera "
                                    f"{a['camera_fps']:.1f} FPS)")
        if len(a["total_ms"]):
            notes.append(f"latency p99 {pct(a['latency_ms'], 99):.0f} ms vs 2 x node total_ms p99 = "
                         f"{2 * pct(a['total_ms'], 99):.0f} ms (queue of one: one frame waiting + its own refinement)")
    if a["unaccounted"] > 0.1 * a["frames"]:
        warn.append(f"{a['unaccounted']} of {a['frames']} camera frames ({100.0 * a['unaccounted'] / a['frames']:.0f}%) "
                    "were neither refined nor counted as dropped by the node: lost before its subscription callback "
                    f"(this process itself received {a['seen_count_topic']} of them on {args.count_topic}, "
                    "sensor-data QoS; --count-topic image shows the loss of the images themselves)")
    return ok, bad, warn, notes


# ------------------------------------------------------------------------------------------------------------
# report


def report(args, rec, a, out_dir: Path) -> str:
    md = []
    setup = [["mode", args.mode], ["camera rate requested / measured (Hz)", f"{args.rate:g} / {a['camera_fps']:.2f}"],
             ["detection rate (Hz)", f"{args.detection_rate:g}"],
             ["live objects in the scene", f"{a['live_min']}..{a['live_max']}" if a["live_min"] != a["live_max"]
              else f"{a['live_max']}"],
             ["backend / device", f"{args.backend} / {args.device}"],
             ["iterations / tracking_iterations", f"{args.iterations or 'default'} / {args.tracking_iterations or 'default'}"],
             ["start-up: node ready / camera publishing / first refinement (s)",
              f"{rec.get('node_ready_s', float('nan')):.1f} / {rec.get('camera_ready_s', float('nan')):.1f} / "
              f"{rec.get('first_refine_s', float('nan')):.1f}"],
             ["warm-up after the first refinement (s)", f"{args.warmup:g}"],
             ["measured camera frames / span (s)", f"{a['frames']} / {a['span_s']:.1f}"]]
    md.append(md_table(["setting", "value"], setup))
    md.append(md_table(["latency (ms)", "n", "p50", "p90", "p99", "max", "mean"], [
        dist_row("**end-to-end: image stamp -> refined_detections received**", a["latency_ms"]),
        dist_row("image stamp -> refined_detections published by the node", a["latency_node_publish_ms"]),
        dist_row("image stamp -> benchmark callback ran", a["latency_callback_ms"]),
        dist_row("node total_ms (RefinementStatus)", a["total_ms"]),
        dist_row("node render_ms", a["render_ms"]),
        dist_row("node network_ms", a["network_ms"]),
        dist_row("camera: image stamp -> camera_info published", a["camera_stamp_to_publish_ms"]),
    ]))
    n = max(a["frames"], 1)
    md.append(md_table(["throughput", "value"], [
        ["camera frames (counted here)", a["frames"]],
        [f"... of which received here on {args.count_topic} (sensor-data QoS) / ground_truth (reliable)",
         f"{a['seen_count_topic']} / {a['seen_ground_truth']}"],
        ["refined frames (refined_detections)", a["refined"]],
        ["camera FPS / refined FPS", f"{a['camera_fps']:.2f} / {a['refined_fps']:.2f}"],
        ["dropped by the node (RefinementStatus.dropped_frames delta)", f"{a['dropped']} ({100.0 * a['dropped'] / n:.1f}%)"],
        ["unaccounted (frames - refined - dropped)", f"{a['unaccounted']} ({100.0 * a['unaccounted'] / n:.1f}%)"],
        ["track count max (status) / live objects max", f"{int(a['tracks'].max()) if len(a['tracks']) else '-'} / {a['live_max']}"],
        ["frames with tracks > live objects", a["tracks_over_live"]],
    ]))
    mem_rows = [["refiner_node", fmt_mb(a.get("rss_start")), fmt_mb(a.get("rss_end")), fmt_mb(a.get("rss_max")),
                 f"{a['rss_growth_pct']:+.2f}%" if "rss_growth_pct" in a else "-"]]
    if "rss_camera_start" in a:
        g = 100.0 * (a["rss_camera_end"] - a["rss_camera_start"]) / a["rss_camera_start"]
        mem_rows.append(["synthetic_camera", fmt_mb(a["rss_camera_start"]), fmt_mb(a["rss_camera_end"]),
                         fmt_mb(np.nanmax(a["rss_camera"])), f"{g:+.2f}%"])
    md.append(md_table(["RSS (MB)", "after warm-up", "end", "max", "growth"], mem_rows))
    if args.mode != "latency":
        md.append(f"Windows of {a['window']} camera frames (latency in ms):\n\n" + md_table(
            ["window", "frames", "refined", "dropped", "p50", "p99", "max", "max tracks"],
            [[w["index"], w["frames"], w["refined"], w["dropped"], f"{w['p50']:.0f}", f"{w['p99']:.0f}",
              f"{w['max']:.0f}", w["max_tracks"]] for w in a["windows"]]))
    text = "\n\n".join(md)
    return text


def plot(args, a, out_dir: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401

    title = machine()[:100]
    if args.mode == "latency":
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
        ax1.plot(a["result_times"], a["latency_ms"], ".", ms=3, label="end-to-end (stamp -> received)")
        if len(a["total_ms"]):
            ax1.plot(a["status_times"], a["total_ms"], ".", ms=3, label="node total_ms")
        ax1.set_xlabel("time after warm-up (s)")
        ax1.set_ylabel("ms")
        ax1.legend(fontsize=7)
        ax1.grid(alpha=0.3)
        if len(a["latency_ms"]):
            ax2.hist(a["latency_ms"], bins=40)
            for q, ls in ((50, "-"), (90, "--"), (99, ":")):
                ax2.axvline(pct(a["latency_ms"], q), color="k", ls=ls, lw=1, label=f"p{q} {pct(a['latency_ms'], q):.0f} ms")
            ax2.legend(fontsize=7)
        ax2.set_xlabel("end-to-end latency (ms)")
        ax2.set_ylabel("frames")
    else:
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
        ax = axes[0]
        if args.mode == "soak":
            ax.plot(a["rss_t"], a["rss_node"] / 2**20, label="refiner_node")
            ax.plot(a["rss_t"], a["rss_camera"] / 2**20, label="synthetic_camera", alpha=0.6)
            if "rss_start" in a:
                ax.axhline(a["rss_start"] * 1.05 / 2**20, color="r", ls="--", lw=1, label="node +5% limit")
            ax.axvline(0, color="k", lw=0.8)
            ax.set_xlabel("time after warm-up (s)")
            ax.set_ylabel("RSS (MB)")
            ax.set_title("resident memory")
        else:
            ax.plot(a["result_times"], a["latency_ms"], ".", ms=2, label="end-to-end latency (ms)")
            ax.set_xlabel("time after warm-up (s)")
            ax.set_ylabel("ms")
            ax.set_title("latency per refined frame")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        ax = axes[1]
        wins = a["windows"]
        x = [w["index"] for w in wins]
        ax.plot(x, [w["p99"] for w in wins], "o-", label="p99")
        ax.plot(x, [w["p50"] for w in wins], "s-", label="p50")
        ok = [w for w in wins if w["refined"]]
        if ok:
            ax.axhline(2 * ok[0]["p99"], color="r", ls="--", lw=1, label="2 x first window p99")
        ax.set_xlabel(f"window ({a['window']} camera frames)")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel("end-to-end latency (ms)")
        ax.set_title("latency per window")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        ax = axes[2]
        if args.mode == "soak":
            ax.step(a["status_times"], a["tracks"], where="post", label="track count")
            if a["live_max"] is not None:
                ax.axhline(a["live_max"], color="r", ls="--", lw=1, label="live objects")
            ax.set_ylabel("tracks")
            ax.set_title("tracks vs live objects")
        else:
            ax.plot(a["status_times"], a["status_dropped"], label="dropped (node, cumulative)")
            ax.plot(a["result_times"], np.arange(1, len(a["result_times"]) + 1), label="refined (cumulative)")
            ax.plot(a["frame_times"], np.arange(1, len(a["frame_times"]) + 1), label="camera frames (cumulative)")
            ax.set_ylabel("frames")
            ax.set_title("refined and dropped frames")
        ax.set_xlabel("time after warm-up (s)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(f"node benchmark ({args.mode}): {title}", fontsize=7)
    fig.tight_layout()
    path = out_dir / f"node_{args.mode}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def to_json(a: dict) -> dict:
    out = {}
    for k, v in a.items():
        if isinstance(v, np.ndarray):
            if v.size and k.endswith("_ms"):
                out[k] = {"n": int(v.size), "p50": pct(v, 50), "p90": pct(v, 90), "p99": pct(v, 99), "max": float(v.max())}
            continue
        out[k] = v
    return out


# ------------------------------------------------------------------------------------------------------------


def untrained_checkpoint(phi: int, directory: Path) -> Path:
    """A B<phi>-LSTM at 240x320 with random weights, saved like a trained one (inference only)."""
    import torch  # noqa: F401
    import timm  # noqa: F401
    from deeprm_ros.checkpoint import save_model
    from deeprm_ros.model import create_model
    save_model(create_model(phi, "lstm", with_flow=False, input_size=(240, 320)), directory, inference_only=True)
    return directory


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.split("\n")[2:]))
    p.add_argument("--mode", choices=["latency", "soak", "overload"], default="latency")
    p.add_argument("--rate", type=float, default=None, help="camera frame rate, Hz (default: latency 5, soak/overload 30)")
    p.add_argument("--detection-rate", type=float, default=2.0, help="coarse detections per second of the camera")
    p.add_argument("--objects", type=int, default=None,
                   help="objects in the scene: the first N meshes of the models folder (default: all, one per mesh)")
    p.add_argument("--models-dir", default=None, help="models folder for camera and node (default: the bundled demo)")
    p.add_argument("--seconds", type=float, default=30.0, help="latency mode: seconds measured after warm-up")
    p.add_argument("--frames", type=int, default=None,
                   help="soak/overload: camera frames measured after warm-up (default: soak 10000, overload 1500)")
    p.add_argument("--window", type=int, default=1000,
                   help="camera frames per latency window (soak/overload; reduced to frames/5 for runs under 3 windows)")
    p.add_argument("--warmup", type=float, default=None,
                   help="seconds after the first refinement not measured (default: soak 20, else 5)")
    g = p.add_argument_group("refiner node parameters (passed through)")
    g.add_argument("--backend", choices=["torch", "onnx"], default="torch")
    g.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    g.add_argument("--iterations", type=int, default=None)
    g.add_argument("--tracking-iterations", type=int, default=None)
    g.add_argument("--cpu-threads", type=int, default=None)
    g.add_argument("--max-objects", type=int, default=None)
    g.add_argument("--params-file", default=None, help="a refiner parameters YAML (e.g. config/refiner.yaml)")
    g.add_argument("--node-param", action="append", default=[], metavar="NAME:=VALUE", help="any other node parameter")
    g.add_argument("--untrained-phi", type=int, default=None, metavar="PHI",
                   help="run the node on an untrained EfficientNet-B<PHI> LSTM model at the paper's 240x320 crop "
                        "instead of the bundled demo model (speed only: weights do not change the cost)")
    p.add_argument("--camera-param", action="append", default=[], metavar="NAME:=VALUE",
                   help="a synthetic camera parameter (width, height, noise_rotation_deg, seed, ...)")
    p.add_argument("--count-topic", choices=["camera_info", "image"], default="camera_info",
                   help="topic counting camera frames here (sensor-data QoS); image costs a 0.9 MB copy per frame")
    p.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: random in 101..200)")
    p.add_argument("--startup-timeout", type=float, default=240.0, help="seconds for each start-up step")
    p.add_argument("--stall-timeout", type=float, default=30.0, help="error when no camera frame arrives this long")
    p.add_argument("--drain-timeout", type=float, default=15.0, help="seconds to wait for in-flight results at the end")
    p.add_argument("--log-level", default="warn", help="ROS log level of the two processes")
    p.add_argument("--keep-logs", action="store_true", help="keep the processes' logs (printed path)")
    p.add_argument("--udp", action="store_true", help="Fast DDS's default transports (UDP for large images) instead "
                                                      "of config/fastdds_shm.xml (shared memory only)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    p.add_argument("--out", default="outputs/bench")
    args = p.parse_args(argv)
    args.rate = args.rate if args.rate is not None else DEFAULT_RATE[args.mode]
    args.warmup = args.warmup if args.warmup is not None else (20.0 if args.mode == "soak" else 5.0)
    args.frames = args.frames if args.frames is not None else DEFAULT_FRAMES.get(args.mode, 0)
    if args.mode != "latency" and args.frames < 2:
        p.error("--frames must be at least 2")
    if args.objects is not None and args.objects < 1:
        p.error("--objects must be at least 1")

    from deeprm_ros.ros.resources import loopback_ros_environment
    domain_id = args.domain_id if args.domain_id is not None else random.SystemRandom().randint(101, 200)
    env, tmp = loopback_ros_environment("deeprm_node_bench_", domain_id, shared_memory=not args.udp)
    os.environ.update({k: env[k] for k in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_DOMAIN_ID", "ROS_HOME", "ROS_LOG_DIR")
                       if k in env})
    if "FASTDDS_DEFAULT_PROFILES_FILE" in env:
        os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = env["FASTDDS_DEFAULT_PROFILES_FILE"]
    for k in ("ROS_LOCALHOST_ONLY", "ROS_STATIC_PEERS"):
        os.environ.pop(k, None)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)
    try:
        import deeprm_ros.msg  # noqa: F401  (the installed package: the source tree has no msg/)
    except ImportError as e:
        print(f"error: {e}: run `bash scripts/setup.sh && source scripts/env.sh` first", file=sys.stderr)
        return 2
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}")
    print(f"node benchmark, mode {args.mode}: ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']} (loopback only), camera "
          f"{args.rate:g} Hz, backend {args.backend}, logs in {tmp}", flush=True)
    rc = 0
    try:
        try:
            rec = run(args, env, tmp)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except BenchmarkError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        if rec["error"]:
            print(f"error: {rec['error']}", file=sys.stderr)
            for name, tail in rec["logs"].items():
                if tail:
                    print(f"  last lines of {name}:\n{tail}", file=sys.stderr)
        a = analyse(args, rec)
        if not a or not len(a["latency_ms"]):
            if rec["interrupted"]:
                print("interrupted before any result was measured", file=sys.stderr)
            elif not rec["error"]:
                print("error: no refined results were measured", file=sys.stderr)
            return 130 if rec["interrupted"] else 2
        print()
        text = report(args, rec, a, out_dir)
        print(text)
        ok, bad, warn, notes = verdict(args, a)
        lines = ([f"PASS: {x}" for x in ok] + [f"FAIL: {x}" for x in bad] + [f"WARN: {x}" for x in warn]
                 + [f"note: {x}" for x in notes])
        if rec["interrupted"] or rec["error"]:
            lines.append("note: the run was cut short (" + ("interrupted" if rec["interrupted"] else "error") + ")")
        print()
        for line in lines:
            print(line)
        (out_dir / f"node_{args.mode}.md").write_text(f"machine: {machine()}\n\n{text}\n\n" + "\n".join(lines) + "\n")
        summary = {"mode": args.mode, "machine": machine(), "args": vars(args), "node_argv": rec["node_argv"],
                   "camera_argv": rec["camera_argv"], "pass": ok, "fail": bad, "warn": warn, "notes": notes, **to_json(a)}
        (out_dir / f"node_{args.mode}.json").write_text(json.dumps(summary, indent=1, default=float))
        png = plot(args, a, out_dir)
        print(f"\nplot: {png}\ntables: {out_dir / f'node_{args.mode}.md'}")
        if rec["interrupted"]:
            rc = 130
        elif rec["error"]:
            rc = 2
        elif bad:
            rc = 1
            print(f"RESULT: FAIL ({len(bad)} criteria)")
        elif args.mode == "overload" and any(n.startswith("not overloaded") for n in notes):
            rc = 3
            print("RESULT: INCONCLUSIVE (refinement kept up with the camera)")
        else:
            print("RESULT: PASS" if args.mode != "latency" else "RESULT: done")
        return rc
    finally:
        if args.keep_logs:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
