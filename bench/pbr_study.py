"""What the photoreal training stage gained from each of its changes: path-traced images, augmentation, more steps.

`config/demo_pbr.yaml` took the stage-1 bundle (raster images only) from AUC 82.7 to 87.4 on the path-traced test
split, changing three things at once. This study separates them in a 2 x 2 design, every run starting from the
stage-1 bundle (git f9356ac's data/demo/checkpoint) with the same budget and seed:

    variant        training images           augmentation
    raster         raster                    off          (more steps only)
    raster_aug     raster                    on
    pbr            raster + path-traced      off
    pbr_aug        raster + path-traced      on           (the demo_pbr recipe at this budget)

    python bench/pbr_study.py                       # train + evaluate what is not done yet, then the table
    python bench/pbr_study.py --variants raster pbr
    python bench/pbr_study.py --report-only

Needs datasets/demo (raster train + test) and datasets/demo_pbr (train_pbr 725 images seed 0, test 300 images
seed 1, both `--textures procedural --stack-probability 0`); commands in docs/results/pbr.md. Resumable like
bench/ablation.py: runs/pbr_study/<variant>, eval/pbr_study/<variant>_{pbr,raster}; table and plot to --out.
Each run is 300 steps at learning rate 1e-4 (the first quarter of demo_pbr's schedule): about 13 minutes on 2
cores, plus 4 for the two evaluations at 4 iterations.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE_CONFIG = "config/demo_pbr.yaml"
STAGE1_COMMIT = "f9356ac"
STAGE1_FILES = ["config.json", "model.safetensors"]
BUDGET = ["optim.epochs=1", "optim.steps_per_epoch=300", "optim.milestones=[2]", "train.seed=0"]
RASTER_ONLY = "data.split=[train_pbr]"
NO_AUGMENTATION = "data.augmentation.enabled=false"

# name -> (what it trains on, --set overrides on top of the base config and the budget)
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "raster": ("raster images, no augmentation (more steps only)", [RASTER_ONLY, NO_AUGMENTATION]),
    "raster_aug": ("raster images, augmentation", [RASTER_ONLY]),
    "pbr": ("raster + path-traced images, no augmentation", [NO_AUGMENTATION]),
    "pbr_aug": ("raster + path-traced images, augmentation (demo_pbr)", []),
}
TEST_SPLITS = {"pbr": "datasets/demo_pbr", "raster": "datasets/demo"}
TEST_ITERATIONS = [4]


def stage1_bundle(runs: Path) -> Path:
    """The stage-1 bundle's weights, taken from git history (the bundle in data/demo is its successor)."""
    out = runs / "stage1_bundle"
    if all((out / f).exists() for f in STAGE1_FILES):
        return out
    out.mkdir(parents=True, exist_ok=True)
    for f in STAGE1_FILES:
        blob = subprocess.run(["git", "show", f"{STAGE1_COMMIT}:data/demo/checkpoint/{f}"], cwd=ROOT,
                              check=True, capture_output=True).stdout
        (out / f).write_bytes(blob)
    return out


def train_command(name: str, runs: Path, init: Path) -> list[str]:
    cmd = [sys.executable, "-m", "deeprm_ros.train", "--config", BASE_CONFIG, "--out", str(runs / name), "--resume"]
    for s in BUDGET + [f"train.init_weights={init}"] + VARIANTS[name][1]:
        cmd += ["--set", s]
    return cmd


def eval_command(checkpoint: Path, data: str, out: Path) -> list[str]:
    return [sys.executable, "-m", "deeprm_ros.evaluate", "--checkpoint", str(checkpoint), "--data", data,
            "--split", "test", "--targets", "test_targets_bop19.json", "--seed", "1", "--backend", "onnx",
            "--iterations", *map(str, TEST_ITERATIONS), "--out", str(out)]


def run_variant(name: str, runs: Path, evals: Path, init: Path) -> None:
    if all((evals / f"{name}_{split}" / "metrics.json").exists() for split in TEST_SPLITS):
        print(f"[{name}] evaluated already", flush=True)
        return
    cmds = [train_command(name, runs, init)]
    cmds += [eval_command(runs / name, data, evals / f"{name}_{split}") for split, data in TEST_SPLITS.items()]
    for cmd in cmds:
        print(f"[{name}] {' '.join(cmd[1:])}", flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True)


def report(evals: Path, out: Path) -> None:
    """Table (markdown, JSON) and a bar plot of every evaluated variant; earlier sessions' rows are kept."""
    committed = out / "pbr_study.json"
    earlier = json.loads(committed.read_text()).get("results", {}) if committed.exists() else {}
    rows = {}
    for name in VARIANTS:
        found = {split: evals / f"{name}_{split}" / "metrics.json" for split in TEST_SPLITS}
        if all(f.exists() for f in found.values()):
            rows[name] = {split: json.loads(f.read_text())["results"] for split, f in found.items()}
        elif name in earlier:
            rows[name] = earlier[name]
    out.mkdir(parents=True, exist_ok=True)
    committed.write_text(json.dumps({"budget": BUDGET, "base_config": BASE_CONFIG, "init": STAGE1_COMMIT,
                                     "variants": {n: VARIANTS[n][1] for n in rows}, "results": rows}, indent=1))
    it = f"{TEST_ITERATIONS[-1]} iter"
    lines = [f"| variant | trained on | PBR AUC, {it} | PBR rot. (deg) | raster AUC, {it} | raster rot. (deg) |",
             "|---|---|---|---|---|---|"]
    for name, res in rows.items():
        cells = [f"{res[s][it]['auc_adds']:.1f} | {res[s][it]['median_rotation_deg']:.2f}" for s in TEST_SPLITS]
        lines.append(f"| {name} | {VARIANTS[name][0]} | " + " | ".join(cells) + " |")
    table = (f"From the stage-1 bundle (git {STAGE1_COMMIT}), 300 steps each, seed 1 test poses\n\n"
             + "\n".join(lines) + "\n")
    (out / "pbr_study_table.md").write_text(table)
    print(table)
    if rows:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(7, 3.5))
        names = list(rows)
        for k, split in enumerate(TEST_SPLITS):
            ax.bar([i + 0.4 * k for i in range(len(names))], [rows[n][split][it]["auc_adds"] for n in names],
                   width=0.4, label=f"{split} test split")
        ax.set_xticks([i + 0.2 for i in range(len(names))], names)
        ax.set(ylabel=f"AUC of ADD(-S), {it}", ylim=(75, 90), title="300 steps from the stage-1 bundle")
        ax.legend()
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "pbr_study.png", dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument("--runs", default="runs/pbr_study")
    p.add_argument("--evals", default="eval/pbr_study")
    p.add_argument("--out", default="docs/results/pbr_study")
    p.add_argument("--report-only", action="store_true")
    args = p.parse_args(argv)
    runs, evals, out = ROOT / args.runs, ROOT / args.evals, ROOT / args.out
    if not args.report_only:
        init = stage1_bundle(runs)
        for name in args.variants:
            run_variant(name, runs, evals, init)
            report(evals, out)
    report(evals, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
