"""Property-based tests (hypothesis) of the per-object TrackManager (deeprm_ros/tracking/tracks.py) against a model
of well-separated objects."""
from __future__ import annotations


import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation


PROPS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


GATE, JITTER, SPACING = 0.1, 0.02, 1.0


@st.composite
def scenarios(draw):
    n = draw(st.integers(1, 8))
    # Several instances of a class; a class_id always means the same obj_id (the node's object_labels).
    objects = [(c, {"mug": 1, "can": 2, "box": 3}[c]) for c in draw(st.lists(st.sampled_from(["mug", "can", "box"]),
                                                                           min_size=n, max_size=n))]
    frames = draw(st.lists(st.tuples(st.floats(0.0, 1.5), st.lists(st.integers(0, n - 1), unique=True, max_size=n),
                                     st.integers(0, 2**32 - 1)), min_size=1, max_size=25))
    return objects, frames, draw(st.integers(1, 8)), draw(st.floats(0.3, 3.0))


@PROPS
@given(scenarios())
def test_track_manager_invariants(scenario):
    from deeprm_ros.tracking.tracks import Detection, TrackManager

    objects, frames, max_tracks, timeout = scenario
    # Objects on a 1 m grid at 0.6 .. 3 m depth; detections jitter by at most 2 cm per axis: every detection is
    # within the gate of its object and far outside every other object's.
    centres = [np.array([SPACING * (i % 3), SPACING * (i // 3), 0.6]) for i in range(len(objects))]
    m = TrackManager(gate_m=GATE, timeout_s=timeout, max_tracks=max_tracks)
    t, seen_ids, last_seen = 0.0, set(), {}
    for dt, visible, seed in frames:
        t += dt
        rng = np.random.default_rng(seed)
        dets = []
        for i in visible:
            T = np.eye(4)
            T[:3, :3] = Rotation.random(random_state=int(rng.integers(2**31))).as_matrix()
            T[:3, 3] = centres[i] + rng.uniform(-JITTER, JITTER, 3)
            dets.append(Detection(objects[i][0], objects[i][1], T, float(rng.uniform(0.1, 1.0))))
        before = set(m.tracks)
        created = m.associate(dets, t)
        for i in visible:
            last_seen[i] = t

        # Created tracks: new ids, never reused, one per unmatched detection, keyed by their id.
        new_ids = [tr.track_id for tr in created]
        assert len(set(new_ids)) == len(new_ids) and not (set(new_ids) & seen_ids)
        assert set(m.tracks) == before | set(new_ids)
        seen_ids |= set(new_ids)
        assert all(k == tr.track_id for k, tr in m.tracks.items())
        assert len(m.tracks) <= max_tracks

        # Every track sits on exactly one object, and no object has two tracks.
        owner = {}
        for tid, tr in m.tracks.items():
            d = [np.abs(tr.pose[:3, 3] - c).max() for c in centres]
            i = int(np.argmin(d))
            assert d[i] <= JITTER + 1e-12, "a track between objects"
            assert tr.class_id == objects[i][0] and tr.obj_id == objects[i][1]
            assert i not in owner, f"object {i} has two tracks ({owner.get(i)}, {tid})"
            owner[i] = tid
        # Below the cap, every detected object has a track that took this frame's detection.
        if len(m.tracks) < max_tracks:
            for i in visible:
                assert i in owner and m.tracks[owner[i]].last_detected == t

        # Expiry: exactly the tracks not detected for longer than the timeout.
        stale = {tid for tid, tr in m.tracks.items() if t - tr.last_detected > timeout}
        assert set(m.expire(t)) == stale and not (stale & set(m.tracks))
        live = {i for i, s in last_seen.items() if t - s <= timeout}
        assert len(m.tracks) <= min(max_tracks, len(live))
        assert all(t - tr.last_detected <= timeout for tr in m.tracks.values())

    m.expire(t + timeout + 1e-6)
    assert not m.tracks  # nothing outlives the timeout
