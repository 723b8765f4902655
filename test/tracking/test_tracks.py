import numpy as np
import pytest

from deeprm_ros.tracking.tracks import Detection, TrackManager, pose_in_image


def _pose(x, y=0.0, z=0.6):
    T = np.eye(4)
    T[:3, 3] = [x, y, z]
    return T


def test_instances_of_a_class_are_distinct_tracks_and_persist():
    m = TrackManager(gate_m=0.05)
    created = m.associate([Detection("mug", 1, _pose(0.0)), Detection("mug", 1, _pose(0.2)),
                           Detection("can", 2, _pose(0.0))], stamp=0.0)
    assert len(created) == 3 and len({t.track_id for t in created}) == 3
    # Same objects, slightly moved and in another order: no new tracks, each matched to its nearest.
    ids_before = {t.track_id: t.pose[0, 3] for t in m.tracks.values()}
    created = m.associate([Detection("mug", 1, _pose(0.21)), Detection("can", 2, _pose(0.01)),
                           Detection("mug", 1, _pose(0.01))], stamp=0.5)
    assert created == [] and len(m.tracks) == 3
    assert all(t.last_detected == 0.5 for t in m.tracks.values())
    assert {t.track_id: t.pose[0, 3] for t in m.tracks.values()} == ids_before  # refined pose kept


def test_gate_and_class_separate_tracks():
    m = TrackManager(gate_m=0.05)
    m.associate([Detection("mug", 1, _pose(0.0))], 0.0)
    created = m.associate([Detection("mug", 1, _pose(0.01)), Detection("mug", 1, _pose(0.08)),
                           Detection("can", 2, _pose(0.0))], 0.1)
    assert len(created) == 2 and len(m.tracks) == 3


def test_drifted_track_is_reinitialized_not_duplicated():
    m = TrackManager(gate_m=0.05)
    (t,) = m.associate([Detection("mug", 1, _pose(0.0))], 0.0)
    t.pose = _pose(0.3)  # the refinement ran away
    t.state = ("s",)
    created = m.associate([Detection("mug", 1, _pose(0.01))], 0.5)
    assert created == [] and len(m.tracks) == 1
    assert np.allclose(t.pose, _pose(0.01)) and t.state is None and t.fresh and t.reinitializations == 1


def test_expiry_and_reset():
    m = TrackManager(timeout_s=1.0)
    m.associate([Detection("mug", 1, _pose(0.0))], 0.0)
    m.associate([Detection("can", 2, _pose(0.3))], 0.8)
    assert m.expire(1.5) == [1] and list(m.tracks) == [2]
    assert m.reset() == 1 and not m.tracks


def test_reinitialized_when_leaving_image_or_not_converging():
    m = TrackManager(max_unconverged_frames=3)
    (t,) = m.associate([Detection("mug", 1, _pose(0.0))], 0.0)
    state = ("s",)
    assert not m.update(t, _pose(0.01), state, 1.0, 0.5, True, True, 4)
    assert t.state == state and not t.fresh
    assert m.update(t, _pose(5.0), state, 1.0, 0.5, True, False, 2)  # left the image
    assert t.state is None and t.fresh and np.allclose(t.pose, _pose(0.0))
    for i in range(2):
        assert not m.update(t, _pose(0.02), state, 50.0, 9.0, False, True, 2)
    assert m.update(t, _pose(0.02), state, 50.0, 9.0, False, True, 2) and t.reinitializations == 2


def test_max_tracks_and_pose_in_image():
    m = TrackManager(max_tracks=2, gate_m=0.01)
    m.associate([Detection("a", 1, _pose(0.1 * i)) for i in range(5)], 0.0)
    assert len(m.tracks) == 2
    K = np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]])
    assert pose_in_image(_pose(0.0), K, 640, 480)
    assert not pose_in_image(_pose(1.0), K, 640, 480)  # projects to u = 1153
    assert not pose_in_image(_pose(0.0, z=-0.5), K, 640, 480)
    assert not pose_in_image(_pose(np.nan), K, 640, 480)


