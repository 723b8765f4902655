"""Does tracking earn its keep? The synthetic camera's video (data/sequence.py: the demo objects moving and
turning, ground truth at every frame) refined frame by frame by the node's own per-frame step
(tracking.refine_tracks) under several strategies, with a noisy coarse detector at 1 and 5 Hz:

  detection        (a) every frame refines the latest detection from a zero state (`iterations` iterations)
  tracking         (b) tracks carry pose and recurrent state (the node's defaults: confidence re-initialization)
  tracking_4iter   (b) with 4 iterations per frame instead of 2: the same cost as (a)
  no_state         (c) tracks carry the pose only; the recurrent state starts from zero every frame
  reinit_converge  (d) as (b), but re-initialized after 10 frames above 2 mm / 1 deg (the earlier default)
  reinit_detection (d) as (b), re-initialized only when a detection disagrees (no confidence rule)
  verify_N, no_verify  (b) with the check against each refined detection at N degrees, or without it
  verify_conf_M    (b) whose check also takes over a refined detection whose confidence beats the track's by M
  blend_W          (b) whose check moves a track that agrees with its refined detection a share W towards it
  state_from_detection, state_reset  (b) whose agreeing check gives the track the refined detection's state, or none
  gain_G           (b) with a share G of each predicted update applied to a carried track
  motion_S         (b) with each carried track started from a constant-velocity prediction, smoothed by S

Reported over all frames and objects: AUC of ADD(-S) (0-10 cm), median rotation / translation error, the
share under 10% of the diameter, re-initializations per minute (spurious: of a track whose pose entering the
frame was under 10% of the diameter; strategy (a)'s restart at every frame is not counted), and the area under
the ROC curve of the pose confidence (the Detection3D score) separating good poses (ADD(-S) < 10% of the
diameter) from bad ones.
Writes a CSV of every (frame, object), a JSON summary, a markdown table and a plot of error against time.

    python bench/tracking_benchmark.py --duration 30 --rate 10 --detector-rates 1 5 --out docs/results/tracking
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import mannwhitneyu
from tqdm import tqdm

from deeprm_ros.data.sequence import SyntheticSequence
from deeprm_ros.meshes import load_object_library
from deeprm_ros.metrics import auc_adds, pose_errors
from deeprm_ros.refiner import Refiner
from deeprm_ros.render import Renderer
from deeprm_ros.ros.parameters import defaults as node_defaults
from deeprm_ros.tracking import Detection, TrackManager, refine_tracks

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from refiner_benchmark import machine  # noqa: E402


NODE = node_defaults()


@dataclass(frozen=True)
class Strategy:
    """A tracking policy; every field not set is the node's default (config/refiner.yaml)."""
    name: str
    refine_from: str = "track"        # "detection": (a), restart every frame from the latest detection
    carry_state: bool = True
    tracking_iterations: int | None = None   # None: --tracking-iterations
    max_unconverged_frames: int = NODE["max_unconverged_frames"]
    max_low_confidence_frames: int = NODE["max_low_confidence_frames"]
    reinit_rotation_deg: float = NODE["reinit_rotation_deg"]
    verify_rotation_deg: float = NODE["verify_rotation_deg"]
    verify_every_frame: bool = False   # compare with the latest (stale) detection refined afresh at every frame
    tracking_update_gain: float = 1.0          # not node parameters: measured here, none of them helped
    velocity_smoothing: float | None = None
    verify_iterations: int | None = None
    verify_confidence_margin: float | None = None
    verify_blend: float = 0.0
    verify_state: str = "track"


