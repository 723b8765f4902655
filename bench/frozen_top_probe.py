"""Does DeepRM's top (1x1 reduction -> flattened recurrent stack -> heads) learn rotation from frozen features?

Crop pairs with rotation-only noise are made once with the refiner's own render-and-crop; the backbone's last
map is cached; then only the top is trained (Adam, batches of 16, the rotation point-matching loss) on the first
three quarters and the median rotation error of the held-out quarter is printed as it goes. Memorizing (train error
falls, held-out error does not) says the top needs more distinct samples than it was given.

    python bench/frozen_top_probe.py --matching fusion --reduce 128
    python bench/frozen_top_probe.py --matching correlation --reduce 16 --correlation-only
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="datasets/demo")
    p.add_argument("--matching", default="fusion", choices=["fusion", "correlation"])
    p.add_argument("--correlation-only", action="store_true", help="correlation: the pose path sees its encoding alone")
    p.add_argument("--reduce", type=int, default=128, help="channels of the 1x1 reduction before flattening")
    p.add_argument("--normalize-every-layer", type=int, default=1)
    p.add_argument("--batches", type=int, default=150, help="batches of 16 crop pairs to cache")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)

    from deeprm_ros.data.batches import BatchSampler
    from deeprm_ros.data.bop import BopDataset
    from deeprm_ros.geometry import quat_to_matrix, rotation_angle_deg
    from deeprm_ros.meshes import load_object_library
    from deeprm_ros.model import DeepRM, ModelConfig
    from deeprm_ros.refiner import Refiner, _to_image_tensor
    from deeprm_ros.render import Renderer

    root = Path(args.data)
    models = load_object_library(root / "models", unit="mm", n_points=300)
    sampler = BatchSampler(BopDataset(root, "train_pbr"), 8, 2, 0.2, 15.0, (0.0, 0.0, 0.0), set(models))
    net = DeepRM(ModelConfig(phi=0, family="efficientnet_lite", pretrained=True, matching=args.matching,
                             correlation_appearance=not args.correlation_only, stem_init="split",
                             reduce_channels=args.reduce, input_size=(120, 160), hidden_sizes=(256, 256, 128),
                             with_flow=False, normalize_every_layer=bool(args.normalize_every_layer)))
    first = sampler.sample(args.seed, 0, 0)
    renderer = Renderer(models, width=first.images.shape[2], height=first.images.shape[1])
    refiner = Refiner(net, renderer, models)
    feats, dRs, pts = [], [], []
    net.eval()
    with torch.no_grad():
        for step in range(args.batches):
            b = sampler.sample(args.seed, 0, step)
            pair, _ = refiner.render_and_crop(_to_image_tensor(b.images, "cpu"), torch.as_tensor(b.K, dtype=torch.float32),
                                              torch.as_tensor(b.T_init, dtype=torch.float32), b.obj_ids, b.image_index)
            feats.append(net.backbone(pair)[-1])
            dRs.append(torch.as_tensor(b.T_gt[:, :3, :3] @ np.swapaxes(b.T_init[:, :3, :3], 1, 2), dtype=torch.float32))
            pts.append(torch.stack([torch.as_tensor(models[int(o)].points[:300]) for o in b.obj_ids]))
    renderer.release()
    F, DR, P = torch.cat(feats), torch.cat(dRs), torch.cat(pts)
    n, n_train = len(F), int(len(F) * 0.75)
    top = [m for m in (net.reduce, net.recurrent, net.heads) if m is not None]
    opt = torch.optim.Adam([q for m in top for q in m.parameters()], lr=args.lr)

    def rotations(x):
        if net.reduce is not None:
            x = net.reduce(x)
        h, _ = net.recurrent(x.flatten(1), None)
        return quat_to_matrix(net.heads(h)[1])

    def median_error(idx):
        with torch.no_grad():
            return float(rotation_angle_deg(rotations(F[idx]).transpose(1, 2) @ DR[idx]).median())

    held, train = torch.arange(n_train, n), torch.arange(n_train)
    print(f"{n} pairs ({n_train} to train); held-out median rotation error with no update: "
          f"{float(rotation_angle_deg(DR[held]).median()):.2f} deg")
    print("| step | train median (deg) | held-out median (deg) |\n|---|---|---|")
    t0 = time.perf_counter()
    for step in range(args.steps + 1):
        if step % max(1, args.steps // 5) == 0:
            for m in top:
                m.eval()
            print(f"| {step} | {median_error(train):.2f} | {median_error(held):.2f} |", flush=True)
            for m in top:
                m.train()
        idx = torch.randint(0, n_train, (16,))
        R = rotations(F[idx])
        loss = ((P[idx] @ R.transpose(1, 2)) - (P[idx] @ DR[idx].transpose(1, 2))).abs().sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"({time.perf_counter() - t0:.0f} s of training)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
