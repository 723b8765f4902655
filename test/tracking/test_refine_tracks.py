"""tracking.refine_tracks with the bundled model on a rendered scene (data.sequence): the confidence tells a refined
pose on its object from one far off, and refine_from="detection" restarts a track at its detection."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from deeprm_ros.data.sequence import SyntheticSequence
from deeprm_ros.metrics import pose_errors
from deeprm_ros.refiner import Refiner
from deeprm_ros.ros.resources import default_checkpoint
from deeprm_ros.tracking import Detection, TrackManager, refine_tracks


@pytest.fixture(scope="module")
def scene(demo_models, demo_renderer):
    seq = SyntheticSequence(demo_models, demo_renderer, seed=3, detection_rate_hz=10.0, noise_rotation_deg=5.0,
                            noise_translation_m=(0.003, 0.003, 0.01))
    refiner = Refiner.from_checkpoint(default_checkpoint(), demo_models, 640, 480, "cpu", "onnx", threads=2)
    return seq, seq.frame(0), refiner


def _manager():
    return TrackManager(max_low_confidence_frames=0)


def test_confidence_is_high_on_the_object_and_low_far_from_it(scene, demo_models):
    seq, frame, refiner = scene
    m = _manager()
    m.associate([Detection(str(o), o, T) for o, T in zip(seq.obj_ids, frame.detections)], 0.0)
    tracks = list(m.tracks.values())
    for t, T in zip(tracks, frame.poses):  # start at the truth: one iteration stays on the object
        t.pose = T.copy()
    good = refine_tracks(refiner, m, tracks, frame.rgb, seq.K, 1, 1, 2.0, 1.0)
    errors, _, _ = pose_errors(np.stack([t.pose for t in tracks]), frame.poses, demo_models, np.array(seq.obj_ids))
    # One iteration from the truth stays near it (it moves up to about 14 mm here, depth above all).
    assert np.all(errors < 0.2 * np.array([demo_models[o].diameter for o in seq.obj_ids])), errors
    assert np.all(good.confidences > 0.7), good.confidences
    assert [t.confidence for t in tracks] == pytest.approx(list(good.confidences))
    # The same tracks moved 6 cm sideways and refined for one iteration: far off, and the confidence says so.
    for t, T in zip(tracks, frame.poses):
        t.pose = T.copy()
        t.pose[0, 3] += 0.06
    bad = refine_tracks(refiner, m, tracks, frame.rgb, seq.K, 1, 1, 2.0, 1.0)
    assert np.all(bad.confidences < good.confidences - 0.3), (good.confidences, bad.confidences)


def test_refine_from_detection_restarts_every_track_at_its_detection(scene):
    """refine_from="detection" (no tracking): a track 12 cm off its object, with a recurrent state, is refined from
    its latest detection with a zero state and the full iteration count, exactly as the refiner refines the
    detection on its own; refine_from="track" refines its own pose with tracking_iterations."""
    seq, frame, refiner = scene
    oid = int(seq.obj_ids[0])
    off = frame.detections[0].copy()
    off[0, 3] += 0.12
    alone = {n: refiner.run(frame.rgb[None], seq.K[None], start[None], [oid], n).poses[-1][0].numpy()
             for n, start in ((4, frame.detections[0]), (2, off))}
    for mode, iterations in (("detection", 4), ("track", 2)):
        m = _manager()
        (t,) = m.associate([Detection(str(oid), oid, frame.detections[0])], 0.0)
        t.pose = t.pose.copy()
        t.pose[0, 3] += 0.12
        t.fresh = False
        result = refine_tracks(refiner, m, [t], frame.rgb, seq.K, 4, 2, 2.0, 1.0, refine_from=mode)
        assert result.iterations == iterations
        np.testing.assert_allclose(t.pose, alone[iterations], atol=1e-5)
    with pytest.raises(ValueError, match="refine_from"):
        refine_tracks(refiner, _manager(), [t], frame.rgb, seq.K, 4, 2, 2.0, 1.0, refine_from="detections")


def test_a_drifted_track_takes_over_its_refined_detection_at_a_detection_frame(scene, demo_models):
    """A carried track turned 25 degrees off its object (inside reinit_rotation_deg, so association keeps it)
    meets a new detection: refine_tracks refines that detection afresh as the refiner does on its own, and the
    track, still off after its own 2 iterations, takes over that pose; with the check off it stays off."""
    from scipy.spatial.transform import Rotation

    seq, frame, refiner = scene
    oid = int(seq.obj_ids[1])
    det = frame.detections[1]
    alone = refiner.run(frame.rgb[None], seq.K[None], det[None], [oid], 4).poses[-1][0].numpy()
    rotation_error = {}
    for verify_deg, takes_over in ((10.0, True), (0.0, False)):
        m = TrackManager(max_low_confidence_frames=0, reinit_rotation_deg=45.0, verify_rotation_deg=verify_deg)
        (t,) = m.associate([Detection(str(oid), oid, det)], 0.0)
        t.pose = frame.poses[1].copy()
        t.pose[:3, :3] = Rotation.from_euler("y", 25, degrees=True).as_matrix() @ t.pose[:3, :3]
        t.fresh = False
        m.associate([Detection(str(oid), oid, det)], 0.1)
        result = refine_tracks(refiner, m, [t], frame.rgb, seq.K, 4, 2, 2.0, 1.0)
        assert [x for x, _ in result.verified] == ([t] if takes_over else [])
        assert t in result.published
        if takes_over:
            np.testing.assert_allclose(t.pose, alone, atol=1e-5)
        _, rot, _ = pose_errors(t.pose[None], frame.poses[1][None], demo_models, np.array([oid]))
        rotation_error[takes_over] = float(rot[0])
    assert rotation_error[True] < rotation_error[False] - 5.0, rotation_error


def test_a_carried_track_starts_from_its_predicted_pose_and_applies_its_share_of_each_update(scene):
    """With tracking_update_gain 0 a carried track ignores the network's updates, so it ends exactly where its
    velocity moved it (velocity_smoothing on); a fresh track in the same batch still moves, by the whole update.
    The velocity is then measured from the track's previous pose to its new one."""
    seq, frame, refiner = scene
    m = _manager()
    carried, fresh = m.associate([Detection(str(o), o, T) for o, T in zip(seq.obj_ids[:2], frame.detections[:2])], 0.0)
    carried.fresh, carried.pose_stamp = False, 1.0
    carried.velocity = np.array([0.0, 0.2, 0.0, 0.05, 0.0, 0.0])   # 0.2 rad/s about y, 5 cm/s in x
    start = carried.pose.copy()
    refine_tracks(refiner, m, [carried, fresh], frame.rgb, seq.K, 2, 2, 2.0, 1.0, tracking_update_gain=0.0,
                  stamp=1.1, velocity_smoothing=0.5)
    expected = start.copy()
    expected[:3, :3] = Rotation.from_rotvec([0.0, 0.02, 0.0]).as_matrix() @ start[:3, :3]
    expected[:3, 3] += [0.005, 0.0, 0.0]
    np.testing.assert_allclose(carried.pose, expected, atol=1e-5)
    np.testing.assert_allclose(carried.velocity, [0.0, 0.2, 0.0, 0.05, 0.0, 0.0], atol=1e-3)  # it moved just so
    assert carried.pose_stamp == fresh.pose_stamp == 1.1
    assert fresh.velocity is None
    assert np.abs(fresh.pose[:3, 3] - frame.detections[1][:3, 3]).max() > 1e-4   # the fresh track was refined
