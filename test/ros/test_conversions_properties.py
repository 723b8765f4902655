"""Property-based tests (hypothesis) of deeprm_ros/ros/conversions.py: poses against scipy's rotations, and
stamps against exact rational time and rclpy's Time."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from deeprm_ros.ros import conversions as conv

PROPS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

finite = st.floats(allow_nan=False, allow_infinity=False)
# Quaternion components of any magnitude (normalized or not); one of them clearly non-zero.
quat_component = st.one_of(finite, st.floats(-2.0, 2.0), st.sampled_from([0.0, -0.0, 1.0, -1.0]))
quaternions = st.tuples(quat_component, quat_component, quat_component, quat_component).filter(
    lambda q: max(abs(c) for c in q) >= 1e-5)


def _pose_msg(position, xyzw):
    from geometry_msgs.msg import Pose

    p = Pose()
    p.position.x, p.position.y, p.position.z = (float(v) for v in position)
    p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w = (float(v) for v in xyzw)
    return p


def _scipy_matrix(xyzw) -> np.ndarray:
    """The reference rotation: scipy (x, y, z, w), scaled first so that scipy's own norm cannot overflow."""
    q = np.asarray(xyzw, dtype=np.float64)
    return Rotation.from_quat(q / np.abs(q).max()).as_matrix()


@PROPS
@given(position=st.tuples(finite, finite, finite), xyzw=quaternions)
def test_pose_to_matrix_matches_scipy_for_any_nonzero_quaternion(position, xyzw):
    T = conv.pose_to_matrix(_pose_msg(position, xyzw))
    assert T.shape == (4, 4) and T.dtype == np.float64
    np.testing.assert_array_equal(T[:3, 3], np.asarray(position, dtype=np.float64))  # translation untouched
    np.testing.assert_array_equal(T[3], [0.0, 0.0, 0.0, 1.0])
    R = T[:3, :3]
    np.testing.assert_allclose(R, _scipy_matrix(xyzw), atol=1e-9)
    # Normalized (the documented behaviour): a proper rotation whatever the quaternion's length.
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-9)
    assert abs(np.linalg.det(R) - 1.0) < 1e-9


@PROPS
@given(position=st.tuples(finite, finite, finite), xyzw=quaternions, scale=st.floats(1e-3, 1e3))
def test_scaling_a_quaternion_does_not_change_the_rotation(position, xyzw, scale):
    scaled = [c * scale for c in xyzw]
    assume(all(math.isfinite(c) for c in scaled) and max(abs(c) for c in scaled) >= 1e-5)
    a = conv.pose_to_matrix(_pose_msg(position, xyzw))
    b = conv.pose_to_matrix(_pose_msg(position, scaled))
    np.testing.assert_allclose(a, b, atol=1e-9)


@PROPS
@given(position=st.tuples(finite, finite, finite), xyzw=quaternions)
def test_matrix_to_pose_round_trip_and_canonical_quaternion(position, xyzw):
    from geometry_msgs.msg import Pose

    T = np.eye(4)
    T[:3, :3] = _scipy_matrix(xyzw)
    T[:3, 3] = position
    p = conv.matrix_to_pose(T, Pose)
    assert isinstance(p, Pose)
    assert (p.position.x, p.position.y, p.position.z) == tuple(float(v) for v in position)
    q = np.array([p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w])
    assert abs(np.linalg.norm(q) - 1.0) < 1e-9 and q[3] >= 0.0  # unit, w >= 0 (documented)
    ref = Rotation.from_matrix(T[:3, :3]).as_quat()  # scipy (x, y, z, w)
    assert min(np.abs(q - ref).max(), np.abs(q + ref).max()) < 1e-7  # the same rotation, up to the sign
    np.testing.assert_allclose(conv.pose_to_matrix(p), T, atol=1e-9)


BAD = st.sampled_from([math.nan, math.inf, -math.inf])


@PROPS
@given(position=st.tuples(finite, finite, finite), xyzw=quaternions, slot=st.integers(0, 6), bad=BAD)
def test_non_finite_poses_are_rejected_naming_the_problem(position, xyzw, slot, bad):
    values = list(position) + list(xyzw)
    values[slot] = bad
    with pytest.raises(ValueError, match="non-finite"):
        conv.pose_to_matrix(_pose_msg(values[:3], values[3:]))


@PROPS
@given(position=st.tuples(finite, finite, finite),
       xyzw=st.tuples(*[st.one_of(st.just(0.0), st.just(-0.0), st.floats(-1e-7, 1e-7))] * 4))
def test_zero_quaternions_are_rejected_naming_the_problem(position, xyzw):
    with pytest.raises(ValueError, match="zero quaternion"):
        conv.pose_to_matrix(_pose_msg(position, xyzw))


SEC = st.integers(0, 2**31 - 1)  # builtin_interfaces/Time.sec is int32
NSEC = st.integers(0, 999_999_999)


def _stamp(sec, nanosec):
    from builtin_interfaces.msg import Time

    return Time(sec=sec, nanosec=nanosec)


@PROPS
@given(SEC, NSEC)
def test_stamp_to_sec_is_exact_to_the_float_and_round_trips_within_a_microsecond(sec, nanosec):
    from rclpy.time import Time

    s = conv.stamp_to_sec(_stamp(sec, nanosec))
    exact = Fraction(sec) + Fraction(nanosec, 10**9)
    assert abs(Fraction(s) - exact) <= 2 * Fraction(np.spacing(float(exact)))  # within 2 ulp
    back = Time(nanoseconds=round(s * 1e9)).to_msg()  # rclpy's own seconds -> stamp
    assert abs((back.sec * 10**9 + back.nanosec) - (sec * 10**9 + nanosec)) <= 1000
    # The other way: rclpy's stamp of a time in seconds reads back as that time.
    msg = Time(seconds=sec, nanoseconds=nanosec).to_msg()
    assert (msg.sec, msg.nanosec) == (sec, nanosec)
    assert conv.stamp_to_sec(msg) == s


@PROPS
@given(SEC, NSEC, SEC, NSEC)
def test_stamp_order_is_preserved(s1, n1, s2, n2):
    """The node pairs detections with images by comparing these floats: stamps must keep their order
    (never reversed; strictly when a microsecond or more apart)."""
    a, b = (s1, n1), (s2, n2)
    if a > b:
        a, b = b, a
    fa, fb = conv.stamp_to_sec(_stamp(*a)), conv.stamp_to_sec(_stamp(*b))
    assert fa <= fb
    if (b[0] - a[0]) * 10**9 + (b[1] - a[1]) >= 1000:
        assert fa < fb
