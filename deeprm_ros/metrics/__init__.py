"""Pose accuracy metrics exactly as the BOP toolkit / YCB-Video toolbox define them."""
from .add import (add, add_batch, add_or_adds, add_or_adds_batch, add_s, add_s_batch, rotation_error_deg,
                  symmetric_pose_errors, translation_error_m)
from .accuracy import MAX_THRESHOLD_M, accuracy_curve, auc_adds, fraction_below_diameter, plot_accuracy_curves

__all__ = ["add", "add_s", "add_or_adds", "add_batch", "add_s_batch", "add_or_adds_batch",
           "rotation_error_deg", "translation_error_m", "symmetric_pose_errors",
           "MAX_THRESHOLD_M", "auc_adds", "accuracy_curve", "fraction_below_diameter", "plot_accuracy_curves"]
