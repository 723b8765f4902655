"""Property-based tests (hypothesis) of the node's pure input handling: message <-> array conversions
(deeprm_ros/ros/conversions.py and camera.py) checked against independent references (scipy's rotations, a per-pixel
reading of the sensor_msgs/Image layout, exact rational time, rclpy's Time), the object_labels parameter
against its validator, the per-object TrackManager against a model of well-separated objects, and the
node's log throttle."""
from __future__ import annotations

import math
import string
from fractions import Fraction
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from deeprm_ros.ros import camera
from deeprm_ros.ros import conversions as conv

PROPS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

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


# ---- poses -----------------------------------------------------------------------------------------------

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


# ---- images ------------------------------------------------------------------------------------------------

CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4}


def _reference_rgb(raw: bytes, encoding: str, height: int, width: int, step: int) -> np.ndarray:
    """Pixel by pixel from the sensor_msgs/Image definition: row r starts at r * step; pixel c of a row at
    c * channels; the channel order is the encoding's."""
    ch = CHANNELS[encoding]
    order = {"rgb8": (0, 1, 2), "rgba8": (0, 1, 2), "bgr8": (2, 1, 0), "bgra8": (2, 1, 0)}[encoding]
    out = np.zeros((height, width, 3), np.uint8)
    for r in range(height):
        for c in range(width):
            base = r * step + c * ch
            out[r, c] = [raw[base + k] for k in order]
    return out


def _image(encoding, height, width, step, raw):
    from sensor_msgs.msg import Image

    m = Image()
    m.encoding, m.height, m.width, m.step = encoding, height, width, step
    m.data = raw
    return m


@st.composite
def images(draw):
    encoding = draw(st.sampled_from(sorted(CHANNELS)))
    height, width = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    step = width * CHANNELS[encoding] + draw(st.integers(0, 7))  # row padding
    raw = draw(st.binary(min_size=height * step, max_size=height * step))
    return encoding, height, width, step, raw


@PROPS
@given(images())
def test_image_to_rgb_matches_a_pixel_by_pixel_reference(img):
    encoding, height, width, step, raw = img
    rgb = camera.image_to_rgb(_image(encoding, height, width, step, raw))
    assert rgb.shape == (height, width, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, _reference_rgb(raw, encoding, height, width, step))
    assert rgb.flags.c_contiguous and rgb.flags.writeable  # a copy the refiner may modify


@PROPS
@given(images(), st.binary(min_size=1, max_size=16))
def test_bytes_after_the_last_row_are_ignored(img, extra):
    encoding, height, width, step, raw = img
    a = camera.image_to_rgb(_image(encoding, height, width, step, raw))
    b = camera.image_to_rgb(_image(encoding, height, width, step, raw + extra))
    np.testing.assert_array_equal(a, b)


@PROPS
@given(images(), st.data())
def test_short_data_is_rejected_with_the_sizes(img, data):
    encoding, height, width, step, raw = img
    cut = data.draw(st.integers(1, len(raw)))
    with pytest.raises(ValueError, match=rf"image data has {len(raw) - cut} bytes, expected height\*step = {len(raw)}"):
        camera.image_to_rgb(_image(encoding, height, width, step, raw[:-cut]))


@PROPS
@given(images(), st.data())
def test_step_smaller_than_a_row_is_rejected(img, data):
    encoding, height, width, _, _ = img
    step = data.draw(st.integers(0, width * CHANNELS[encoding] - 1))
    with pytest.raises(ValueError, match=rf"image step {step} is smaller than width\*channels"):
        camera.image_to_rgb(_image(encoding, height, width, step, bytes(height * width * 4)))


@FEW
@given(st.sampled_from(sorted(CHANNELS)), st.integers(0, 5), st.integers(0, 5))
def test_empty_images_are_rejected(encoding, height, width):
    assume(height == 0 or width == 0)
    with pytest.raises(ValueError, match="image is empty"):
        camera.image_to_rgb(_image(encoding, height, width, width * CHANNELS[encoding], b""))


UNSUPPORTED = ["mono16", "rgb16", "bgr16", "rgba16", "bgra16", "8UC1", "8UC3", "16UC1", "32FC1",
               "bayer_rggb16", "nv21", "jpeg", "", "rgb", "rgb8 "]


@PROPS
@given(st.one_of(st.sampled_from(UNSUPPORTED), st.text(string.ascii_letters + string.digits + "_", max_size=12)))
def test_unsupported_encodings_are_rejected_naming_the_encoding(encoding):
    assume(encoding.lower() not in camera.SUPPORTED_ENCODINGS)
    with pytest.raises(ValueError) as e:
        camera.image_to_rgb(_image(encoding, 2, 2, 12, bytes(48)))
    text = str(e.value)
    assert f"image encoding '{encoding}' is not supported" in text
    assert all(name in text for name in camera.SUPPORTED_ENCODINGS)  # says what would work


@PROPS
@given(st.integers(1, 12), st.integers(1, 12), st.data())
def test_rgb_to_image_round_trip(height, width, data):
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    raw = data.draw(st.binary(min_size=height * width * 3, max_size=height * width * 3))
    rgb = np.frombuffer(raw, np.uint8).reshape(height, width, 3)
    h = Header()
    h.frame_id = "cam"
    msg = camera.rgb_to_image(Image, rgb, h)
    assert (msg.encoding, msg.height, msg.width, msg.step, msg.header.frame_id) == ("rgb8", height, width, width * 3, "cam")
    assert bytes(msg.data) == raw
    np.testing.assert_array_equal(camera.image_to_rgb(msg), rgb)


