"""Which parts of DeepRM matter on the demo task: one change at a time from config/demo_correlation.yaml, every
run on the same budget and seeds, each evaluated on the held-out raster split at 1/2/4/8/12 iterations.

    python bench/ablation.py                       # train + evaluate every variant not yet done, then the table
    python bench/ablation.py --variants base mlp   # some of them
    python bench/ablation.py --report-only         # the table and plot from what is finished

Resumable: a variant whose evaluation exists is skipped; one whose training stopped continues (--resume). Runs go to
runs/ablation/<variant>, evaluations to eval/ablation/<variant>; the table (markdown + JSON, with each variant's
metrics) and a plot of AUC against test iterations go to --out, which is committed.

The budget (600 steps, learning rate 3e-4 dropped x0.3 at step 450) is a quarter of the bundled model's schedule:
on 2 cores a run takes about 30 minutes. Rotation starts to be learned at about 300 steps with this recipe
(docs/results/rotation_study.md), so 600 steps tells apart variants that learn it from those that do not yet.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE_CONFIG = "config/demo_correlation.yaml"
BUDGET = ["optim.epochs=2", "optim.steps_per_epoch=300", "optim.milestones=[1.5]", "train.seed=0"]

# name -> (what changes, --set overrides on top of the base config and the budget)
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "base": ("LSTM, flow weight 0.1, 3 train iterations, correlation matching", []),
    "mlp": ("MLP instead of the LSTM", ["model.recurrent=mlp"]),
    "gru": ("GRU instead of the LSTM", ["model.recurrent=gru"]),
    "flow0": ("no flow head (flow weight 0)", ["loss.flow_weight=0", "model.with_flow=false"]),
    "iters2": ("2 unrolled train iterations", ["train.iterations=2"]),
    "iters4": ("4 unrolled train iterations", ["train.iterations=4"]),
    "fusion": ("early fusion (the paper's 6-channel backbone) instead of correlation", ["model.matching=fusion"]),
}
TEST_ITERATIONS = [1, 2, 4, 8, 12]


def train_command(name: str, runs: Path) -> list[str]:
    sets = BUDGET + VARIANTS[name][1]
    cmd = [sys.executable, "-m", "deeprm_ros.train", "--config", BASE_CONFIG, "--out", str(runs / name), "--resume"]
    for s in sets:
        cmd += ["--set", s]
    return cmd


def eval_command(name: str, runs: Path, evals: Path, data: str) -> list[str]:
    return [sys.executable, "-m", "deeprm_ros.evaluate", "--checkpoint", str(runs / name), "--data", data,
            "--split", "test", "--targets", "test_targets_bop19.json", "--seed", "1", "--backend", "onnx",
            "--iterations", *map(str, TEST_ITERATIONS), "--out", str(evals / name)]


def run_variant(name: str, runs: Path, evals: Path, data: str) -> None:
    if (evals / name / "metrics.json").exists():
        print(f"[{name}] evaluated already", flush=True)
        return
    for cmd in (train_command(name, runs), eval_command(name, runs, evals, data)):
        print(f"[{name}] {' '.join(cmd[1:])}", flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True)


def report(evals: Path, out: Path) -> None:
    """Table (markdown, JSON) and plot of every evaluated variant."""
    # Variants evaluated in earlier sessions live only in the committed table (runs/ and eval/ are not kept).
    committed = out / "ablation.json"
    earlier = json.loads(committed.read_text()) if committed.exists() else {}
    found = {}
    for name in VARIANTS:
        f = evals / name / "metrics.json"
        if f.exists():
            found[name] = json.loads(f.read_text())
    n_targets = next((m["targets"] for m in found.values()), earlier.get("targets", 1056))
    rows = {name: found[name]["results"] if name in found else earlier.get("results", {}).get(name)
            for name in VARIANTS}
    rows = {name: res for name, res in rows.items() if res}
    out.mkdir(parents=True, exist_ok=True)
    committed.write_text(json.dumps({"budget": BUDGET, "base_config": BASE_CONFIG, "targets": n_targets,
                                     "variants": {n: VARIANTS[n][1] for n in rows}, "results": rows}, indent=1))
    keys = ["initial"] + [f"{k} iter" for k in TEST_ITERATIONS]
    lines = ["| variant | change | " + " | ".join(keys) + " | rot. (deg) at 4 / 12 |",
             "|---|---|" + "---|" * len(keys) + "---|"]
    for name, res in rows.items():
        aucs = " | ".join(f"{res[k]['auc_adds']:.1f}" if k in res else "-" for k in keys)
        rot = f"{res['4 iter']['median_rotation_deg']:.2f} / {res['12 iter']['median_rotation_deg']:.2f}"
        lines.append(f"| {name} | {VARIANTS[name][0]} | {aucs} | {rot} |")
    table = f"AUC of ADD(-S) on the raster test split ({n_targets:,} targets, seed 1)\n\n" + "\n".join(lines) + "\n"
    (out / "table.md").write_text(table)
    print(table)
    if rows:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(1, 2, figsize=(11, 4))
        its = [0] + TEST_ITERATIONS
        for name, res in rows.items():
            ax[0].plot(its, [res[k]["auc_adds"] for k in keys], marker="o", label=name)
            ax[1].plot(its, [res[k]["median_rotation_deg"] for k in keys], marker="o", label=name)
        ax[0].set(xlabel="test iterations", ylabel="AUC of ADD(-S)", title="accuracy")
        ax[1].set(xlabel="test iterations", ylabel="median rotation error (deg)", title="rotation")
        for a in ax:
            a.grid(alpha=0.3)
        ax[0].legend()
        fig.suptitle(f"ablation from {BASE_CONFIG}, 600 steps each")
        fig.tight_layout()
        fig.savefig(out / "ablation.png", dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument("--data", default="datasets/demo")
    p.add_argument("--runs", default="runs/ablation")
    p.add_argument("--evals", default="eval/ablation")
    p.add_argument("--out", default="docs/results/ablation")
    p.add_argument("--report-only", action="store_true")
    args = p.parse_args(argv)
    runs, evals, out = ROOT / args.runs, ROOT / args.evals, ROOT / args.out
    if not args.report_only:
        for name in args.variants:
            run_variant(name, runs, evals, args.data)
            report(evals, out)
    report(evals, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
