"""Linear probe: do a network's features of the (observed, rendered) crop pair hold the rotation update?

Ridge regression from the features of a few thousand crop pairs to the rotation the refiner must predict (the
camera-frame rotation vector of dR = R_gt R_in^T). A held-out R^2 near 0 means those features lack the
information, so no head on top of them can learn it quickly; a clearly positive R^2 means the information is
there and the head or the optimization is at fault. Feature sets:

- `pixels`: the grey-level difference of the two crops at 1/4 resolution (a baseline);
- `fusion_s32` / `fusion_s16`: the 6-channel early-fusion backbone as DeepRM builds it (ImageNet Lite0,
  --stem split or repeat), its stride-32 map flattened, or its stride-16 map pooled to the same 4x5 grid;
- `siamese_s32`: each crop through the RGB Lite0 alone, both stride-32 maps flattened side by side;
- `corr_s8` / `corr_s16`: the local correlation of the two images' RGB Lite0 features (cosine similarity
  for displacements up to +-4 / +-3 feature cells), pooled to 4x5: what a correlation layer would give.

    python bench/rotation_probe.py --data datasets/demo --samples 2400 --perturbation rms
    python bench/rotation_probe.py --data datasets/demo --samples 2400 --perturbation inplane --rotation-std 20

Prints a markdown table (R^2 per rotation-vector component, camera x, y, z, and their mean) and writes it to --out.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch  # before the GL context
import timm
import numpy as np
import torch.nn.functional as F
from tqdm import tqdm


def ridge_r2(X: np.ndarray, Y: np.ndarray, n_train: int, lambdas=(1e-2, 1e-1, 1, 10, 100, 1e3, 1e4)) -> np.ndarray:
    """Held-out R^2 per target column of ridge regression (dual form, features standardized on the train
    part); lambda picked on the last fifth of the train part, then refit on all of it."""
    X = X.astype(np.float64)
    mu, sd = X[:n_train].mean(0), X[:n_train].std(0) + 1e-8
    X = (X - mu) / sd / np.sqrt(X.shape[1])
    Y = Y - Y[:n_train].mean(0)

    def fit_predict(tr, te, lam):
        G = X[tr] @ X[tr].T
        alpha = np.linalg.solve(G + lam * np.eye(len(tr)), Y[tr])
        return X[te] @ X[tr].T @ alpha

    def r2(pred, true):
        return 1 - ((pred - true) ** 2).sum(0) / ((true - true.mean(0)) ** 2).sum(0)

    n_fit = int(n_train * 0.8)
    tr, va = np.arange(n_fit), np.arange(n_fit, n_train)
    best = max(lambdas, key=lambda lam: r2(fit_predict(tr, va, lam), Y[va]).mean())
    te = np.arange(n_train, len(X))
    return r2(fit_predict(np.arange(n_train), te, best), Y[te])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="datasets/demo", help="BOP dataset root (holds models/)")
    p.add_argument("--split", default="train_pbr")
    p.add_argument("--samples", type=int, default=2400, help="crop pairs; the last quarter is held out")
    p.add_argument("--perturbation", default="rms", choices=["rms", "inplane"], help="rotation noise model")
    p.add_argument("--rotation-std", type=float, default=15.0, help="degrees")
    p.add_argument("--translation-std", type=float, nargs=3, default=[0.0, 0.0, 0.0], help="metres (x, y, z)")
    p.add_argument("--input-size", type=int, nargs=2, default=[120, 160], help="crop (height, width)")
    p.add_argument("--stem", default="split", choices=["split", "repeat"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="markdown file for the table")
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)

    from deeprm_ros.data.batches import BatchSampler
    from deeprm_ros.data.bop import BopDataset
    from deeprm_ros.meshes import load_object_library
    from deeprm_ros.model import DeepRM, ModelConfig
    from deeprm_ros.model.backbone import IMAGENET_MEAN, IMAGENET_STD
    from deeprm_ros.model.pretrained import load_imagenet
    from deeprm_ros.model.correlation import local_correlation as correlation
    from deeprm_ros.refiner import Refiner, _to_image_tensor
    from deeprm_ros.render import Renderer
    from scipy.spatial.transform import Rotation

    root = Path(args.data)
    models = load_object_library(root / "models", unit="mm", n_points=256)
    sampler = BatchSampler(BopDataset(root, args.split), 8, 2, 0.2, args.rotation_std, args.translation_std,
                           set(models), rotation_model=args.perturbation)
    fusion = DeepRM(ModelConfig(phi=0, family="efficientnet_lite", pretrained=True, stem_init=args.stem,
                                input_size=tuple(args.input_size), with_flow=False)).eval()
    rgb_net = timm.create_model("efficientnet_lite0", features_only=True, pretrained=False).eval()
    load_imagenet(rgb_net, "efficientnet_lite0")
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    first = sampler.sample(args.seed, 0, 0)
    renderer = Renderer(models, width=first.images.shape[2], height=first.images.shape[1])
    refiner = Refiner(fusion, renderer, models)

    feats = {k: [] for k in ("pixels", "fusion_s32", "fusion_s16", "siamese_s32", "corr_s8", "corr_s16")}
    targets = []
    t0 = time.perf_counter()
    bar = tqdm(total=args.samples, desc="crop pairs", dynamic_ncols=True)
    step = 0
    with torch.no_grad():
        while sum(len(t) for t in targets) < args.samples:
            b = sampler.sample(args.seed, 0, step)
            step += 1
            obs = _to_image_tensor(b.images, "cpu")
            K = torch.as_tensor(b.K, dtype=torch.float32)
            T_in = torch.as_tensor(b.T_init, dtype=torch.float32)
            pair, _ = refiner.render_and_crop(obs, K, T_in, b.obj_ids, b.image_index)
            dR = b.T_gt[:, :3, :3] @ np.swapaxes(b.T_init[:, :3, :3], 1, 2)
            targets.append(np.degrees(Rotation.from_matrix(dR).as_rotvec()))
            grey = pair.view(pair.shape[0], 2, 3, *pair.shape[-2:]).mean(2)
            feats["pixels"].append(F.avg_pool2d(grey[:, 0:1] - grey[:, 1:2], 4).flatten(1))
            f = fusion.backbone(pair)
            feats["fusion_s32"].append(f[-1].flatten(1))
            feats["fusion_s16"].append(F.adaptive_avg_pool2d(f[-2], f[-1].shape[-2:]).flatten(1))
            fo = rgb_net((pair[:, :3] - mean) / std)
            fr = rgb_net((pair[:, 3:] - mean) / std)
            feats["siamese_s32"].append(torch.cat([fo[-1], fr[-1]], 1).flatten(1))
            grid = fo[-1].shape[-2:]
            feats["corr_s8"].append(F.adaptive_avg_pool2d(correlation(fo[2], fr[2], 4), grid).flatten(1))
            feats["corr_s16"].append(F.adaptive_avg_pool2d(correlation(fo[3], fr[3], 3), grid).flatten(1))
            bar.update(len(dR))
    bar.close()
    renderer.release()
    Y = np.concatenate(targets)[: args.samples]
    n_train = int(len(Y) * 0.75)
    rows = []
    for name, chunks in feats.items():
        X = torch.cat(chunks).numpy()[: len(Y)]
        r2 = ridge_r2(X, Y, n_train)
        rows.append(f"| {name} | {X.shape[1]} | {r2[0]:.2f} | {r2[1]:.2f} | {r2[2]:.2f} | **{r2.mean():.2f}** |")
    head = (f"Linear probe ({len(Y)} crop pairs of {args.input_size[0]}x{args.input_size[1]}, {n_train} to fit; "
            f"rotation {args.perturbation} {args.rotation_std:g} deg, translation std {args.translation_std} m; "
            f"stem {args.stem}; {time.perf_counter() - t0:.0f} s)\n\n"
            "| features | dims | R^2 rot x | R^2 rot y | R^2 rot z | mean |\n|---|---|---|---|---|---|")
    table = head + "\n" + "\n".join(rows)
    print(table)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