# ---- camera_info -------------------------------------------------------------------------------------------

@PROPS
@given(st.floats(1e-3, 1e5), st.floats(1e-3, 1e5), st.floats(-1e4, 1e4), st.floats(-1e4, 1e4),
       st.integers(0, 4), st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -5.0, 2.0]))
def test_camera_info_K(fx, fy, cx, cy, slot, bad):
    from sensor_msgs.msg import CameraInfo

    K = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    ci = CameraInfo()
    ci.k = K
    np.testing.assert_array_equal(camera.camera_info_K(ci), np.asarray(K).reshape(3, 3))
    # A non-finite entry, a focal length <= 0 or K[2][2] != 1 is no pinhole matrix.
    index = [0, 4, 2, 5, 8][slot]
    if index in (2, 5) and math.isfinite(bad):
        return  # any finite principal point is valid
    if index == 8 and bad == 1.0:
        return
    if index in (0, 4) and math.isfinite(bad) and bad > 0:
        return
    K[index] = bad
    ci.k = K
    with pytest.raises(ValueError, match="camera_info K is not a valid pinhole matrix"):
        camera.camera_info_K(ci)


# ---- stamps ------------------------------------------------------------------------------------------------

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


# ---- object_labels -----------------------------------------------------------------------------------------

class_names = st.text(string.ascii_letters + string.digits + "_-. /:", min_size=1, max_size=12).filter(
    lambda s: s == s.strip() and not s.isdigit())


@PROPS
@given(st.dictionaries(class_names, st.integers(0, 10**6), max_size=8), st.lists(st.integers(0, 10**6), max_size=4),
       st.randoms(use_true_random=False))
def test_parse_object_labels(pairs, plain, rnd):
    items = [f"{name}:{oid}" for name, oid in pairs.items()]
    expected = dict(pairs)
    for oid in plain:  # a number alone maps to itself
        items.append(str(oid))
        expected[str(oid)] = oid
    items += ["", "  "]  # blank entries are skipped
    rnd.shuffle(items)
    padded = [rnd.choice(["", " ", "\t"]) + it + rnd.choice(["", " ", "\n"]) for it in items]
    assert conv.parse_object_labels(padded) == expected


@PROPS
@given(class_names, st.text(string.ascii_letters + "._", min_size=1, max_size=6))
def test_parse_object_labels_rejects_non_integer_ids(name, oid):
    with pytest.raises(ValueError, match="is not 'class_id:obj_id' with an integer obj_id") as e:
        conv.parse_object_labels(["ok:1", f"{name}:{oid}"])
    assert f"'{name}:{oid}'" in str(e.value)


labelled = st.builds("{}:{}".format,
                     st.one_of(class_names, st.text(" \tab:", max_size=3)),  # names, also padded or empty
                     st.one_of(st.integers(-3, 99).map(str), st.text("0123456789-+ _\u00b2\u00b9\u0663", max_size=3)))


@PROPS
@given(st.lists(st.one_of(labelled, labelled, st.text(max_size=6)), max_size=4))
@example(["mug:\u00b2"]).via("a digit int() cannot read")
@example(["mug:--3"]).via("two minus signs")
@example([" mug:1", "mug:2"]).via("the same class once padded")
def test_object_labels_the_validator_accepts_parse_one_to_one(items):
    """What the object_labels parameter check accepts, parse_object_labels reads without error, one class per
    entry, obj_ids >= 0; what it refuses it refuses naming the parameter (never a bare exception)."""
    from deeprm_ros.ros.parameters import validate_value

    try:
        validate_value("object_labels", items)
    except ValueError as e:
        assert str(e).startswith("parameter 'object_labels': "), str(e)
        return
    labels = conv.parse_object_labels(items)
    assert len(labels) == len([i for i in items if i.strip()])
    assert all(isinstance(v, int) and v >= 0 for v in labels.values())


# ---- tracks ------------------------------------------------------------------------------------------------

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
    from deeprm_ros.ros.tracks import Detection, TrackManager

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


# ---- the node's log throttle -------------------------------------------------------------------------------

@FEW
@given(st.lists(st.tuples(st.sampled_from("abc"), st.floats(0.0, 3.0)), max_size=40), st.floats(0.1, 2.0))
def test_throttle_logs_at_most_once_per_key_and_period(calls, period):
    from deeprm_ros.ros import node as node_module

    now = [1000.0]
    logged = []
    logger = mock.Mock()
    logger.warning.side_effect = logged.append
    with mock.patch.object(node_module.time, "monotonic", lambda: now[0]):
        th = node_module.Throttle(logger, period_s=period)
        for key, dt in calls:
            now[0] += dt
            th.warn(key, f"{key}@{now[0]!r}")
    expected, last, t = [], {}, 1000.0  # the reference: a key's line is logged when its last one is period old
    for key, dt in calls:
        t += dt
        if key not in last or t - last[key] >= period:
            last[key] = t
            expected.append(f"{key}@{t!r}")
    assert logged == expected