STRATEGIES = {s.name: s for s in [
    Strategy("detection", refine_from="detection"),
    Strategy("tracking"),
    Strategy("tracking_3iter", tracking_iterations=3),
    Strategy("tracking_4iter", tracking_iterations=4),
    Strategy("no_state", carry_state=False),
    Strategy("reinit_converge", max_unconverged_frames=10, max_low_confidence_frames=0),
    Strategy("reinit_detection", max_low_confidence_frames=0),
    Strategy("no_verify", verify_rotation_deg=0.0),
    Strategy("verify_5", verify_rotation_deg=5.0),
    Strategy("verify_10", verify_rotation_deg=10.0),
    Strategy("verify_15", verify_rotation_deg=15.0),
    Strategy("verify_15_8iter", verify_rotation_deg=15.0, verify_iterations=8),
    Strategy("verify_20", verify_rotation_deg=20.0),
    Strategy("verify_5_every_frame", verify_rotation_deg=5.0, verify_every_frame=True),
    Strategy("gain_0.5", tracking_update_gain=0.5),
    Strategy("gain_0.7", tracking_update_gain=0.7),
    Strategy("gain_1.3", tracking_update_gain=1.3),
    Strategy("motion_0.5", velocity_smoothing=0.5),
    Strategy("motion_0.8", velocity_smoothing=0.8),
    Strategy("verify_conf_0", verify_confidence_margin=0.0),
    Strategy("verify_conf_0.05", verify_confidence_margin=0.05),
    Strategy("verify_conf_0.1", verify_confidence_margin=0.1),
    Strategy("blend_0.3", verify_blend=0.3),
    Strategy("blend_0.5", verify_blend=0.5),
    Strategy("state_from_detection", verify_state="detection"),
    Strategy("state_reset", verify_state="zero"),
]}


def render_video(models, renderer, n_frames: int, rate_hz: float, seed: int):
    """Every frame of the sequence with a detection on each (the detector rates keep a subset of them)."""
    seq = SyntheticSequence(models, renderer, seed=seed, rate_hz=rate_hz, detection_rate_hz=rate_hz)
    return seq, [seq.frame(i) for i in tqdm(range(n_frames), desc="render video", leave=False)]


def run_strategy(strategy: Strategy, frames, seq, refiner, models, detector_every: int, args) -> list[dict]:
    """Rows (frame, object, errors, confidence, re-initialized) for one strategy and detector rate."""
    manager = TrackManager(gate_m=args.gate, max_unconverged_frames=strategy.max_unconverged_frames,
                           max_low_confidence_frames=strategy.max_low_confidence_frames,
                           min_confidence=args.min_confidence, reinit_rotation_deg=strategy.reinit_rotation_deg,
                           verify_rotation_deg=strategy.verify_rotation_deg,
                           verify_confidence_margin=strategy.verify_confidence_margin,
                           verify_blend=strategy.verify_blend, verify_state=strategy.verify_state,
                           symmetries={o: m.symmetry_transforms() for o, m in models.items()})
    rows = []
    for f in frames:
        gt = dict(zip(seq.obj_ids, f.poses))
        # Whether each track's pose entering this frame is good: a re-initialization of a good track is spurious.
        good_before = {t.track_id: not t.fresh and is_good(t, gt, models) for t in manager.tracks.values()}
        if f.index % detector_every == 0:
            dets = [Detection(str(o), o, T) for o, T in zip(seq.obj_ids, f.detections)]
            manager.associate(dets, f.time_s)
            reinit_by_detection = {t.track_id for t, _ in manager.restarted}
        else:
            reinit_by_detection = set()
        manager.expire(f.time_s)
        tracks = list(manager.tracks.values())
        if strategy.verify_every_frame:
            for t in tracks:
                t.detection_unchecked = not t.fresh
        result = refine_tracks(refiner, manager, tracks, f.rgb, seq.K, args.iterations,
                               strategy.tracking_iterations or args.tracking_iterations,
                               2.0, 1.0, refine_from=strategy.refine_from, carry_state=strategy.carry_state,
                               tracking_update_gain=strategy.tracking_update_gain, stamp=f.time_s,
                               velocity_smoothing=strategy.velocity_smoothing,
                               verify_iterations=strategy.verify_iterations)
        restarted = {t.track_id: why for t, why in result.restarted}
        verified = {t.track_id: why for t, why in result.verified}
        for i, t in enumerate(tracks):
            # A re-initialized track publishes nothing this frame; it is scored at its restart pose, as a
            # user holding the last message would not be: counting it keeps bad frames in the score.
            e, r, tr = pose_errors(t.pose[None], gt[t.obj_id][None], models, np.array([t.obj_id]))
            rows.append(dict(strategy=strategy.name, frame=f.index, time_s=round(f.time_s, 3), obj_id=t.obj_id,
                             since_detection_s=round(f.time_s - t.last_detected, 3),
                             add_m=float(e[0]), rotation_deg=float(r[0]), translation_m=float(tr[0]),
                             diameter_m=models[t.obj_id].diameter, confidence=float(t.confidence),
                             last_translation_mm=t.last_translation_mm, last_rotation_deg=t.last_rotation_deg,
                             iterations=result.iterations, published=t.track_id not in restarted,
                             good_before=good_before.get(t.track_id, False),
                             reinit=restarted.get(t.track_id) or verified.get(t.track_id)
                             or ("detection" if t.track_id in reinit_by_detection else ""),
                             track_id=t.track_id, pose=t.pose.copy(), gt_pose=gt[t.obj_id].copy()))
    return rows


