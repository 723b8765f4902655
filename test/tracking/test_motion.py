import numpy as np
from scipy.spatial.transform import Rotation

from deeprm_ros.tracking.motion import pose_velocity, predict_pose, smoothed_velocity


def _pose(rotvec, t):
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
    T[:3, 3] = t
    return T


def test_a_pose_turning_and_moving_steadily_is_predicted_one_frame_ahead():
    # An object turning 0.1 rad/s about the camera's y axis (about its own origin) and moving 2 cm/s in x.
    start = _pose([0.2, -0.4, 1.0], [0.05, -0.02, 0.6])
    step = Rotation.from_rotvec([0.0, 0.01, 0.0])   # 0.1 s at 0.1 rad/s
    frames = [start]
    for _ in range(2):
        nxt = frames[-1].copy()
        nxt[:3, :3] = step.as_matrix() @ nxt[:3, :3]
        nxt[:3, 3] += [0.002, 0.0, 0.0]
        frames.append(nxt)
    v = pose_velocity(frames[0], frames[1], 0.1)
    np.testing.assert_allclose(v, [0, 0.1, 0, 0.02, 0, 0], atol=1e-12)
    np.testing.assert_allclose(predict_pose(frames[1], v, 0.1), frames[2], atol=1e-12)
    # Half a frame on: half the turn and half the shift.
    half = predict_pose(frames[1], v, 0.05)
    angle = np.degrees(Rotation.from_matrix(half[:3, :3] @ frames[1][:3, :3].T).magnitude())
    assert abs(angle - np.degrees(0.005)) < 1e-9
    np.testing.assert_allclose(half[:3, 3] - frames[1][:3, 3], [0.001, 0, 0], atol=1e-12)


def test_smoothing_keeps_its_share_of_the_old_velocity():
    old, new = np.ones(6), np.zeros(6)
    np.testing.assert_allclose(smoothed_velocity(old, new, 0.8), 0.8 * np.ones(6))
    np.testing.assert_allclose(smoothed_velocity(None, new, 0.8), new)
