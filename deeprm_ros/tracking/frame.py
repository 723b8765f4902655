"""One frame of tracking: refine every track in the image in one batch, starting from its pose and recurrent
state, then store the results (TrackManager.record_frame) with a confidence per pose (confidence.py; it costs
one more render of each object per frame). The ROS node and the tracking benchmark both call this, so the
benchmark measures what the node does."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .confidence import contour_agreement
from .motion import MAX_PREDICTION_S, pose_velocity, predict_pose, smoothed_velocity
from .tracks import Track, TrackManager


@dataclass
class FrameRefinement:
    published: list = field(default_factory=list)    # tracks refined this frame, to publish
    restarted: list = field(default_factory=list)    # (track, reason): re-initialized from their detection instead
    verified: list = field(default_factory=list)     # (track, reason): took over their refined detection
    timings_ms: dict = field(default_factory=dict)
    iterations: int = 0
    confidences: np.ndarray | None = None            # per refined track (in the given order), even if restarted


def refine_tracks(refiner, manager: TrackManager, tracks: list[Track], rgb: np.ndarray, K: np.ndarray,
                  iterations: int, tracking_iterations: int, convergence_mm: float, convergence_deg: float,
                  refine_from: str = "track", carry_state: bool = True,
                  tracking_update_gain: float = 1.0, stamp: float | None = None,
                  velocity_smoothing: float | None = None, verify_iterations: int | None = None) -> FrameRefinement:
    """Refine `tracks` in the (H, W, 3) uint8 image with intrinsics K.

    refine_from "track": each track starts from its own pose and recurrent state; a frame with a fresh track (new
    or just re-initialized) gets `iterations`, one where every track carries on gets `tracking_iterations` (one
    batch, one count). "detection": every track starts afresh from its latest detection with a zero state and
    `iterations` (no tracking; the tracking benchmark's strategy (a)). carry_state=False drops each track's
    recurrent state after the frame (a stateless tracker, for the benchmark). tracking_update_gain: the share of
    each predicted update applied to a carried track (geometry.scale_pose_update); a fresh one takes it whole.
    velocity_smoothing (0..1, None: off) with the image's `stamp` (s): a carried track starts from its pose moved
    on by its velocity (motion.py), measured between its refined poses and smoothed by that share.
    verify_iterations (None: iterations): for the check of a carried track against its refined detection."""
    if not tracks:
        return FrameRefinement()
    if refine_from == "detection":
        for t in tracks:
            t.pose, t.state, t.fresh = t.detection_pose.copy(), None, True
    elif refine_from != "track":
        raise ValueError(f"refine_from must be 'track' or 'detection', got {refine_from!r}")
    n_iter = iterations if any(t.fresh for t in tracks) else tracking_iterations
    gains = np.array([1.0 if t.fresh else tracking_update_gain for t in tracks])
    predict = velocity_smoothing is not None and stamp is not None
    before = [(t.pose, t.pose_stamp, t.fresh) for t in tracks]
    starts = [_predicted_start(t, stamp) if predict else t.pose for t in tracks]
    out, poses, confidences, states = _refine_batch(refiner, rgb, K, tracks, starts,
                                                    [t.state for t in tracks], n_iter, carry_state, gains)
    kept, restarted = manager.record_frame(tracks, poses, states, out.translation_update_mm, out.rotation_update_deg,
                                           n_iter, convergence_mm, convergence_deg, K, rgb.shape[1], rgb.shape[0],
                                           confidences)
    if predict:
        _measure_velocities(kept, before, tracks, stamp, velocity_smoothing)
    frame = FrameRefinement(kept, restarted, timings_ms=out.timings_ms, iterations=n_iter, confidences=confidences)
    verify_against_detections(refiner, manager, manager.tracks_to_verify(kept), rgb, K, verify_iterations or iterations,
                              carry_state, frame)
    return frame


def verify_against_detections(refiner, manager: TrackManager, tracks: list[Track], rgb, K, iterations: int,
                              carry_state: bool, frame: FrameRefinement) -> None:
    """Refine the newest detection of each of `tracks` afresh (zero state, `iterations`) in the same image and let
    TrackManager.verify decide whether the track takes it over (it has drifted). Costs one batch per detection
    frame, not per camera frame. A track that takes it over is still published, at the refined detection's
    pose, and is listed in frame.verified with the reason."""
    if not tracks:
        return
    out, poses, confidences, states = _refine_batch(refiner, rgb, K, tracks, [t.detection_pose for t in tracks],
                                                    [None] * len(tracks), iterations, carry_state)
    for t, pose, state, conf in zip(tracks, poses, states, confidences):
        reason = manager.verify(t, pose, state, conf)
        if reason:
            frame.verified.append((t, reason))
    for k, v in out.timings_ms.items():   # the frame's cost includes the check
        frame.timings_ms[k] = frame.timings_ms.get(k, 0.0) + v


def _predicted_start(track: Track, stamp: float) -> np.ndarray:
    """Where a carried track's object should be at `stamp`: its pose moved on by its velocity."""
    if track.fresh or track.velocity is None or track.pose_stamp is None:
        return track.pose
    dt = stamp - track.pose_stamp
    return predict_pose(track.pose, track.velocity, dt) if 0 < dt <= MAX_PREDICTION_S else track.pose


def _measure_velocities(kept: list[Track], before, tracks: list[Track], stamp: float, smoothing: float) -> None:
    """Update the velocity of each carried track kept this frame from its previous and new refined poses; every
    kept track's pose now dates from `stamp`."""
    kept_ids = {id(t) for t in kept}
    for t, (pose, pose_stamp, fresh) in zip(tracks, before):
        if id(t) not in kept_ids:
            continue
        if not fresh and pose_stamp is not None and 0 < stamp - pose_stamp <= MAX_PREDICTION_S:
            t.velocity = smoothed_velocity(t.velocity, pose_velocity(pose, t.pose, stamp - pose_stamp), smoothing)
        t.pose_stamp = stamp


def _refine_batch(refiner, rgb, K, tracks: list[Track], starts, states, n_iter: int, carry_state: bool,
                  update_gains=1.0):
    """One batch of `tracks`' objects in the image from `starts` and recurrent `states`: the refiner's output, the
    final poses (float64), their confidences, and the states to keep (None each without carry_state)."""
    obj_ids = np.array([t.obj_id for t in tracks])
    out = refiner.run(rgb[None], np.repeat(K[None], len(tracks), 0), np.stack(starts), obj_ids, n_iter, state=states,
                      image_index=np.zeros(len(tracks), dtype=np.int64), update_gain=update_gains)
    poses = out.poses[-1].detach().cpu().numpy().astype(np.float64)
    kept = out.object_states if carry_state else [None] * len(tracks)
    return out, poses, outline_agreement(refiner, rgb, K, poses, obj_ids), kept


def outline_agreement(refiner, rgb, K, poses, obj_ids) -> np.ndarray:
    """confidence.contour_agreement of each refined pose: the object rendered once more at its final pose, in
    the same crop as the network's, against the observed crop."""
    import torch

    from ..refiner import _to_image_tensor
    obs = _to_image_tensor(rgb, refiner.device)
    Ks = torch.as_tensor(np.repeat(K[None], len(poses), 0), dtype=torch.float32, device=refiner.device)
    T = torch.as_tensor(poses, dtype=torch.float32, device=refiner.device)
    pair, record = refiner.render_and_crop(obs, Ks, T, obj_ids, torch.zeros(len(poses), dtype=torch.long),
                                           with_depth=True)
    crops = (pair[:, :3].permute(0, 2, 3, 1).clamp(0, 1) * 255).round().byte().cpu().numpy()
    return contour_agreement(crops, record.rendered_valid.cpu().numpy())