def is_good(track, gt: dict, models) -> bool:
    """The track's pose is within 10% of its object's diameter (ADD(-S)) of the ground truth."""
    e, _, _ = pose_errors(track.pose[None], gt[track.obj_id][None], models, np.array([track.obj_id]))
    return bool(e[0] < 0.1 * models[track.obj_id].diameter)


def roc_auc(scores, positive) -> float:
    """Area under the ROC curve: the probability that a random good pose scores above a random bad one."""
    scores, positive = np.asarray(scores), np.asarray(positive, dtype=bool)
    if positive.all() or not positive.any():
        return float("nan")
    u = mannwhitneyu(scores[positive], scores[~positive]).statistic
    return float(u / (positive.sum() * (~positive).sum()))


def summarize(rows, duration_s: float) -> dict:
    e = np.array([r["add_m"] for r in rows])
    good = e < 0.1 * np.array([r["diameter_m"] for r in rows])
    conf = np.array([r["confidence"] for r in rows])
    scored = np.array([r["published"] for r in rows])  # a re-initialized track publishes no pose that frame
    return {"auc": auc_adds(e), "rotation_deg": float(np.median([r["rotation_deg"] for r in rows])),
            "translation_mm": 1e3 * float(np.median([r["translation_m"] for r in rows])),
            "under_10pct": 100 * float(good.mean()),
            "reinit_per_min": 60.0 * sum(bool(r["reinit"]) for r in rows) / duration_s,
            # re-initialized although the pose it had (entering the frame) was good
            "spurious_reinit_per_min": 60.0 * sum(bool(r["reinit"]) and r["good_before"] for r in rows) / duration_s,
            "confidence_roc_auc": roc_auc(conf[scored], good[scored]), "objects": len(rows)}