def test_rotation_drift_beyond_the_gate_reinitializes_up_to_symmetry():
    """A matched track whose rotation is 60 degrees from its detection is re-initialized there; 30 degrees
    is kept. For an object symmetric about its z axis a turn about z is no drift at all."""
    from scipy.spatial.transform import Rotation

    def turned(deg, axis="x"):
        T = _pose(0.0)
        T[:3, :3] = Rotation.from_euler(axis, deg, degrees=True).as_matrix()
        return T

    about_z = np.stack([turned(a, "z") for a in range(0, 360, 5)])
    m = TrackManager(gate_m=0.05, reinit_rotation_deg=45.0, symmetries={2: about_z})
    mug, can = m.associate([Detection("mug", 1, _pose(0.0)), Detection("can", 2, _pose(0.3))], 0.0)
    mug.pose, mug.state, mug.fresh = turned(30.0), ("s",), False
    m.associate([Detection("mug", 1, _pose(0.0)), Detection("can", 2, _pose(0.3))], 0.1)
    assert mug.reinitializations == 0 and mug.state == ("s",)
    mug.pose = turned(60.0)
    can.pose, can.state, can.fresh = turned(90.0, "z"), ("c",), False
    can.pose[:3, 3] = [0.3, 0.0, 0.6]
    m.associate([Detection("mug", 1, _pose(0.0)), Detection("can", 2, _pose(0.3))], 0.2)
    assert mug.reinitializations == 1 and mug.state is None and np.allclose(mug.pose, _pose(0.0))
    assert can.reinitializations == 0 and can.state == ("c",)
    # Against scipy: the angle of the relative rotation, and 0 for a turn about the symmetry axis.
    Ra, Rb = Rotation.random(2, random_state=3).as_matrix()
    mug.pose[:3, :3], mug.detection_pose[:3, :3] = Ra, Rb
    assert abs(m.rotation_to_detection_deg(mug) - np.degrees(Rotation.from_matrix(Ra.T @ Rb).magnitude())) < 1e-6
    can.pose, can.detection_pose = turned(40, "z"), np.eye(4)
    assert m.rotation_to_detection_deg(can) < 1e-6


def test_record_frame_keeps_converging_tracks_and_restarts_those_that_left():
    """One frame's results: a track inside the image with updates under both thresholds is kept, converged, with
    its new pose and state; one refined out of the image restarts at its detection, with the reason."""
    K = np.array([[600.0, 0, 320], [0, 600.0, 240], [0, 0, 1]])
    m = TrackManager(max_unconverged_frames=5)
    m.associate([Detection("mug", 1, _pose(0.0)), Detection("can", 2, _pose(0.1))], stamp=0.0)
    mug, can = sorted(m.tracks.values(), key=lambda t: t.class_id != "mug")
    poses = np.stack([_pose(0.01), _pose(5.0)])  # the can refined 5 m sideways: outside the image
    states = [("mug state",), ("can state",)]
    kept, restarted = m.record_frame([mug, can], poses, states, np.array([1.0, 1.0]), np.array([0.5, 0.5]),
                                     iterations=4, convergence_mm=2.0, convergence_deg=1.0, K=K, width=640, height=480)
    assert kept == [mug] and mug.converged and mug.state == ("mug state",) and mug.pose[0, 3] == 0.01
    assert mug.iterations_run == 4 and not mug.fresh
    assert restarted == [(can, "left the image")] and can.state is None and can.fresh
    np.testing.assert_array_equal(can.pose, can.detection_pose)
    # Above the rotation threshold: kept, not converged.
    kept, _ = m.record_frame([mug], poses[:1], states[:1], np.array([1.0]), np.array([1.5]), 2, 2.0, 1.0, K, 640, 480)
    assert kept == [mug] and not mug.converged and mug.unconverged_frames == 1


def test_low_confidence_for_n_frames_reinitializes_but_motion_alone_does_not():
    """The default policy: large updates with high confidence (a moving object) never re-initialize; a confidence
    below min_confidence for max_low_confidence_frames frames in a row does, naming the reason; one confident
    frame in between starts the count again."""
    m = TrackManager(min_confidence=0.2, max_low_confidence_frames=3)
    (t,) = m.associate([Detection("mug", 1, _pose(0.0))], 0.0)
    for _ in range(50):  # 30 mm and 8 degrees every frame, but confident
        assert m.update(t, _pose(0.01), ("s",), 30.0, 8.0, False, True, 2, confidence=0.9) is None
    assert t.reinitializations == 0 and t.confidence == 0.9
    assert m.update(t, _pose(0.01), ("s",), 1.0, 0.1, True, True, 2, confidence=0.1) is None
    assert m.update(t, _pose(0.01), ("s",), 1.0, 0.1, True, True, 2, confidence=0.1) is None
    assert m.update(t, _pose(0.01), ("s",), 1.0, 0.1, True, True, 2, confidence=0.5) is None
    assert m.update(t, _pose(0.01), ("s",), 1.0, 0.1, True, True, 2, confidence=0.1) is None
    assert m.update(t, _pose(0.01), ("s",), 1.0, 0.1, True, True, 2, confidence=0.1) is None
    reason = m.update(t, _pose(0.02), ("s",), 1.0, 0.1, True, True, 2, confidence=0.1)
    assert reason == "confidence below 0.2 for 3 frames" and t.reinitializations == 1 and t.state is None
    np.testing.assert_array_equal(t.pose, t.detection_pose)
    off = TrackManager(max_low_confidence_frames=0)
    (u,) = off.associate([Detection("mug", 1, _pose(0.0))], 0.0)
    assert all(off.update(u, _pose(0.01), None, 1.0, 0.1, True, True, 2, confidence=0.0) is None for _ in range(20))
    assert off.update(u, _pose(np.nan), None, 1.0, 0.1, True, True, 2) == "pose not finite"


