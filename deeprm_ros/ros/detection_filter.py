"""Which coarse detections become track input: the node's filtering rules as one pure function.

No rclpy: it takes vision_msgs/Detection3DArray messages and returns the accepted detections with the reasons
for every one it refused, as (throttle key, text) pairs that the node logs at most once per period.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import conversions as conv
from ..tracking import Detection

MAX_DEPTH_M = 20.0  # a detection further than this is taken for a unit error (mm given as m)


@dataclass
class DetectionRules:
    labels: dict                  # class_id -> obj_id (parameter object_labels)
    max_age_s: float              # arrays older than the image by more than this are stale (track_timeout_s)
    max_objects: int              # keep the best-scored this many of an array
    score_threshold: float = 0.0


@dataclass
class FilterResult:
    detections: list = field(default_factory=list)   # list[Detection]
    warnings: list = field(default_factory=list)     # [(key, text)]


def select_detections(arrays, frame_id: str, t_img: float, rules: DetectionRules) -> FilterResult:
    """The detections of the image stamped t_img (s) in `frame_id`, from the arrays stamped at or before it.

    Only the newest array counts: when the frame an array came with was dropped, the next frame finds two arrays
    of the same objects, and both would become tracks (duplicates). Arrays older than max_age_s are dropped: a track
    made from them would already have expired, and a late array must not bring back objects that left (or tracks a
    reset cleared). Then per detection: its best hypothesis, a known class, the score threshold, a valid pose in
    metres in front of the camera."""
    out = FilterResult()
    fresh = [a for a in arrays if t_img - conv.stamp_to_sec(a.header.stamp) <= rules.max_age_s]
    if len(fresh) < len(arrays):
        out.warnings.append(("stale", f"{len(arrays) - len(fresh)} detection array(s) more than track_timeout_s = "
                                      f"{rules.max_age_s} s older than the image ignored"))
    if not fresh:
        return out
    newest = max(fresh, key=lambda a: conv.stamp_to_sec(a.header.stamp))
    if newest.header.frame_id != frame_id:
        out.warnings.append(("frame", f"detections in frame '{newest.header.frame_id}' ignored: images are in "
                                      f"'{frame_id}' (detections must be in the camera's optical frame)"))
        return out
    dets = list(newest.detections)
    if len(dets) > rules.max_objects:
        out.warnings.append(("many", f"{len(dets)} detections in one message; keeping the {rules.max_objects} best "
                                     "(max_objects)"))
        dets.sort(key=lambda d: -(d.results[0].hypothesis.score if d.results else 0.0))
        dets = dets[: rules.max_objects]
    for d in dets:
        if not d.results:
            out.warnings.append(("empty", "a detection without results (class and pose) was ignored"))
            continue
        hyp = max(d.results, key=lambda r: r.hypothesis.score)
        cls = hyp.hypothesis.class_id
        if cls not in rules.labels:
            out.warnings.append((f"class:{cls}", f"unknown class_id '{cls}' ignored (known: {sorted(rules.labels)}; "
                                                 "see parameter object_labels)"))
            continue
        if hyp.hypothesis.score < rules.score_threshold:
            continue
        try:
            T = conv.pose_to_matrix(hyp.pose.pose)
        except ValueError as e:
            out.warnings.append((f"pose:{str(e)[:24]}", f"detection of '{cls}' ignored: {e}"))
            continue
        if T[2, 3] <= 0 or T[2, 3] > MAX_DEPTH_M:
            out.warnings.append(("depth", f"detection of '{cls}' ignored: depth {T[2, 3]:.3f} m is not in "
                                          f"(0, {MAX_DEPTH_M:g}] (poses are in metres in the optical frame; mm "
                                          "given as m?)"))
            continue
        out.detections.append(Detection(cls, rules.labels[cls], T, float(hyp.hypothesis.score)))
    return out
