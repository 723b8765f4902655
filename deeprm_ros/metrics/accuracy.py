"""Accuracy summaries: the YCB-Video AUC of ADD(-S) and the ADD(-S) < 10% diameter rate (LM-O).

Missing estimates are passed as inf (or NaN) errors: they count in the denominator and never as correct.
"""
from __future__ import annotations

import numpy as np

MAX_THRESHOLD_M = 0.1


def _errors(errors_m) -> np.ndarray:
    e = np.asarray(errors_m, dtype=np.float64).reshape(-1)
    return np.where(np.isfinite(e), e, np.inf)


def auc_adds(errors_m, max_threshold: float = MAX_THRESHOLD_M) -> float:
    """Area under the accuracy-threshold curve over 0..max_threshold, normalized to 0..100.

    A line-by-line port of the YCB-Video toolbox (`D(D > 0.1) = inf; d = sort(D); accuracy = (1:n)/n;
    VOCap(d, accuracy)`), including its quirks: each interval (d[k-1], d[k]] is credited with the accuracy
    *after* d[k] (k/n, not (k-1)/n), and for tied errors only the first of the tie counts at its interval.
    The toolbox's `* 10` is `/ 0.1`, i.e. / max_threshold here. No finite error within the threshold -> 0
    (the MATLAB code would fail on prec(end) of an empty array).
    """
    e = _errors(errors_m)
    n = len(e)
    if n == 0:
        return 0.0
    e[e > max_threshold] = np.inf
    d = np.sort(e)
    accuracy = np.arange(1, n + 1, dtype=np.float64) / n
    keep = np.isfinite(d)
    rec, prec = d[keep], accuracy[keep]
    if len(rec) == 0:
        return 0.0
    mrec = np.concatenate([[0.0], rec, [max_threshold]])
    mpre = np.concatenate([[0.0], prec, [prec[-1]]])
    mpre = np.maximum.accumulate(mpre)  # `for i = 2:numel(mpre) mpre(i) = max(mpre(i), mpre(i-1))`
    i = np.nonzero(mrec[1:] != mrec[:-1])[0] + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]) / max_threshold * 100.0)


def accuracy_curve(errors_m, thresholds) -> np.ndarray:
    """Fraction of estimates with error <= each threshold (the curve whose area auc_adds measures)."""
    e = _errors(errors_m)
    th = np.asarray(thresholds, dtype=np.float64)
    if len(e) == 0:
        return np.zeros(th.shape)
    return (e[None, :] <= th.reshape(-1, 1)).mean(axis=1).reshape(th.shape)


def fraction_below_diameter(errors_m, diameters_m, fraction: float = 0.1) -> float:
    """Percentage of estimates with ADD(-S) strictly below fraction x the object diameter (LM-O's metric).

    diameters_m: one diameter for all or one per error."""
    e = _errors(errors_m)
    if len(e) == 0:
        return 0.0
    d = np.broadcast_to(np.asarray(diameters_m, dtype=np.float64).reshape(-1), e.shape)
    return float((e < fraction * d).mean() * 100.0)


def plot_accuracy_curves(curves: dict, path, max_threshold: float = MAX_THRESHOLD_M) -> None:
    """PNG of accuracy against the ADD(-S) threshold (0..10 cm), one line per named set of errors, AUC in the legend."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    th = np.linspace(0, max_threshold, 201)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, errors in curves.items():
        ax.step(th * 100, accuracy_curve(errors, th) * 100, where="post",
                label=f"{name} (AUC {auc_adds(errors, max_threshold):.1f})")
    ax.set_xlabel("ADD(-S) threshold (cm)")
    ax.set_ylabel("accuracy (%)")
    ax.set_xlim(0, max_threshold * 100)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
