"""Pose accuracy metrics exactly as the BOP toolkit / YCB-Video toolbox define them (REFERENCE section 5)."""
from .add import add, add_s, add_or_adds, rotation_error_deg, translation_error_m
from .accuracy import auc_adds, accuracy_curve, fraction_below_diameter, plot_accuracy_curves

__all__ = ["add", "add_s", "add_or_adds", "rotation_error_deg", "translation_error_m",
           "auc_adds", "accuracy_curve", "fraction_below_diameter", "plot_accuracy_curves"]
