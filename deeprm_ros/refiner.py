"""The iterative render-and-compare loop (DeepRM Fig. 2), shared by training, evaluation and the ROS node.

Each iteration: render every object alone at its current pose (full frame, paper section 3.3), cut the
same CosyPose crop from the observed and the rendered image, run one network step with the object's
recurrent state, and apply the predicted (vx, vy, vz, q). Like RAFT's forward(iters=...), every
iteration's poses are returned.

Gradients: the pose entering an iteration is detached (the renderer is not differentiable and
DeepIM/CosyPose train each step as a fresh update); the recurrent state is NOT detached, so the
LSTM learns across iterations through back-propagation in time.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .geometry import apply_pose_update, crop_and_resize, crop_intrinsics, deepim_boxes, rotation_angle_deg


@dataclass
class IterationRecord:
    """What training needs from one iteration besides the pose (flow targets, crops)."""
    T_input: torch.Tensor
    K_crop: torch.Tensor
    boxes: torch.Tensor
    flows: list | None = None
    rendered_depth: torch.Tensor | None = None   # (B, h, w) metres, crop
    rendered_valid: torch.Tensor | None = None   # (B, h, w) bool
    pair: torch.Tensor | None = None             # (B, 6, h, w), kept only on request (debugging, overlays)
    render_ms: float = 0.0


@dataclass
class RefinerOutput:
    poses: list                                  # one (B, 4, 4) tensor per iteration
    state: tuple
    timings_ms: dict = field(default_factory=dict)
    translation_update_mm: np.ndarray | None = None   # size of the last iteration's update, per object
    rotation_update_deg: np.ndarray | None = None
    records: list = field(default_factory=list)


def _to_image_tensor(images, device) -> torch.Tensor:
    """(N, H, W, 3) uint8 numpy/torch -> (N, 3, H, W) float in [0, 1]."""
    t = torch.as_tensor(images)
    if t.dim() == 3:
        t = t.unsqueeze(0)
    return t.to(device).permute(0, 3, 1, 2).float().div_(255.0)


class Refiner:
    def __init__(self, model, renderer, models: dict, device="cpu", n_box_points: int = 256, amp: bool = False,
                 render_full_frame: bool = False):
        self.model = model
        # The paper renders the full 640x480 frame and cuts the crop from it; rendering straight into the
        # crop with the crop's intrinsics (CosyPose) gives the same geometry without a full-frame readback
        # and resampling (about 100 ms per iteration for 16 objects on a 2-core CPU). Both are supported.
        self.render_full_frame = render_full_frame
        self.amp = amp and torch.device(device).type == "cuda"  # mixed precision for the network only
        self.renderer = renderer
        self.device = torch.device(device)
        self.crop_size = tuple(model.config.input_size)
        # The crop box needs the projected extent of each object: a fixed-size subset of its points.
        self.box_points = {oid: torch.as_tensor(m.points[:n_box_points], dtype=torch.float32)
                           for oid, m in models.items()}

    def _points_of(self, obj_ids) -> torch.Tensor:
        try:
            return torch.stack([self.box_points[int(o)] for o in obj_ids]).to(self.device)
        except KeyError as e:
            raise KeyError(f"unknown object id {e.args[0]}: known ids {sorted(self.box_points)}") from None

    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def render_and_crop(self, obs, K, T_in, obj_ids, points, image_index, with_depth: bool = False):
        """The network's input for poses T_in: the CosyPose box of each object, the object rendered there
        and the same crop of the observed image, as one (B, 6, h, w) pair in [0, 1]; plus the record
        (box, K_crop, and with_depth the rendered depth and mask that flow targets need)."""
        dev = self.device
        t0 = time.perf_counter()
        boxes = deepim_boxes(K, points, T_in, out_size=self.crop_size)
        K_crop = crop_intrinsics(K, boxes, self.crop_size)
        T_np = T_in.cpu().numpy()
        if self.render_full_frame:
            rgb, depth = self.renderer.render_each(K.cpu().numpy(), obj_ids, T_np)
        else:
            rgb, depth = self.renderer.render_each(K_crop.cpu().numpy(), obj_ids, T_np, size=self.crop_size)
        t1 = time.perf_counter()
        obs_crop = crop_and_resize(obs, boxes, self.crop_size, image_index)
        rend = _to_image_tensor(rgb, dev)
        d = torch.as_tensor(depth, device=dev).unsqueeze(1)
        rend_crop = crop_and_resize(rend, boxes, self.crop_size) if self.render_full_frame else rend
        record = IterationRecord(T_in, K_crop, boxes, render_ms=(t1 - t0) * 1e3)
        if with_depth:
            if self.render_full_frame:
                m = (d > 0).float()
                d_crop = crop_and_resize(d, boxes, self.crop_size)
                m_crop = crop_and_resize(m, boxes, self.crop_size)
                valid = (m_crop > 0.99).squeeze(1)
                record.rendered_depth = (d_crop / m_crop.clamp_min(1e-6)).squeeze(1) * valid
            else:
                valid = (d > 0).squeeze(1)
                record.rendered_depth = d.squeeze(1)
            record.rendered_valid = valid
        return torch.cat([obs_crop, rend_crop], dim=1), record

    def run(self, images, K, poses, obj_ids, n_iterations: int, state=None, image_index=None,
            train: bool = False, keep_pairs: bool = False) -> RefinerOutput:
        """Refine B objects for n_iterations.

        images: (N, H, W, 3) uint8 (or already a (N, 3, H, W) float tensor); image_index (B,) says which
        image each object is in (default: object i in image i, N == B). K: (B, 3, 3); poses: (B, 4, 4)
        metres; obj_ids: (B,). state: the recurrent state from a previous call, or None (zeros).
        With train=True the graph is kept and each record carries flows and rendered depth crops.
        """
        dev = self.device
        obs = images if (torch.is_tensor(images) and images.dim() == 4 and images.shape[1] == 3) \
            else _to_image_tensor(images, dev)
        obs = obs.to(dev)
        K = torch.as_tensor(K, dtype=torch.float32, device=dev)
        T = torch.as_tensor(poses, dtype=torch.float32, device=dev)
        B = T.shape[0]
        if image_index is None:
            image_index = torch.arange(B, device=dev)
        image_index = torch.as_tensor(image_index, device=dev)
        obj_ids = np.asarray(obj_ids, dtype=np.int64)
        points = self._points_of(obj_ids)
        times = dict(render=0.0, crop=0.0, network=0.0, update=0.0)
        out_poses, records = [], []
        t_start = time.perf_counter()
        grad = torch.enable_grad() if train else torch.no_grad()
        with grad:
            for _ in range(n_iterations):
                T_in = T.detach()
                t0 = time.perf_counter()
                pair, record = self.render_and_crop(obs, K, T_in, obj_ids, points, image_index, with_depth=train)
                t1 = t0 + record.render_ms / 1e3
                self.current = record  # what the network is looking at (diagnostics, oracle tests)
                if keep_pairs:
                    record.pair = pair.detach()
                self._sync()
                t2 = time.perf_counter()
                with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.amp):
                    step = self.model(pair, state, with_flow=train and self.model.flow_decoder is not None)
                if self.amp:  # geometry stays in float32
                    step.translation, step.quaternion = step.translation.float(), step.quaternion.float()
                    step.state = tuple(s.float() for s in step.state)
                self._sync()
                t3 = time.perf_counter()
                T = apply_pose_update(T_in, step.translation, step.quaternion, record.K_crop)
                state = step.state
                record.flows = step.flows
                out_poses.append(T)
                records.append(record)
                t4 = time.perf_counter()
                times["render"] += (t1 - t0) * 1e3
                times["crop"] += (t2 - t1) * 1e3
                times["network"] += (t3 - t2) * 1e3
                times["update"] += (t4 - t3) * 1e3
        times["total"] = (time.perf_counter() - t_start) * 1e3
        result = RefinerOutput(out_poses, state, times, records=records)
        if out_poses:
            last_in, last_out = records[-1].T_input, out_poses[-1].detach()
            result.translation_update_mm = ((last_out[:, :3, 3] - last_in[:, :3, 3]).norm(dim=-1) * 1e3).cpu().numpy()
            dR = last_out[:, :3, :3] @ last_in[:, :3, :3].transpose(-1, -2)
            result.rotation_update_deg = rotation_angle_deg(dR).cpu().numpy()
        return result
