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
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from .geometry import (apply_pose_update, crop_and_resize, crop_intrinsics, deepim_boxes, rotation_angle_deg,
                       scale_pose_update)


@dataclass
class IterationRecord:
    """What training needs from one iteration besides the pose (flow targets, crops)."""
    T_input: torch.Tensor
    K_crop: torch.Tensor
    boxes: torch.Tensor
    flows: list | None = None
    rendered_depth: torch.Tensor | None = None   # (B, h, w) metres, crop
    rendered_valid: torch.Tensor | None = None   # (B, h, w) bool


@dataclass
class RefinerOutput:
    poses: list                                  # one (B, 4, 4) tensor per iteration
    state: tuple
    timings_ms: dict = field(default_factory=dict)
    translation_update_mm: np.ndarray | None = None   # size of the last iteration's update, per object
    rotation_update_deg: np.ndarray | None = None
    records: list = field(default_factory=list)

    @property
    def object_states(self) -> list:
        """The recurrent state of each object (batch dimension 1; None for a stateless MLP), to carry over."""
        from .model import split_state
        return split_state(self.state) if self.state else [None] * len(self.poses[-1] if self.poses else [])


STAGES = ("render", "crop", "network", "update")


class StageTimer:
    """Milliseconds per stage, summed over iterations. On a GPU it waits for the device at the end of each
    stage, so asynchronous work is counted in the stage that queued it."""

    def __init__(self, device):
        self.ms = dict.fromkeys(STAGES, 0.0)
        self.cuda = torch.device(device).type == "cuda"

    @contextmanager
    def __call__(self, stage: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            if self.cuda:
                torch.cuda.synchronize()
            self.ms[stage] += (time.perf_counter() - t0) * 1e3


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

    @classmethod
    def from_checkpoint(cls, checkpoint, models: dict, width: int, height: int, device="auto", backend="torch",
                        threads: int = 0, openvino_precision: str = "auto") -> "Refiner":
        """The inference refiner of a checkpoint folder for width x height images, with the network on the
        chosen backend: "torch" (on `device`; "auto" = cuda when available), "onnx" (onnxruntime, which
        takes the CUDA provider itself when it can; the refiner's own tensors then stay on the CPU, where
        onnxruntime takes and returns them) or "openvino" (the CPU, in openvino_precision: "auto" = bf16 where
        the CPU has it natively), or "auto" (backend_choice.py: the fastest of them here). threads > 0 caps the
        network's CPU threads. The refiner's `backend` says which one runs."""
        from .backend_choice import choose_backend
        from .checkpoint import load_config, load_model
        from .render import Renderer

        backend = choose_backend(backend, device)

        if threads:
            torch.set_num_threads(threads)
        if backend == "onnx":
            from .export import OnnxStepModel, ensure_onnx
            model = OnnxStepModel(ensure_onnx(checkpoint), load_config(checkpoint), threads=threads, device=device)
            device = "cpu"
        elif backend == "openvino":
            from .export import ensure_openvino
            from .openvino_step import OpenVinoStepModel
            model = OpenVinoStepModel(ensure_openvino(checkpoint), load_config(checkpoint), threads=threads,
                                      precision=openvino_precision)
            device = "cpu"
        elif backend == "torch":
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            model = load_model(checkpoint, device)
        refiner = cls(model, Renderer(models, width=width, height=height), models, device)
        refiner.backend = backend
        return refiner

    @property
    def network_device(self) -> str:
        """Where the network runs (an ONNX model on the CUDA provider runs on the GPU although the refiner's
        tensors stay on the CPU)."""
        return str(getattr(self.model, "device", self.device))

    def _points_of(self, obj_ids) -> torch.Tensor:
        try:
            return torch.stack([self.box_points[int(o)] for o in obj_ids]).to(self.device)
        except KeyError as e:
            raise KeyError(f"unknown object id {e.args[0]}: known ids {sorted(self.box_points)}") from None

    def render_and_crop(self, obs, K, T_in, obj_ids, image_index=None, with_depth: bool = False, timer=None,
                        points=None):
        """The network's input for poses T_in: the CosyPose box of each object, the object rendered there
        and the same crop of the observed image, as one (B, 6, h, w) pair in [0, 1]; plus the record
        (box, K_crop, and with_depth the rendered depth and mask that flow targets need).
        obs: (N, 3, H, W) float images; image_index (B,) which image each object is in (default: i -> i);
        points: the objects' box points (`_points_of(obj_ids)`), which `run` stacks once for all iterations."""
        dev = self.device
        timer = timer or StageTimer(dev)
        image_index = torch.arange(T_in.shape[0], device=dev) if image_index is None \
            else torch.as_tensor(image_index, device=dev)
        points = self._points_of(obj_ids) if points is None else points
        with timer("render"):
            boxes = deepim_boxes(K, points, T_in, out_size=self.crop_size)
            K_crop = crop_intrinsics(K, boxes, self.crop_size)
            T_np = T_in.cpu().numpy()
            if self.render_full_frame:
                rgb, depth = self.renderer.render_each(K.cpu().numpy(), obj_ids, T_np)
            else:
                rgb, depth = self.renderer.render_each(K_crop.cpu().numpy(), obj_ids, T_np, size=self.crop_size)
        with timer("crop"):
            obs_crop = crop_and_resize(obs, boxes, self.crop_size, image_index)
            rend = _to_image_tensor(rgb, dev)
            d = torch.as_tensor(depth, device=dev).unsqueeze(1)
            rend_crop = crop_and_resize(rend, boxes, self.crop_size) if self.render_full_frame else rend
            record = IterationRecord(T_in, K_crop, boxes)
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
            pair = torch.cat([obs_crop, rend_crop], dim=1)
        return pair, record

    def _step(self, pair, state, train: bool):
        """One network step, in mixed precision when enabled; the geometry after it stays in float32."""
        with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.amp):
            step = self.model(pair, state, with_flow=train and getattr(self.model, "flow_decoder", None) is not None)
        if self.amp:
            step.translation, step.quaternion = step.translation.float(), step.quaternion.float()
            step.state = tuple(s.float() for s in step.state)
        return step

    def run(self, images, K, poses, obj_ids, n_iterations: int, state=None, image_index=None,
            train: bool = False, update_gain=1.0) -> RefinerOutput:
        """Refine B objects for n_iterations.

        images: (N, H, W, 3) uint8 (or already a (N, 3, H, W) float tensor); image_index (B,) says which
        image each object is in (default: object i in image i, N == B). K: (B, 3, 3); poses: (B, 4, 4)
        metres; obj_ids: (B,). state: None (zeros), the batched state of a previous call, or a list of
        per-object states (`RefinerOutput.object_states`; None for a new object), for either backend.
        With train=True the graph is kept and each record carries flows and rendered depth crops.
        update_gain (a number or (B,)): the share of each predicted update applied (geometry.scale_pose_update;
        the tracker's tracking_update_gain for carried tracks).
        """
        dev = self.device
        obs = images if (torch.is_tensor(images) and images.dim() == 4 and images.shape[1] == 3) \
            else _to_image_tensor(images, dev)
        obs = obs.to(dev)
        K = torch.as_tensor(K, dtype=torch.float32, device=dev)
        T = torch.as_tensor(poses, dtype=torch.float32, device=dev)
        obj_ids = np.asarray(obj_ids, dtype=np.int64)
        points = self._points_of(obj_ids)
        if image_index is not None:
            image_index = torch.as_tensor(image_index, device=dev)
        if isinstance(state, list):
            from .model import stack_states
            state = stack_states(state, self.model, dev) if any(s is not None for s in state) else None
        timer = StageTimer(dev)
        out_poses, records = [], []
        t_start = time.perf_counter()
        with torch.enable_grad() if train else torch.no_grad():
            for _ in range(n_iterations):
                T_in = T.detach()
                pair, record = self.render_and_crop(obs, K, T_in, obj_ids, image_index, with_depth=train, timer=timer,
                                                    points=points)
                with timer("network"):
                    step = self._step(pair, state, train)
                with timer("update"):
                    T = apply_pose_update(T_in, *scale_pose_update(step.translation, step.quaternion, update_gain),
                                          record.K_crop)
                state, record.flows = step.state, step.flows
                out_poses.append(T)
                records.append(record)
        times = dict(timer.ms, total=(time.perf_counter() - t_start) * 1e3)
        result = RefinerOutput(out_poses, state, times, records=records)
        if out_poses:
            last_in, last_out = records[-1].T_input, out_poses[-1].detach()
            result.translation_update_mm = ((last_out[:, :3, 3] - last_in[:, :3, 3]).norm(dim=-1) * 1e3).cpu().numpy()
            dR = last_out[:, :3, :3] @ last_in[:, :3, :3].transpose(-1, -2)
            result.rotation_update_deg = rotation_angle_deg(dR).cpu().numpy()
        return result
