"""The node benchmark's processes (bench/node_benchmark.py): the refiner and camera executables as children
that die with this process, their memory, an object subset of a models folder, and the recorded run itself
(subscriptions, start-up, measurement, drain)."""
from __future__ import annotations

import ctypes
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from node_report import fmt_mb, pct  # noqa: E402

DEFAULT_RATE = {"latency": 5.0, "soak": 30.0, "overload": 30.0}
DEFAULT_FRAMES = {"soak": 10000, "overload": 1500}

# ------------------------------------------------------------------------------------------------------------
# processes


class BenchmarkError(RuntimeError):
    pass


def raise_interrupt(signum, frame):
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


def untrained_checkpoint(phi: int, directory: Path) -> Path:
    """A B<phi>-LSTM at 240x320 with random weights, saved like a trained one (inference only)."""
    from deeprm_ros.checkpoint import save_model
    from deeprm_ros.model import create_model
    save_model(create_model(phi, "lstm", with_flow=False), directory, inference_only=True)  # the paper's 240x320
    return directory


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

    from deeprm_ros.ros.resources import default_models_dir, executable

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
