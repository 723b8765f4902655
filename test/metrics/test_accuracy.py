"""AUC of ADD(-S) (YCB-Video VOCap), accuracy curve, 10%-diameter rule: hand-computed cases."""
import numpy as np
import pytest

from deeprm_ros.metrics import accuracy_curve, auc_adds, fraction_below_diameter, plot_accuracy_curves


def test_auc_all_zero_is_100_and_all_failures_is_0():
    assert auc_adds(np.zeros(7)) == pytest.approx(100.0)
    assert auc_adds([0.11, 0.5, 3.0]) == 0.0
    assert auc_adds([np.inf, np.nan]) == 0.0
    assert auc_adds([]) == 0.0


def test_auc_hand_example_zero_and_5cm():
    """errors [0.0, 0.05], n = 2: d = [0, 0.05], accuracy = [0.5, 1.0].
    mrec = [0, 0, 0.05, 0.1], mpre = [0, 0.5, 1.0, 1.0] (already monotone).
    Change points (mrec[i] != mrec[i-1]): i = 2 and 3.
    sum = (0.05 - 0) * 1.0 + (0.1 - 0.05) * 1.0 = 0.1; * 10 -> 1.0 -> 100.
    (The exact area under the step curve would be 0.05 * 0.5 + 0.05 * 1.0 = 0.075 -> 75: VOCap credits each
    interval with the accuracy at its right end; we reproduce the toolbox, not the exact area.)"""
    assert auc_adds([0.0, 0.05]) == pytest.approx(100.0, abs=1e-9)
    assert auc_adds([0.05, 0.0]) == pytest.approx(100.0, abs=1e-9)  # order does not matter


def test_auc_hand_example_tie():
    """errors [0.05, 0.05]: mrec = [0, 0.05, 0.05, 0.1], mpre = [0, 0.5, 1, 1]; change points i = 1, 3:
    0.05 * 0.5 + 0.05 * 1 = 0.075 -> 75 (for a tie only the first entry's accuracy counts)."""
    assert auc_adds([0.05, 0.05]) == pytest.approx(75.0, abs=1e-9)


def test_auc_hand_example_with_failures():
    """errors [0.04, 0.02, 0.2, inf], n = 4: 0.2 -> inf; d = [0.02, 0.04, inf, inf], accuracy = [.25, .5, .75, 1];
    finite: rec = [0.02, 0.04], prec = [0.25, 0.5]; mrec = [0, .02, .04, .1], mpre = [0, .25, .5, .5];
    sum = .02 * .25 + .02 * .5 + .06 * .5 = .045 -> 45."""
    assert auc_adds([0.04, 0.02, 0.2, np.inf]) == pytest.approx(45.0, abs=1e-9)


def test_auc_converges_to_the_area_under_the_accuracy_curve():
    """For many errors VOCap differs from the exact step-curve area by at most one step: 100 * max_err / (0.1 n)."""
    rng = np.random.default_rng(0)
    e = rng.uniform(0.0, 0.15, size=2000)
    exact = np.sum(np.clip(0.1 - e, 0, None)) / len(e) / 0.1 * 100  # each error <= 0.1 adds (0.1 - e)/n of area
    auc = auc_adds(e)
    assert exact <= auc <= exact + 100.0 / len(e) + 1e-9
    assert 0 < auc < 100


def test_accuracy_curve():
    np.testing.assert_allclose(accuracy_curve([0.01, 0.03, np.inf], [0.0, 0.01, 0.02, 0.1]), [0, 1 / 3, 1 / 3, 2 / 3])
    np.testing.assert_allclose(accuracy_curve([], [0.0, 0.1]), [0.0, 0.0])


def test_fraction_below_diameter_hand_case():
    """10% of the diameter: 0.009 < 0.01 yes; 0.011 < 0.01 no; 0.035 < 0.04 yes; 0.05 < 0.04 no; NaN (missing) no."""
    errors = [0.009, 0.011, 0.035, 0.05, np.nan]
    diameters = [0.1, 0.1, 0.4, 0.4, 0.1]
    assert fraction_below_diameter(errors, diameters) == pytest.approx(40.0)
    assert fraction_below_diameter(errors, 0.1) == pytest.approx(20.0)  # one diameter for all: only 0.009
    assert fraction_below_diameter(errors, diameters, fraction=0.2) == pytest.approx(80.0)  # 0.011 < 0.02, 0.05 < 0.08
    assert fraction_below_diameter([], []) == 0.0
    # Strictly below: an error equal to 10% of the diameter fails (0.1 * 0.5 == 0.05 exactly in binary floating point).
    assert fraction_below_diameter([0.05, 0.0499], 0.5) == pytest.approx(50.0)


def test_plot_accuracy_curves_writes_a_png(tmp_path):
    path = tmp_path / "curves.png"
    plot_accuracy_curves({"init": [0.02, 0.08, 0.2], "refined": [0.005, 0.01, 0.03]}, path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
