"""The demo: the synthetic camera and the refiner node in two real processes, scored live.

`demo [--duration 30] [--out outputs/demo]` (installed executable; `bash scripts/demo.sh` sets up and runs it)

Prints a line per second (frames refined, objects, latency, drops), then a table of the coarse
detections' and the refined poses' accuracy against the ground truth with the number of track
re-initializations (and how many threw away a good pose), and writes an overlay PNG.
The clock starts at the refiner's first refined frame (one with objects), so start-up time (torch, the
model, the renderer) does not eat into the scored time. The table says how many frames and objects it
scored; with fewer than MIN_SCORED_FRAMES refined frames it says the numbers mean nothing and exits with 1.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MIN_SCORED_FRAMES = 50  # refined frames below which a demo table is noise (at 5 Hz: 10 s of refining)


class Scorer:
    """Pairs refined and coarse poses with the ground truth of the same image stamp."""

    def __init__(self, models):
        self.models = models
        self.gt = {}          # stamp -> {class_id: [T]}
        self.coarse = []      # (stamp, class_id, T)
        self.refined = []     # (stamp, class_id, T)
        self.reinitializations = []   # (stamp of the first frame published after it, class_id)

    def spurious_reinitializations(self) -> int:
        """Re-initializations of a track whose last published pose before it was good (ADD(-S) under 10% of the
        diameter): the refiner threw away a pose it had right. One object per class in the demo."""
        from ..metrics import pose_errors
        count = 0
        for stamp, cls in self.reinitializations:
            before = [(s, T) for s, c, T in self.refined if c == cls and s < stamp and self.gt.get(s, {}).get(c)]
            if not before:
                continue
            s, T = max(before, key=lambda e: e[0])
            e, _, _ = pose_errors(T[None], self.gt[s][cls][0][None], self.models, np.array([int(cls)]))
            count += bool(e[0] < 0.1 * self.models[int(cls)].diameter)
        return count

    def errors(self, entries):
        from ..metrics import pose_errors
        T_est, T_gt, ids = [], [], []
        for stamp, cls, T in entries:
            cands = self.gt.get(stamp, {}).get(cls)
            if not cands:
                continue
            j = int(np.argmin([np.linalg.norm(c[:3, 3] - T[:3, 3]) for c in cands]))
            T_est.append(T)
            T_gt.append(cands[j])
            ids.append(int(cls))
        if not ids:
            return None
        ids = np.asarray(ids)
        e, r, t = pose_errors(np.stack(T_est), np.stack(T_gt), self.models, ids)
        frames = len({stamp for stamp, cls, _ in entries if self.gt.get(stamp, {}).get(cls)})
        return e, r, t, ids, frames


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of streaming")
    parser.add_argument("--rate", type=float, default=5.0, help="camera frame rate (Hz)")
    parser.add_argument("--backend", default="openvino", choices=["torch", "onnx", "openvino", "auto"],
                        help="the node's network backend (openvino: the fastest on a CPU; the bundle ships its IR)")
    parser.add_argument("--out", default="outputs/demo", help="folder for the overlay PNG and the table")
    args = parser.parse_args(argv)

    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection3DArray

    from deeprm_ros.msg import RefinementStatus

    from ..metrics import format_table, summarize
    from ..meshes import load_object_library
    from . import conversions as conv
    from .camera import image_to_rgb
    from .resources import default_models_dir

    from .resources import executable, loopback_ros_environment
    env, _ = loopback_ros_environment("deeprm_demo_ros_")
    os.environ.update({k: env[k] for k in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_DOMAIN_ID", "ROS_HOME", "ROS_LOG_DIR",
                                          "FASTDDS_DEFAULT_PROFILES_FILE")})
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    models = load_object_library(default_models_dir())
    print(f"deeprm demo: ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']} (loopback only), {args.duration:.0f} s, "
          f"camera {args.rate:g} Hz, backend {args.backend}", flush=True)
    procs = [
        subprocess.Popen([executable("synthetic_camera"), "--ros-args", "-p", f"rate_hz:={args.rate}",
                          "-p", "detection_rate_hz:=1.0", "--log-level", "warn"], env=env),
        subprocess.Popen([executable("refiner_node"), "--ros-args", "-p", f"backend:={args.backend}",
                          "--log-level", "warn"], env=env),
    ]
    rclpy.init()
    node = rclpy.create_node("deeprm_demo_monitor")
    scorer = Scorer(models)
    stats = {"frames": 0, "refined_frames": 0, "objects": 0, "latency": [], "total_ms": [], "dropped": 0}
    overlay = {}
    reinit_counts = {}    # track_id -> re-initializations seen in its last status

    def on_gt(msg):
        s = conv.stamp_to_sec(msg.header.stamp)
        d = scorer.gt.setdefault(s, {})
        for det in msg.detections:
            d.setdefault(det.results[0].hypothesis.class_id, []).append(conv.pose_to_matrix(det.results[0].pose.pose))

    def on_coarse(msg):
        s = conv.stamp_to_sec(msg.header.stamp)
        for det in msg.detections:
            scorer.coarse.append((s, det.results[0].hypothesis.class_id, conv.pose_to_matrix(det.results[0].pose.pose)))

    def on_refined(msg):
        s = conv.stamp_to_sec(msg.header.stamp)
        stats["latency"].append(time.time() - s)
        for det in msg.detections:
            scorer.refined.append((s, det.results[0].hypothesis.class_id, conv.pose_to_matrix(det.results[0].pose.pose)))

    def on_status(msg):
        s = conv.stamp_to_sec(msg.header.stamp)
        for o in msg.objects:  # a track's count rises on the first frame it is published after a re-initialization
            before = reinit_counts.get(o.track_id)
            if before is not None and o.reinitializations > before:
                scorer.reinitializations.append((s, o.class_id))
            reinit_counts[o.track_id] = o.reinitializations
        stats["frames"] += 1
        stats["refined_frames"] += bool(msg.objects)
        stats["objects"] = len(msg.objects)
        stats["total_ms"].append(msg.total_ms)
        stats["dropped"] = msg.dropped_frames

    def on_overlay(msg):
        overlay["rgb"] = image_to_rgb(msg)

    node.create_subscription(Detection3DArray, "ground_truth", on_gt, 50)
    node.create_subscription(Detection3DArray, "detections", on_coarse, 50)
    node.create_subscription(Detection3DArray, "refined_detections", on_refined, 50)
    node.create_subscription(RefinementStatus, "refinement_status", on_status, 50)
    overlay_sub = None
    try:
        t_wait = time.time()
        print("waiting for the refiner's first refined frame (start-up loads torch, the model and the renderer) ...",
              flush=True)
        while stats["refined_frames"] == 0:
            rclpy.spin_once(node, timeout_sec=0.1)
            if any(p.poll() is not None for p in procs):
                print("error: a demo process stopped during start-up (see its output above)", file=sys.stderr)
                return 1
            if time.time() - t_wait > 180:
                print("error: no refined frame (RefinementStatus with objects) within 180 s", file=sys.stderr)
                return 1
        print(f"first refined frame after {time.time() - t_wait:.1f} s; scoring the next {args.duration:.0f} s",
              flush=True)
        # Only what is refined from now on is scored.
        scorer.refined.clear()
        scorer.coarse.clear()
        scorer.reinitializations.clear()
        stats.update(frames=0, refined_frames=0, latency=[], total_ms=[])
        t_start = time.time()
        next_print = t_start + 1.0
        last_frames = 0
        while time.time() - t_start < args.duration:
            rclpy.spin_once(node, timeout_sec=0.05)
            if any(p.poll() is not None for p in procs):
                print("error: a demo process stopped early (see its output above)", file=sys.stderr)
                return 1
            if overlay_sub is None and time.time() - t_start > args.duration - 4:
                overlay_sub = node.create_subscription(Image, "overlay", on_overlay, qos_profile_sensor_data)
            if time.time() >= next_print:
                lat = stats["latency"][-20:]
                print(f"t={time.time() - t_start:5.1f}s frames={stats['frames']:4d} (+{stats['frames'] - last_frames}) "
                      f"objects={stats['objects']} refine={np.mean(stats['total_ms'][-20:]) if stats['total_ms'] else 0:6.1f} ms "
                      f"stamp->result={1e3 * np.mean(lat) if lat else 0:6.1f} ms dropped={stats['dropped']}", flush=True)
                last_frames = stats["frames"]
                next_print += 1.0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        node.destroy_node()
        rclpy.try_shutdown()

    results = {}
    for name, entries in (("coarse detections", scorer.coarse), ("refined (DeepRM node)", scorer.refined)):
        r = scorer.errors(entries)
        if r is None:
            print(f"error: no {name} were paired with the ground truth", file=sys.stderr)
            return 1
        e, rot, tr, ids, frames = r
        diam = np.array([models[int(o)].diameter for o in ids])
        results[name] = summarize(e, rot, tr, ids, diam, np.ones(len(e), bool))
        results[name]["count"] = len(e)
        results[name]["frames"] = frames
    tracks = {"reinitializations": len(scorer.reinitializations),
              "spurious_reinitializations": scorer.spurious_reinitializations()}
    table = format_table(results)
    refined, coarse = results["refined (DeepRM node)"], results["coarse detections"]
    scored = (f"Scored against the ground truth over {args.duration:.0f} s: {refined['frames']} refined frames "
              f"({refined['count']} objects), {coarse['frames']} frames of coarse detections ({coarse['count']} objects; "
              "the detector runs at 1 Hz). Tracks re-initialized from their detection: "
              f"{tracks['reinitializations']} ({tracks['spurious_reinitializations']} of them from a pose under 10% "
              "of the diameter; the node's log says why each one was).")
    too_few = refined["frames"] < MIN_SCORED_FRAMES
    if too_few:
        scored += (f"\nTOO FEW FRAMES: {refined['frames']} refined frames is under {MIN_SCORED_FRAMES}; these numbers "
                   "mean nothing (the refiner was too slow or started too late: see the lines above).")
    print()
    print(table)
    print(scored)
    (out_dir / "accuracy.md").write_text(table + "\n\n" + scored + "\n")
    import json
    (out_dir / "accuracy.json").write_text(json.dumps(dict(results, tracks=tracks), indent=2, default=float))
    if "rgb" in overlay:
        import cv2
        cv2.imwrite(str(out_dir / "overlay.png"), cv2.cvtColor(overlay["rgb"], cv2.COLOR_RGB2BGR))
        print(f"overlay: {out_dir / 'overlay.png'}")
    else:
        print("warning: no overlay image arrived", file=sys.stderr)
    return 1 if too_few else 0


if __name__ == "__main__":
    sys.exit(main())
