"""Summaries and tables of pose errors: what evaluation and the demo print and write."""
from __future__ import annotations

import numpy as np

from .accuracy import auc_adds, fraction_below_diameter


def summarize(errors, rot, trans, obj_ids, diameters, valid) -> dict:
    """AUC of ADD(-S) (0..10 cm), ADD(-S) < 10% diameter, median errors; pooled and per object. Targets without
    an estimate (valid False) count as misses."""
    e = np.where(valid, errors, np.inf)
    obj_ids = np.asarray(obj_ids)
    out = {"auc_adds": float(auc_adds(e)), "adds_10pct": float(fraction_below_diameter(e, diameters)),
           "median_rotation_deg": float(np.median(np.where(valid, rot, np.inf))),
           "median_translation_mm": float(np.median(np.where(valid, trans, np.inf)) * 1e3),
           "per_object": {}}
    for oid in sorted(set(int(o) for o in obj_ids)):
        sel = obj_ids == oid
        out["per_object"][str(oid)] = {"auc_adds": float(auc_adds(e[sel])),
                                       "adds_10pct": float(fraction_below_diameter(e[sel], diameters[sel])),
                                       "count": int(sel.sum())}
    out["mean_over_objects_auc_adds"] = float(np.mean([v["auc_adds"] for v in out["per_object"].values()]))
    return out


def format_table(results: dict) -> str:
    """{name: summarize(...)} as a markdown table, one row per name."""
    lines = ["| poses | AUC of ADD(-S) | ADD(-S) < 10% d | median rot. err. (deg) | median transl. err. (mm) |",
             "|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['auc_adds']:.1f} | {r['adds_10pct']:.1f}% | {r['median_rotation_deg']:.2f} "
                     f"| {r['median_translation_mm']:.1f} |")
    return "\n".join(lines)