def test_verify_takes_over_a_refined_detection_that_disagrees_beyond_the_threshold():
    """Only a carried track that a new detection joined is checked (a new track or one re-initialized at its
    detection already starts there); a refined detection 15 degrees away (scipy's angle) replaces pose and state
    at verify_rotation_deg 10, one 5 degrees away does not, and a turn about a symmetry axis is no disagreement."""
    from scipy.spatial.transform import Rotation

    def turned(deg, axis="x", x=0.0):
        T = _pose(x)
        T[:3, :3] = Rotation.from_euler(axis, deg, degrees=True).as_matrix()
        return T

    about_z = np.stack([turned(a, "z") for a in range(0, 360, 5)])
    m = TrackManager(gate_m=0.05, verify_rotation_deg=10.0, symmetries={2: about_z})
    mug, can = m.associate([Detection("mug", 1, _pose(0.0)), Detection("can", 2, _pose(0.3))], 0.0)
    assert m.tracks_to_verify([mug, can]) == []          # new tracks start at their detection
    for t in (mug, can):
        t.state, t.fresh = ("carried",), False
    m.associate([Detection("mug", 1, _pose(0.0)), Detection("can", 2, _pose(0.3))], 0.1)
    assert m.tracks_to_verify([mug, can]) == [mug, can]
    assert m.verify(mug, turned(5.0), ("new",), 0.9) is None
    assert mug.state == ("carried",) and mug.reinitializations == 0
    assert m.tracks_to_verify([mug, can]) == [can]        # checked once per detection
    far = turned(15.0)
    reason = m.verify(can, turned(90.0, "z", x=0.3), ("new",), 0.9)
    assert reason is None and can.state == ("carried",)
    m.associate([Detection("mug", 1, _pose(0.0))], 0.2)
    expected = np.degrees(Rotation.from_matrix(far[:3, :3]).magnitude())
    reason = m.verify(mug, far, ("new",), 0.8)
    assert reason is not None and f"{expected:.0f} deg" in reason
    assert mug.state == ("new",) and np.allclose(mug.pose, far) and mug.confidence == 0.8
    assert mug.reinitializations == 0 and not mug.fresh   # it took over a refined pose, it did not restart
    # Off: nothing is ever checked.
    m.verify_rotation_deg = 0.0
    m.associate([Detection("mug", 1, _pose(0.0))], 0.3)
    assert m.tracks_to_verify([mug]) == []


def test_verify_with_a_confidence_margin_takes_over_a_better_fitting_refined_detection():
    """Within verify_rotation_deg, a refined detection whose confidence beats the track's by more than
    verify_confidence_margin replaces the track's pose and state; one that beats it by less does not, and
    without a margin (None) confidence never decides."""
    from scipy.spatial.transform import Rotation

    near = _pose(0.0)
    near[:3, :3] = Rotation.from_euler("y", 4.0, degrees=True).as_matrix()
    for margin, refined_confidence, taken in ((0.1, 0.75, True), (0.1, 0.65, False), (None, 0.99, False)):
        m = TrackManager(gate_m=0.05, verify_rotation_deg=10.0, verify_confidence_margin=margin)
        (t,) = m.associate([Detection("mug", 1, _pose(0.0))], 0.0)
        t.state, t.fresh, t.confidence = ("carried",), False, 0.6
        m.associate([Detection("mug", 1, _pose(0.0))], 0.1)
        reason = m.verify(t, near, ("new",), refined_confidence)
        assert (reason is not None) == taken, (margin, refined_confidence)
        if taken:
            assert "confidence 0.75 against 0.60" in reason
            assert t.state == ("new",) and np.allclose(t.pose, near) and t.confidence == 0.75
        else:
            assert t.state == ("carried",) and np.allclose(t.pose, _pose(0.0)) and t.confidence == 0.6