def plot_over_time(rows_by_key: dict, path: Path, rate_hz: float) -> None:
    """One panel per detector rate: the mean ADD(-S) over the objects against time, per strategy."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rates = sorted({hz for hz, _ in rows_by_key})
    fig, axes = plt.subplots(len(rates), 1, figsize=(8, 3.2 * len(rates)), sharex=True, squeeze=False)
    for ax, hz in zip(axes[:, 0], rates):
        for (detector_hz, name), rows in rows_by_key.items():
            if detector_hz != hz:
                continue
            frames = sorted({r["frame"] for r in rows})
            add = np.array([np.mean([r["add_m"] for r in rows if r["frame"] == f]) for f in frames]) * 1e3
            ax.plot(np.array(frames[2:-2]) / rate_hz, np.convolve(add, np.ones(5) / 5, "valid"), label=name, lw=1.2)
        ax.set_yscale("log")
        ax.set_ylabel("ADD(-S) (mm)")
        ax.set_title(f"detector {hz:g} Hz: mean over objects, 5-frame average", fontsize=9)
        ax.legend(fontsize=7, ncol=3)
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(machine()[:90], fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def replot(out: Path, rate_hz: float) -> None:
    """The plot again from the CSV of an earlier run."""
    by_key = {}
    with open(out / "tracking_frames.csv") as fh:
        for r in csv.DictReader(fh):
            by_key.setdefault((float(r["detector_hz"]), r["strategy"]), []).append(
                dict(frame=int(r["frame"]), add_m=float(r["add_m"])))
    plot_over_time(by_key, out / "tracking_error_over_time.png", rate_hz)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=str(ROOT / "data/demo/checkpoint"))
    parser.add_argument("--models", default=str(ROOT / "data/demo/models"))
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of video")
    parser.add_argument("--rate", type=float, default=10.0, help="camera frame rate (Hz)")
    parser.add_argument("--detector-rates", type=float, nargs="+", default=[1.0, 5.0])
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=list(STRATEGIES))
    parser.add_argument("--iterations", type=int, default=4, help="for a fresh track (the node's default)")
    parser.add_argument("--tracking-iterations", type=int, default=2, help="for a carried track (the node's default)")
    parser.add_argument("--min-confidence", type=float, default=0.5)
    parser.add_argument("--gate", type=float, default=0.1, help="association_gate_m")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="onnx", choices=["torch", "onnx", "openvino"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="outputs/tracking")
    parser.add_argument("--replot", action="store_true", help="only redraw the plot from --out's CSV")
    args = parser.parse_args(argv)
    if args.replot:
        replot(Path(args.out), args.rate)
        return 0

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    models = load_object_library(args.models)
    n_frames = int(round(args.duration * args.rate))
    seq, frames = render_video(models, Renderer(models, width=640, height=480), n_frames, args.rate, args.seed)
    refiner = Refiner.from_checkpoint(args.checkpoint, models, 640, 480, "cpu", args.backend, args.threads)
    all_rows, summary, by_key = [], {}, {}
    for detector_hz in args.detector_rates:
        every = max(1, round(args.rate / detector_hz))
        for name in tqdm(args.strategies, desc=f"detector {detector_hz:g} Hz"):
            t0 = time.perf_counter()
            rows = run_strategy(STRATEGIES[name], frames, seq, refiner, models, every, args)
            for r in rows:
                r["detector_hz"] = detector_hz
            by_key[(detector_hz, name)] = rows
            summary[f"{detector_hz:g} Hz/{name}"] = dict(summarize(rows, args.duration),
                                                         seconds=round(time.perf_counter() - t0, 1))
            all_rows += rows
    # Poses beside the CSV (one row each, the CSV's order): for filters and plots tried after the run.
    np.savez_compressed(out / "tracking_poses.npz", pose=np.stack([r.pop("pose") for r in all_rows]),
                        gt_pose=np.stack([r.pop("gt_pose") for r in all_rows]))
    with open(out / "tracking_frames.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(all_rows[0]))
        w.writeheader()
        w.writerows(all_rows)
    meta = {"command": "python bench/tracking_benchmark.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "machine": machine(), "frames": n_frames, "rate_hz": args.rate, "objects": len(seq.obj_ids)}
    (out / "tracking_summary.json").write_text(json.dumps({"meta": meta, "results": summary}, indent=2))
    lines = ["| detector | strategy | AUC ADD(-S) | rotation (deg) | translation (mm) | < 10% diam (%) | "
             "re-inits / min (spurious) | confidence ROC AUC |", "|---|---|---|---|---|---|---|---|"]
    for key, s in summary.items():
        hz, name = key.split("/")
        lines.append(f"| {hz} | {name} | {s['auc']:.1f} | {s['rotation_deg']:.2f} | {s['translation_mm']:.1f} | "
                     f"{s['under_10pct']:.1f} | {s['reinit_per_min']:.1f} ({s['spurious_reinit_per_min']:.1f}) | "
                     f"{s['confidence_roc_auc']:.3f} |")
    table = "\n".join(lines)
    (out / "tracking_table.md").write_text(table + "\n")
    print(f"{n_frames} frames at {args.rate:g} Hz, {len(seq.obj_ids)} objects; {meta['machine']}")
    print(table)
    plot_over_time(by_key, out / "tracking_error_over_time.png", args.rate)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
