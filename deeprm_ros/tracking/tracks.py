"""Per-object tracks: association, recurrent state, expiry and re-initialization.

Pure Python/numpy (no rclpy), so the policy is testable on its own. One track per object instance:
detections are matched to tracks of the same class by nearest translation within a gate (greedy over
all pairs, closest first), so several instances of a class stay distinct. A matched track keeps its
refined pose and recurrent state (the detection only confirms it); an unmatched detection starts a
new track from the coarse pose with a zero state, unless a track of its class went unmatched: that
track has drifted and is re-initialized at the detection instead. A matched track whose rotation has
turned further from its detection than the detector's noise explains (reinit_rotation_deg, measured up
to the object's symmetries) has drifted too and is re-initialized the same way.

After a refinement, a track is re-initialized when its pose left the image or is not finite, or when its
confidence (confidence.py: how well the model drawn at the pose fits the object's outline in the image) has
stayed below min_confidence for max_low_confidence_frames frames in a row. Motion does not trigger this: a
moving object that is tracked well fits its outline. The older rule, max_unconverged_frames (absolute
thresholds on the last update, which a moving object exceeds every frame), is off by default.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..metrics import nearest_symmetric_pose, symmetric_pose_errors


@dataclass
class Detection:
    class_id: str
    obj_id: int
    pose: np.ndarray          # (4, 4) camera optical frame, metres
    score: float = 1.0


@dataclass
class Track:
    track_id: int
    class_id: str
    obj_id: int
    pose: np.ndarray
    detection_pose: np.ndarray      # the latest coarse pose: where a re-initialization restarts
    state: tuple | None = None      # recurrent state, batch dimension 1; None = zeros
    last_detected: float = 0.0
    unconverged_frames: int = 0
    low_confidence_frames: int = 0
    confidence: float = 0.0         # of the published pose (confidence.py); 0 before the first refinement
    reinitializations: int = 0
    iterations_run: int = 0
    last_translation_mm: float = float("nan")
    last_rotation_deg: float = float("nan")
    converged: bool = False
    fresh: bool = True              # not refined yet, or just re-initialized: gets the full iteration count
    detection_unchecked: bool = False   # a new detection joined this carried track; verify() has not compared them
    velocity: np.ndarray | None = None  # (6,) motion.pose_velocity of the refined pose; None: not measured yet
    pose_stamp: float | None = None     # time of the image the pose was refined in (s)


@dataclass
class TrackManager:
    gate_m: float = 0.1
    timeout_s: float = 2.0
    max_tracks: int = 32
    max_unconverged_frames: int = 0    # 0: never re-initialize for an update above the convergence thresholds
    min_confidence: float = 0.5
    max_low_confidence_frames: int = 5   # 0: never re-initialize for low confidence
    reinit_rotation_deg: float = 0.0   # 0: never re-initialize for rotation
    verify_rotation_deg: float = 0.0   # 0: never compare a track with its refined detection
    verify_confidence_margin: float | None = None   # None: off; else also take over a better-fitting refined detection
    verify_blend: float = 0.0          # share of an agreeing refined detection's pose mixed into the track (0: none)
    verify_state: str = "track"        # an agreeing track keeps its state ("track"), takes the detection's, or "zero"
    symmetries: dict = field(default_factory=dict)  # obj_id -> (S, 4, 4) ObjectModel.symmetry_transforms; absent: none
    tracks: dict = field(default_factory=dict)
    next_id: int = 1
    restarted: list = field(default_factory=list)   # (track, reason) of the last associate()

    def __post_init__(self):
        if self.verify_state not in ("track", "detection", "zero"):
            raise ValueError(f"verify_state must be 'track', 'detection' or 'zero', got {self.verify_state!r}")

    def associate(self, detections: list[Detection], stamp: float) -> list[Track]:
        """Match detections to tracks; returns the tracks that were created. Tracks re-initialized at their
        detection because it disagrees with them are in self.restarted as (track, reason) until the next call."""
        used_d, used_t = set(), set()
        self.restarted = []
        # First: same class, nearest translation within the gate. Then: a detection beyond the gate of
        # every track, while a track of its class went unmatched: that track has drifted away from its
        # object, so it is re-initialized there rather than a second track started for the same object.
        for gate, reinit in ((self.gate_m, False), (float("inf"), True)):
            pairs = sorted((float(np.linalg.norm(t.pose[:3, 3] - d.pose[:3, 3])), di, tid)
                           for di, d in enumerate(detections) if di not in used_d
                           for tid, t in self.tracks.items() if tid not in used_t and t.class_id == d.class_id)
            for dist, di, tid in pairs:
                if dist > gate or di in used_d or tid in used_t:
                    continue
                used_d.add(di)
                used_t.add(tid)
                t, d = self.tracks[tid], detections[di]
                t.detection_pose = d.pose.copy()
                t.last_detected = stamp
                if reinit:
                    self.reinitialize(t)
                    self.restarted.append((t, f"its detection is {dist:.3f} m away, beyond association_gate_m"))
                elif self.reinit_rotation_deg > 0 and (angle := self.rotation_to_detection_deg(t)) > self.reinit_rotation_deg:
                    self.reinitialize(t)
                    self.restarted.append((t, f"its detection is turned {angle:.0f} deg from it"))
                else:
                    t.detection_unchecked = not t.fresh
        created = []
        for di, d in enumerate(detections):
            if di in used_d:
                continue
            if len(self.tracks) >= self.max_tracks:
                break
            t = Track(self.next_id, d.class_id, d.obj_id, d.pose.copy(), d.pose.copy(), last_detected=stamp)
            self.tracks[t.track_id] = t
            self.next_id += 1
            created.append(t)
        return created

    def rotation_to_detection_deg(self, track: Track, detection_pose: np.ndarray | None = None) -> float:
        """Angle between the track's rotation and its latest detection's (or detection_pose), the smallest over
        the object's symmetric poses (a can turned about its axis looks the same)."""
        other = track.detection_pose if detection_pose is None else detection_pose
        rotation_deg, _ = symmetric_pose_errors(track.pose, other, self.symmetries.get(track.obj_id, np.eye(4)))
        return float(rotation_deg)

    def tracks_to_verify(self, tracks: list[Track]) -> list[Track]:
        """The carried tracks among `tracks` that a new detection joined since their last check."""
        if not self.verify_rotation_deg:
            return []
        return [t for t in tracks if t.detection_unchecked and not t.fresh]

    def verify(self, track: Track, refined_detection: np.ndarray, state, confidence: float) -> str | None:
        """Compare a carried track with its newest detection refined afresh (zero state, full iterations) in
        the same image. A track drifts slowly (a degree a frame on a near-symmetric object), and the raw
        detection is too noisy to catch that early (reinit_rotation_deg must sit at about 3 sigma of its
        noise); refined, it is a few degrees off. When the two disagree by more than verify_rotation_deg
        (up to the object's symmetries), the track takes over the refined detection's pose and state. Returns
        why it did, or None when the track was kept.

        Three more rules, off in the node because none helped on the tracking benchmark (within -0.4 and +0.2
        AUC of the default; bench/tracking_benchmark.py's verify_conf_*, blend_* and state_* strategies):
        verify_blend > 0 moves a track that agrees with its refined detection that share of the way towards it
        (their errors should be partly independent: one carried from earlier frames, one refined from the noisy
        detection); verify_confidence_margin also lets the track take it over when the refined detection's
        confidence (confidence.py) beats the track's own in this image by more than that margin (both judged on
        the same image, so clutter shifts both alike); verify_state "detection" or "zero" gives an agreeing track
        a young recurrent state (the refined detection's, or none) in place of one carried for its whole life."""
        track.detection_unchecked = False
        if not np.isfinite(refined_detection).all():
            return None
        angle = self.rotation_to_detection_deg(track, refined_detection)
        if angle > self.verify_rotation_deg:
            reason = f"its refined detection is turned {angle:.0f} deg from it"
        elif (self.verify_confidence_margin is not None
              and confidence > track.confidence + self.verify_confidence_margin):
            reason = (f"its refined detection fits the image better "
                      f"(confidence {confidence:.2f} against {track.confidence:.2f})")
        else:
            if self.verify_blend > 0:
                track.pose = blend_poses(track.pose, refined_detection, self.verify_blend,
                                         self.symmetries.get(track.obj_id, np.eye(4)[None]))
            if self.verify_state == "detection":
                track.state = state
            elif self.verify_state == "zero":
                track.state = None
            return None
        track.pose, track.state, track.confidence = refined_detection, state, float(confidence)
        track.low_confidence_frames = track.unconverged_frames = 0   # not a re-initialization: no raw pose published
        return reason

    def expire(self, stamp: float) -> list[int]:
        """Drop tracks not detected for longer than timeout_s; returns their ids."""
        gone = [tid for tid, t in self.tracks.items() if stamp - t.last_detected > self.timeout_s]
        for tid in gone:
            del self.tracks[tid]
        return gone

    def update(self, track: Track, pose: np.ndarray, state, translation_mm: float, rotation_deg: float,
               converged: bool, in_image: bool, iterations: int, confidence: float = 1.0) -> str | None:
        """Store a refinement result. Returns why the track was re-initialized instead (None when it was not):
        its pose left the image or is not finite, its confidence stayed below min_confidence for
        max_low_confidence_frames frames, or (when enabled) it has not converged for max_unconverged_frames."""
        track.iterations_run = iterations
        track.last_translation_mm, track.last_rotation_deg = translation_mm, rotation_deg
        track.converged = converged
        track.unconverged_frames = 0 if converged else track.unconverged_frames + 1
        confident = confidence >= self.min_confidence
        track.low_confidence_frames = 0 if confident else track.low_confidence_frames + 1
        reason = None
        if not np.isfinite(pose).all():
            reason = "pose not finite"
        elif not in_image:
            reason = "left the image"
        elif self.max_low_confidence_frames and track.low_confidence_frames >= self.max_low_confidence_frames:
            reason = f"confidence below {self.min_confidence:g} for {track.low_confidence_frames} frames"
        elif self.max_unconverged_frames and track.unconverged_frames >= self.max_unconverged_frames:
            reason = "not converging"
        if reason:
            self.reinitialize(track)
            return reason
        track.pose, track.state, track.fresh, track.confidence = pose, state, False, float(confidence)
        return None

    def record_frame(self, tracks: list[Track], poses, states, translation_mm, rotation_deg, iterations: int,
                     convergence_mm: float, convergence_deg: float, K, width: int, height: int, confidences=None):
        """Store one frame's refinement of `tracks` (arrays in the tracks' order). Returns the tracks to publish,
        and (track, reason) for those re-initialized from their detection instead."""
        kept, restarted = [], []
        for i, t in enumerate(tracks):
            converged = bool(translation_mm[i] < convergence_mm and rotation_deg[i] < convergence_deg)
            inside = pose_in_image(poses[i], K, width, height)
            confidence = 1.0 if confidences is None else float(confidences[i])
            reason = self.update(t, poses[i], states[i], float(translation_mm[i]), float(rotation_deg[i]), converged,
                                 inside, iterations, confidence)
            if reason:
                restarted.append((t, reason))
            else:
                kept.append(t)
        return kept, restarted

    def reinitialize(self, track: Track) -> None:
        track.detection_unchecked = False
        track.pose = track.detection_pose.copy()
        track.state = None
        track.velocity = None
        track.unconverged_frames = 0
        track.low_confidence_frames = 0
        track.reinitializations += 1
        track.fresh = True

    def reset(self) -> int:
        n = len(self.tracks)
        self.tracks.clear()
        return n


def pose_in_image(pose: np.ndarray, K: np.ndarray, width: int, height: int) -> bool:
    """The object's origin is in front of the camera and projects inside the image."""
    t = pose[:3, 3]
    if not np.isfinite(t).all() or t[2] <= 1e-3:
        return False
    u, v, w = K @ t
    return 0 <= u / w < width and 0 <= v / w < height


def blend_poses(pose: np.ndarray, other: np.ndarray, share: float, symmetries: np.ndarray) -> np.ndarray:
    """`pose` moved `share` of the way towards the symmetric equivalent of `other` nearest to it (rotation along
    the geodesic, translation along the line): 0 gives `pose`, 1 that equivalent."""
    from scipy.spatial.transform import Rotation

    target, _ = nearest_symmetric_pose(pose, other, symmetries)
    turn = Rotation.from_matrix(target[:3, :3] @ pose[:3, :3].T).as_rotvec()
    out = pose.copy()
    out[:3, :3] = Rotation.from_rotvec(share * turn).as_matrix() @ pose[:3, :3]
    out[:3, 3] = (1.0 - share) * pose[:3, 3] + share * target[:3, 3]
    return out
