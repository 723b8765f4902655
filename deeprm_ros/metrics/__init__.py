"""Pose accuracy metrics exactly as the BOP toolkit / YCB-Video toolbox define them: ADD(-S), errors up to
symmetry, the accuracy summaries and their tables."""
from .add import add, add_batch, add_or_adds, add_or_adds_batch, add_s, add_s_batch
from .accuracy import MAX_THRESHOLD_M, accuracy_curve, auc_adds, fraction_below_diameter, plot_accuracy_curves
from .pose_errors import (model_symmetric_pose_errors, nearest_symmetric_pose, pose_errors, symmetric_object_ids,
                          symmetric_pose_errors, translation_error_m)
from .summary import format_table, summarize

__all__ = ["add", "add_s", "add_or_adds", "add_batch", "add_s_batch", "add_or_adds_batch",
           "translation_error_m", "nearest_symmetric_pose", "symmetric_pose_errors", "model_symmetric_pose_errors", "pose_errors", "symmetric_object_ids", "summarize", "format_table",
           "MAX_THRESHOLD_M", "auc_adds", "accuracy_curve", "fraction_below_diameter", "plot_accuracy_curves"]
