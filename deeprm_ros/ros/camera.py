"""What the node needs from a camera: its images as RGB arrays, whatever the encoding or transport, and the
intrinsics that apply to them.

Each function raises ValueError with a message naming the problem, which the node turns into a throttled
warning. Decoding goes through OpenCV, as cv_bridge and image_transport do.
"""
from __future__ import annotations

import cv2
import numpy as np

# sensor_msgs/image_encodings names -> (bytes per pixel, OpenCV conversion to RGB or None for a plain copy).
# OpenCV's own Bayer names are shifted by one row (its "BayerBG" is ROS's "bayer_rggb"); the
# RGGB/BGGR/GBRG/GRBG aliases used here are the unshifted ones. ROS's "yuv422" is UYVY byte order,
# "yuv422_yuy2" is YUYV.
_ENCODINGS = {
    "rgb8": (3, None),
    "bgr8": (3, cv2.COLOR_BGR2RGB),
    "rgba8": (4, cv2.COLOR_RGBA2RGB),
    "bgra8": (4, cv2.COLOR_BGRA2RGB),
    "mono8": (1, cv2.COLOR_GRAY2RGB),
    "bayer_rggb8": (1, cv2.COLOR_BayerRGGB2RGB),
    "bayer_bggr8": (1, cv2.COLOR_BayerBGGR2RGB),
    "bayer_gbrg8": (1, cv2.COLOR_BayerGBRG2RGB),
    "bayer_grbg8": (1, cv2.COLOR_BayerGRBG2RGB),
    "yuv422": (2, cv2.COLOR_YUV2RGB_UYVY),
    "uyvy": (2, cv2.COLOR_YUV2RGB_UYVY),
    "yuv422_yuy2": (2, cv2.COLOR_YUV2RGB_YUY2),
    "yuyv": (2, cv2.COLOR_YUV2RGB_YUY2),
}
SUPPORTED_ENCODINGS = tuple(_ENCODINGS)


def _buffer(data) -> np.ndarray:
    return np.frombuffer(data if isinstance(data, (bytes, bytearray, memoryview)) else bytes(data), dtype=np.uint8)


def image_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/Image of any SUPPORTED_ENCODINGS to (H, W, 3) uint8 RGB, honouring the row step."""
    enc = msg.encoding.lower()
    if enc not in _ENCODINGS:
        raise ValueError(f"image encoding '{msg.encoding}' is not supported (use one of {', '.join(SUPPORTED_ENCODINGS)})")
    bpp, code = _ENCODINGS[enc]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h == 0 or w == 0:
        raise ValueError("image is empty (width or height 0)")
    if step < w * bpp:
        raise ValueError(f"image step {step} is smaller than width*channels = {w * bpp}")
    if bpp == 2 and w % 2:
        raise ValueError(f"a {msg.encoding} image needs an even width (two pixels share one U and V), got {w}")
    if code in (cv2.COLOR_BayerRGGB2RGB, cv2.COLOR_BayerBGGR2RGB, cv2.COLOR_BayerGBRG2RGB,
                cv2.COLOR_BayerGRBG2RGB) and (h < 2 or w < 2):
        raise ValueError(f"a {msg.encoding} image needs at least 2x2 pixels (one colour filter tile), got {w}x{h}")
    data = _buffer(msg.data)
    if data.size < h * step:
        raise ValueError(f"image data has {data.size} bytes, expected height*step = {h * step}")
    rows = data[: h * step].reshape(h, step)[:, : w * bpp]
    img = rows.reshape(h, w, bpp) if bpp != 1 else rows.reshape(h, w)
    if code is None:
        return np.array(img, order="C")  # a writable copy: the message buffer is read-only
    return cv2.cvtColor(np.ascontiguousarray(img), code)


def compressed_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/CompressedImage (image_transport's `compressed`: JPEG or PNG) to (H, W, 3) uint8 RGB."""
    fmt = (msg.format or "").lower()
    if "compresseddepth" in fmt:
        raise ValueError(f"compressed image format '{msg.format}' is a depth image (compressedDepth), not a colour image")
    data = _buffer(msg.data)
    if data.size == 0:
        raise ValueError("compressed image has no data")
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"compressed image ({data.size} bytes, format '{msg.format}') could not be decoded "
                         "as JPEG or PNG")
    if img.dtype != np.uint8:
        raise ValueError(f"compressed image decodes to {img.dtype} pixels; 8-bit colour or grey is needed")
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB if img.shape[2] == 4 else cv2.COLOR_BGR2RGB)


def rgb_to_image(msg_type, rgb: np.ndarray, header):
    """(H, W, 3) uint8 RGB to a sensor_msgs/Image (rgb8)."""
    msg = msg_type()
    msg.header = header
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding = "rgb8"
    msg.is_bigendian = 0
    msg.step = int(rgb.shape[1] * 3)
    msg.data = np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()
    return msg


def _pinhole_error(M: np.ndarray) -> bool:
    return not np.isfinite(M).all() or M[0, 0] <= 0 or M[1, 1] <= 0 or M[2, 2] != 1.0


def camera_info_K(msg) -> np.ndarray:
    """K of a sensor_msgs/CameraInfo: the intrinsics of the raw (distorted) image."""
    K = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
    if _pinhole_error(K):
        raise ValueError(f"camera_info K is not a valid pinhole matrix: {K.reshape(-1).tolist()}")
    return K


def camera_matrix(msg) -> tuple[np.ndarray, bool]:
    """The 3x3 camera matrix of rectified images, and whether it came from P.

    P's left 3x3 block is the camera matrix of the rectified image (image_proc's image_rect). The node
    refines rectified images, so P is used whenever the driver fills it; a CameraInfo with P all zeros
    (some simulators fill only K) falls back to K. The fourth column of P (a stereo baseline) is ignored:
    the poses are in this camera's own optical frame."""
    P = np.asarray(msg.p, dtype=np.float64).reshape(3, 4)
    if not P.any():
        return camera_info_K(msg), False
    M = P[:, :3].copy()
    if _pinhole_error(M) or M[1, 0] != 0 or M[2, 0] != 0 or M[2, 1] != 0:
        raise ValueError(f"camera_info P is not a valid projection matrix of rectified images: {P.reshape(-1).tolist()}")
    return M, True


def frame_camera_matrix(rgb: np.ndarray, info) -> np.ndarray:
    """The camera matrix for an image and the CameraInfo paired with it; ValueError when they do not belong
    together (another size) or the matrix is unusable."""
    if (info.width, info.height) != (rgb.shape[1], rgb.shape[0]):
        raise ValueError(f"image is {rgb.shape[1]}x{rgb.shape[0]} but camera_info says {info.width}x{info.height}")
    return camera_matrix(info)[0]


def has_distortion(msg) -> bool:
    """True when CameraInfo D has a non-zero coefficient (the raw image is distorted)."""
    d = np.asarray(msg.d, dtype=np.float64)
    return bool(d.size) and bool(np.any(d != 0))
