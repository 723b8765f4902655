"""Pure geometry (numpy/torch, no I/O): rotations, projection, crops and DeepIM's pose update."""
from .rotations import quat_to_matrix, matrix_to_quat, axis_angle_to_matrix, rotation_angle_deg
from .camera import project_points, transform_points
from .crop import deepim_boxes, crop_intrinsics, crop_and_resize, CROP_SIZE
from .pose_update import apply_pose_update, pose_update_target, scale_pose_update

__all__ = [
    "quat_to_matrix", "matrix_to_quat", "axis_angle_to_matrix", "rotation_angle_deg",
    "project_points", "transform_points",
    "deepim_boxes", "crop_intrinsics", "crop_and_resize", "CROP_SIZE",
    "apply_pose_update", "pose_update_target", "scale_pose_update",
]
