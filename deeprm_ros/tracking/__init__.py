"""Tracking over a video: per-object tracks (association, recurrent state, re-initialization), a confidence
for each refined pose, and the per-frame step shared by the ROS node and the tracking benchmark. Pure
Python/numpy around the Refiner: no rclpy."""
from .confidence import contour_agreement
from .frame import FrameRefinement, refine_tracks
from .tracks import Detection, Track, TrackManager, pose_in_image

__all__ = ["Detection", "Track", "TrackManager", "pose_in_image", "FrameRefinement", "refine_tracks",
           "contour_agreement"]