def test_blend_poses_follows_scipy_slerp_and_the_nearest_symmetric_equivalent():
    """Half way between two poses is scipy's Slerp at 0.5 and the midpoint of the translations; for an object
    symmetric about z, a target turned 170 degrees about z (the same as -10 under a 180-degree symmetry) is
    approached the short way; a 0 share and an agreeing verify without verify_blend leave the pose alone."""
    from scipy.spatial.transform import Rotation, Slerp

    from deeprm_ros.tracking.tracks import blend_poses

    a, b = _pose(0.0, 0.0, 0.5), _pose(0.1, -0.02, 0.7)
    ra = Rotation.from_euler("xyz", [10, -20, 30], degrees=True)
    rb = Rotation.from_euler("xyz", [25, 5, 40], degrees=True)
    a[:3, :3], b[:3, :3] = ra.as_matrix(), rb.as_matrix()
    half = blend_poses(a, b, 0.5, np.eye(4)[None])
    expected = Slerp([0, 1], Rotation.concatenate([ra, rb]))([0.5]).as_matrix()[0]
    np.testing.assert_allclose(half[:3, :3], expected, atol=1e-9)
    np.testing.assert_allclose(half[:3, 3], [0.05, -0.01, 0.6], atol=1e-12)
    np.testing.assert_allclose(blend_poses(a, b, 0.0, np.eye(4)[None]), a, atol=1e-12)

    flip = np.eye(4)
    flip[:3, :3] = Rotation.from_euler("z", 180, degrees=True).as_matrix()
    c = _pose(0.0)
    c[:3, :3] = Rotation.from_euler("z", 170, degrees=True).as_matrix()
    moved = blend_poses(_pose(0.0), c, 0.5, np.stack([np.eye(4), flip]))
    angle = Rotation.from_matrix(moved[:3, :3]).as_euler("xyz", degrees=True)
    np.testing.assert_allclose(angle, [0, 0, -5], atol=1e-9)

    m = TrackManager(gate_m=0.05, verify_rotation_deg=10.0, verify_blend=0.5)
    (t,) = m.associate([Detection("mug", 1, _pose(0.0))], 0.0)
    t.state, t.fresh = ("carried",), False
    m.associate([Detection("mug", 1, _pose(0.0))], 0.1)
    assert m.verify(t, _pose(0.02), ("new",), 0.9) is None      # agrees: blended, not taken over
    np.testing.assert_allclose(t.pose[:3, 3], [0.01, 0.0, 0.6])
    assert t.state == ("carried",)


def test_verify_state_sets_what_an_agreeing_track_carries_on_with():
    """An agreeing check (within verify_rotation_deg) keeps the track's pose whatever verify_state says; its
    recurrent state stays ("track"), becomes the refined detection's ("detection") or restarts at zero ("zero");
    a disagreeing check takes over the detection's pose and state in every mode; an unknown mode is an error."""
    for mode, expected in (("track", ("carried",)), ("detection", ("new",)), ("zero", None)):
        m = TrackManager(gate_m=0.05, verify_rotation_deg=10.0, verify_state=mode)
        (t,) = m.associate([Detection("mug", 1, _pose(0.0))], 0.0)
        t.state, t.fresh = ("carried",), False
        m.associate([Detection("mug", 1, _pose(0.0))], 0.1)
        assert m.verify(t, _pose(0.01), ("new",), 0.9) is None, mode
        assert t.state == expected, mode
        np.testing.assert_allclose(t.pose, _pose(0.0))
    m = TrackManager(gate_m=0.05, verify_rotation_deg=10.0, verify_state="zero")
    (t,) = m.associate([Detection("mug", 1, _pose(0.0))], 0.0)
    t.state, t.fresh = ("carried",), False
    turned = _pose(0.0)
    turned[:3, :3] = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]])   # 90 degrees about x
    assert m.verify(t, turned, ("new",), 0.9) is not None
    assert t.state == ("new",) and np.allclose(t.pose, turned)
    with pytest.raises(ValueError, match="verify_state"):
        TrackManager(verify_state="fresh")
