"""Camera input (deeprm_ros/ros/camera.py) against independent references: grey, Bayer mosaics and YUV 4:2:2
built by hand from a known RGB image (the BT.601 formulas, the colour-filter layouts), compressed images
written by Pillow, and the CameraInfo P/K/D rules."""
from __future__ import annotations

import io

import numpy as np
import pytest

from deeprm_ros.ros import camera


def _msg(encoding, height, width, step, data):
    from sensor_msgs.msg import Image

    m = Image()
    m.encoding, m.height, m.width, m.step = encoding, height, width, step
    m.data = bytes(data)
    return m


def _smooth_rgb(h=24, w=32) -> np.ndarray:
    """Linear ramps, different per channel: bilinear demosaicing reconstructs them exactly inside the image."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    return np.stack([40 + 5 * x, 200 - 4 * y, 30 + 2 * x + 3 * y], -1).round().astype(np.uint8)


def test_mono8_is_grey_in_all_three_channels_with_row_padding():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    padded = np.concatenate([grey, np.full((5, 3), 99, np.uint8)], 1)
    rgb = camera.image_to_rgb(_msg("mono8", 5, 7, 10, padded.tobytes()))
    assert rgb.shape == (5, 7, 3)
    for c in range(3):
        np.testing.assert_array_equal(rgb[..., c], grey)


# (row 0, col 0) (0, 1) / (1, 0) (1, 1) colour of each sensor_msgs Bayer layout; 0 = R, 1 = G, 2 = B.
BAYER = {"bayer_rggb8": ((0, 1), (1, 2)), "bayer_bggr8": ((2, 1), (1, 0)),
         "bayer_gbrg8": ((1, 2), (0, 1)), "bayer_grbg8": ((1, 0), (2, 1))}


def _mosaic(rgb, layout):
    out = np.zeros(rgb.shape[:2], np.uint8)
    for dy in (0, 1):
        for dx in (0, 1):
            out[dy::2, dx::2] = rgb[dy::2, dx::2, layout[dy][dx]]
    return out


@pytest.mark.parametrize("encoding", sorted(BAYER))
def test_bayer_mosaics_demosaic_back_to_the_image(encoding):
    rgb = _smooth_rgb()
    raw = _mosaic(rgb, BAYER[encoding])
    out = camera.image_to_rgb(_msg(encoding, *raw.shape, raw.shape[1], raw.tobytes()))
    inner = (slice(2, -2), slice(2, -2))
    err = np.abs(out[inner].astype(int) - rgb[inner].astype(int))
    assert err.max() <= 1, f"{encoding}: max error {err.max()}"
    # The right layout matters: read as another one, red and blue trade places.
    other = {"bayer_rggb8": "bayer_bggr8", "bayer_bggr8": "bayer_rggb8",
             "bayer_gbrg8": "bayer_grbg8", "bayer_grbg8": "bayer_gbrg8"}[encoding]
    wrong = camera.image_to_rgb(_msg(other, *raw.shape, raw.shape[1], raw.tobytes()))
    assert np.abs(wrong[inner].astype(int) - rgb[inner].astype(int)).mean() > 20


def _bt601(rgb):
    """RGB (0..255) to video-range Y, U (Cb), V (Cr), the ITU-R BT.601 definition."""
    r, g, b = (rgb[..., i].astype(np.float64) / 255 for i in range(3))
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    u = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    v = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    return (np.clip(np.round(c), 0, 255).astype(np.uint8) for c in (y, u, v))


@pytest.mark.parametrize("encoding, order", [("yuv422", "UYVY"), ("uyvy", "UYVY"), ("yuv422_yuy2", "YUYV"),
                                             ("yuyv", "YUYV")])
def test_yuv422_decodes_to_the_colours_it_was_made_from(encoding, order):
    rng = np.random.default_rng(1)
    # Pixel pairs share U and V, so each pair gets one colour; brightness may still differ within a pair.
    pair_colours = rng.integers(20, 236, (6, 4, 3), dtype=np.uint8)
    rgb = np.repeat(pair_colours, 2, axis=1)  # (6, 8, 3)
    y, u, v = _bt601(rgb)
    h, w = y.shape
    packed = np.zeros((h, w * 2), np.uint8)
    ys = {"UYVY": (1, 3), "YUYV": (0, 2)}[order]
    us, vs = {"UYVY": (0, 2), "YUYV": (1, 3)}[order]
    packed[:, ys[0]::4], packed[:, ys[1]::4] = y[:, 0::2], y[:, 1::2]
    packed[:, us::4], packed[:, vs::4] = u[:, 0::2], v[:, 0::2]
    out = camera.image_to_rgb(_msg(encoding, h, w, w * 2, packed.tobytes()))
    assert np.abs(out.astype(int) - rgb.astype(int)).max() <= 3


def test_yuv422_needs_an_even_width():
    with pytest.raises(ValueError, match="even width"):
        camera.image_to_rgb(_msg("yuv422", 2, 3, 6, bytes(12)))


def _compressed(data: bytes, fmt: str):
    from sensor_msgs.msg import CompressedImage

    m = CompressedImage()
    m.format, m.data = fmt, data
    return m


def _pil_bytes(array, fmt, **kw) -> bytes:
    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.fromarray(array).save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_compressed_png_decodes_exactly_in_rgb_order():
    rgb = np.random.default_rng(2).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    out = camera.compressed_to_rgb(_compressed(_pil_bytes(rgb, "PNG"), "rgb8; png compressed bgr8"))
    np.testing.assert_array_equal(out, rgb)
    rgba = np.concatenate([rgb, np.full((9, 13, 1), 7, np.uint8)], -1)
    np.testing.assert_array_equal(camera.compressed_to_rgb(_compressed(_pil_bytes(rgba, "PNG"), "png")), rgb)
    grey = rgb[..., 1].copy()
    out = camera.compressed_to_rgb(_compressed(_pil_bytes(grey, "PNG"), "mono8; png compressed mono8"))
    np.testing.assert_array_equal(out, np.repeat(grey[..., None], 3, -1))


def test_compressed_jpeg_decodes_close_to_the_image():
    rgb = _smooth_rgb(48, 64)
    out = camera.compressed_to_rgb(_compressed(_pil_bytes(rgb, "JPEG", quality=95), "rgb8; jpeg compressed bgr8"))
    assert out.shape == rgb.shape
    assert np.abs(out.astype(int) - rgb.astype(int)).mean() < 3


@pytest.mark.parametrize("data, fmt, words", [
    (b"", "jpeg", "no data"),
    (b"not an image at all", "jpeg", "could not be decoded"),
    (b"\x89PNG....", "16UC1; compressedDepth png", "compressedDepth"),
])
def test_bad_compressed_images_are_refused_naming_the_problem(data, fmt, words):
    with pytest.raises(ValueError, match=words):
        camera.compressed_to_rgb(_compressed(data, fmt))


def _info(k=None, p=None, d=()):
    from sensor_msgs.msg import CameraInfo

    ci = CameraInfo()
    if k is not None:
        ci.k = [float(v) for v in np.asarray(k).reshape(-1)]
    if p is not None:
        ci.p = [float(v) for v in np.asarray(p).reshape(-1)]
    ci.d = [float(v) for v in d]
    return ci


K_RAW = np.array([[610.0, 0, 322.0], [0, 612.0, 241.0], [0, 0, 1]])
P_RECT = np.array([[600.0, 0, 319.5, 0], [0, 600.0, 239.5, 0], [0, 0, 1, 0]])


def test_rectified_intrinsics_come_from_P():
    M, from_p = camera.camera_matrix(_info(K_RAW, P_RECT, d=(-0.2, 0.05, 0, 0, 0)))
    np.testing.assert_array_equal(M, P_RECT[:, :3])
    assert from_p
    # A right stereo camera's P carries -fx * baseline in its fourth column: the camera matrix is the same.
    P_right = P_RECT.copy()
    P_right[0, 3] = -600.0 * 0.06
    np.testing.assert_array_equal(camera.camera_matrix(_info(K_RAW, P_right))[0], P_RECT[:, :3])


def test_K_is_used_when_P_is_not_filled():
    M, from_p = camera.camera_matrix(_info(K_RAW, np.zeros((3, 4))))
    np.testing.assert_array_equal(M, K_RAW)
    assert not from_p


@pytest.mark.parametrize("slot, bad", [((0, 0), 0.0), ((1, 1), -3.0), ((2, 2), 0.0), ((0, 2), np.nan), ((2, 0), 0.5)])
def test_a_broken_P_is_refused(slot, bad):
    P = P_RECT.copy()
    P[slot] = bad
    with pytest.raises(ValueError, match="camera_info P is not a valid projection matrix"):
        camera.camera_matrix(_info(K_RAW, P))


@pytest.mark.parametrize("d, distorted", [((), False), ((0.0,) * 5, False), ((0, 0, 0, 0, 1e-6), True),
                                          ((-0.3, 0.1, 0, 0, 0, 0, 0, 0), True)])
def test_distortion_is_any_non_zero_D(d, distorted):
    assert camera.has_distortion(_info(K_RAW, P_RECT, d)) is distorted
