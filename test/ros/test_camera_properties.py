"""Property-based tests (hypothesis) of deeprm_ros/ros/camera.py: images against a per-pixel reading of the
sensor_msgs/Image layout, and camera_info's matrices."""
from __future__ import annotations

import math
import string

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from deeprm_ros.ros import camera

PROPS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

finite = st.floats(allow_nan=False, allow_infinity=False)


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
