"""A dataset of ours and our BOP results CSV through the official BOP toolkit's own code (bop_toolkit_lib: its
loaders, its ADD / ADI / rotation / translation errors, its symmetry transformations, its instance matching by
error), as a check of both: the files load unchanged, and the toolkit's AUC of ADD(-S) and median errors agree
with `deeprm_ros.evaluate`'s metrics.json for the same estimates (docs/results/pbr.md has a run).

    git clone https://github.com/thodan/bop_toolkit /tmp/bop_toolkit     # not a pip package
    PYTHONPATH=/tmp/bop_toolkit python bench/bop_toolkit_check.py datasets/demo test eval/X/deeprm-iter8_demo-test.csv

It needs only numpy, scipy, pypng and imageio besides the toolkit. The AUC is the YCB-Video one (0 to 10 cm), as
deeprm_ros.metrics computes it, over the toolkit's errors.
"""
import glob
import os
import sys
from collections import defaultdict

import numpy as np
from bop_toolkit_lib import inout, misc, pose_error

root, split, csv = sys.argv[1], sys.argv[2], sys.argv[3]
models_info = inout.load_json(os.path.join(root, "models_eval", "models_info.json"), keys_to_int=True)
models = {oid: inout.load_ply(os.path.join(root, "models_eval", f"obj_{oid:06d}.ply")) for oid in models_info}
targets = inout.load_json(os.path.join(root, "test_targets_bop19.json"))
scenes = sorted(glob.glob(os.path.join(root, split, "*")))
gts, infos, cams = {}, {}, {}
for sc in scenes:
    sid = int(os.path.basename(sc))
    gts[sid] = inout.load_scene_gt(os.path.join(sc, "scene_gt.json"))
    infos[sid] = inout.load_json(os.path.join(sc, "scene_gt_info.json"), keys_to_int=True)
    cams[sid] = inout.load_scene_camera(os.path.join(sc, "scene_camera.json"))
print(f"{root}/{split}: {len(scenes)} scenes, {sum(len(g) for g in gts.values())} images, {len(targets)} targets, "
      f"models {sorted(models)} loaded by bop_toolkit_lib.inout")
ests = inout.load_bop_results(csv)
by_key = defaultdict(list)
for e in ests:
    by_key[(e["scene_id"], e["im_id"], e["obj_id"])].append(e)
syms = {oid: misc.get_symmetry_transformations(models_info[oid], max_sym_disc_step=0.01) for oid in models_info}
def auc_of(errs):
    e = np.array(errs, float).copy(); e[e > 0.1] = np.inf; d = np.sort(e); n = len(d); acc = np.arange(1, n + 1) / n
    fin = np.isfinite(d)
    mrec = np.concatenate([[0.0], d[fin], [0.1]]); mpre = np.concatenate([[0.0], acc[fin], [acc[fin][-1] if fin.any() else 0]])
    for i in range(1, len(mpre)): mpre[i] = max(mpre[i], mpre[i - 1])
    i = np.where(mrec[1:] != mrec[:-1])[0] + 1
    return np.sum((mrec[i] - mrec[i - 1]) * mpre[i]) / 0.1 * 100


errs, rots, trans, oids = [], [], [], []
def scored(e, g, oid):
    pts = models[oid]["pts"]
    symmetric = "symmetries_discrete" in models_info[oid] or "symmetries_continuous" in models_info[oid]
    f = pose_error.adi if symmetric else pose_error.add
    return f(e["R"], e["t"], g["cam_R_m2c"], g["cam_t_m2c"], pts)

for t in targets:
    sid, iid, oid = t["scene_id"], t["im_id"], t["obj_id"]
    gt_list = [g for g in gts[sid][iid] if g["obj_id"] == oid]
    free = list(range(len(gt_list)))
    for e in sorted(by_key.get((sid, iid, oid), []), key=lambda e: -e["score"]):
        if not free:
            break
        dists = [scored(e, gt_list[j], oid) for j in free]
        j = free.pop(int(np.argmin(dists)))
        g, d = gt_list[j], min(dists)
        best = min(syms[oid], key=lambda s: pose_error.re(e["R"], g["cam_R_m2c"].dot(s["R"])))
        R_s = g["cam_R_m2c"].dot(best["R"]); t_s = g["cam_R_m2c"].dot(best["t"]) + g["cam_t_m2c"]
        oids.append(oid); errs.append(d / 1000.0); rots.append(pose_error.re(e["R"], R_s)); trans.append(pose_error.te(e["t"], t_s))
errs = np.array(errs)
print(f"{len(errs)} estimates scored with bop_toolkit_lib.pose_error: AUC of ADD(-S) {auc_of(errs):.3f}, "
      f"median rotation {np.median(rots):.3f} deg, median translation {np.median(trans):.3f} mm")

oids = np.array(oids)
print("per object (count, AUC):", {int(o): (int((oids == o).sum()), round(float(auc_of(errs[oids == o])), 2)) for o in sorted(set(oids))})
