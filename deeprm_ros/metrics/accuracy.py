"""Accuracy summaries: the YCB-Video AUC of ADD(-S) and the ADD(-S) < 10% diameter rate."""
from __future__ import annotations

import numpy as np

MAX_THRESHOLD_M = 0.1


def auc_adds(errors_m, max_threshold: float = MAX_THRESHOLD_M) -> float:
    """Area under the accuracy-threshold curve over 0..max_threshold, 0..100 (YCB-Video toolbox VOCap).

    Errors above the threshold (and inf/NaN: missing estimates) count as failures; the curve is the
    cumulative fraction of sorted errors, integrated exactly as a step function."""
    e = np.asarray(errors_m, dtype=np.float64)
    n = len(e)
    if n == 0:
        return 0.0
    e = np.where(np.isfinite(e), e, np.inf)
    e = np.sort(e[e <= max_threshold])
    if len(e) == 0:
        return 0.0
    rec = e
    prec = np.arange(1, len(e) + 1, dtype=np.float64) / n
    mrec = np.concatenate([[0.0], rec, [max_threshold]])
    mpre = np.concatenate([[0.0], prec, [prec[-1]]])
    for i in range(1, len(mpre)):
        mpre[i] = max(mpre[i], mpre[i - 1])
    i = np.nonzero(mrec[1:] != mrec[:-1])[0] + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]) / max_threshold * 100.0)


def accuracy_curve(errors_m, thresholds) -> np.ndarray:
    """Fraction of estimates with error below each threshold."""
    e = np.asarray(errors_m, dtype=np.float64)
    e = np.where(np.isfinite(e), e, np.inf)
    return np.array([(e < t).mean() if len(e) else 0.0 for t in thresholds])


def fraction_below_diameter(errors_m, diameters_m, fraction: float = 0.1) -> float:
    """Percentage of estimates with ADD(-S) below fraction x the object diameter (LM-O's metric)."""
    e = np.asarray(errors_m, dtype=np.float64)
    if len(e) == 0:
        return 0.0
    e = np.where(np.isfinite(e), e, np.inf)
    return float((e < fraction * np.asarray(diameters_m, dtype=np.float64)).mean() * 100.0)


def plot_accuracy_curves(curves: dict, path, max_threshold: float = MAX_THRESHOLD_M) -> None:
    """PNG of accuracy against the ADD(-S) threshold (0..10 cm), one line per named set of errors."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    th = np.linspace(0, max_threshold, 201)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, errors in curves.items():
        ax.plot(th * 100, accuracy_curve(errors, th) * 100, label=f"{name} (AUC {auc_adds(errors, max_threshold):.1f})")
    ax.set_xlabel("ADD(-S) threshold (cm)")
    ax.set_ylabel("accuracy (%)")
    ax.set_xlim(0, max_threshold * 100)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
