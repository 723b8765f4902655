"""CPU runtimes for the network step, side by side in one run: onnxruntime fp32 (the node's onnx backend today),
OpenVINO fp32 and bf16, and int8 after post-training static quantization calibrated on real crop pairs:
onnxruntime's quantize_static (QDQ, per-channel weights) run by onnxruntime, and NNCF's run by OpenVINO.

Models: the bundled demo model (its 120x160 input) and untrained B0 and B3 LSTM networks at 240x320 (weights do
not change the cost). Calibration pairs: the synthetic video's frames (data/sequence.py), each object cropped at
a noisy detection and rendered there (the refiner's own render_and_crop), with a zero state and the state after
one step. Prints milliseconds per object-iteration at 1 and 8 objects, and the int8 outputs' deviation from
fp32 on held-out pairs; writes the table as markdown.

    pip install openvino nncf     # not in the project's requirements yet: only this benchmark uses them
    python bench/cpu_runtimes.py --threads 2 --out docs/results/cpu_runtimes.md
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from deeprm_ros.checkpoint import load_model
from deeprm_ros.data.sequence import SyntheticSequence
from deeprm_ros.export import export_onnx
from deeprm_ros.meshes import load_object_library
from deeprm_ros.model import create_model
from deeprm_ros.openvino_step import block_telemetry
from deeprm_ros.refiner import Refiner
from deeprm_ros.render import Renderer

block_telemetry()  # before openvino and nncf are imported: both report usage over the network otherwise
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from refiner_benchmark import machine  # noqa: E402


def crop_pairs(model, models, renderer, n_frames: int, seed: int):
    """(pairs (N, 6, h, w) float32, states after one step (list of (N, w) arrays)) from the synthetic video."""
    seq = SyntheticSequence(models, renderer, seed=seed, detection_rate_hz=10.0)
    refiner = Refiner(model, renderer, models, "cpu")
    pairs = []
    for i in range(n_frames):
        f = seq.frame(i)
        n = len(seq.obj_ids)
        obs = torch.as_tensor(f.rgb).permute(2, 0, 1)[None].float().div(255.0)
        K = torch.as_tensor(np.repeat(seq.K[None], n, 0), dtype=torch.float32)
        T = torch.as_tensor(f.detections, dtype=torch.float32)
        pair, _ = refiner.render_and_crop(obs, K, T, seq.obj_ids, torch.zeros(n, dtype=torch.long))
        pairs.append(pair)
    pairs = torch.cat(pairs)
    with torch.no_grad():
        step = model(pairs, None)
    return pairs.numpy(), [s.numpy() for s in step.state]


def feeds(pairs, states, widths, start, batch, zero_state: bool):
    d = {"pair": pairs[start:start + batch]}
    for i, w in enumerate(widths):
        d[f"state_{i}"] = np.zeros((batch, w), np.float32) if zero_state else states[i][start:start + batch]
    return d


class Calibration:
    """onnxruntime's CalibrationDataReader over the calibration pairs, with zero and one-step states."""

    def __init__(self, pairs, states, widths):
        self.items = [feeds(pairs, states, widths, i, 1, z) for i in range(len(pairs)) for z in (True, False)]

    def get_next(self):
        return self.items.pop() if self.items else None


def quantize(fp32_path: Path, int8_path: Path, pairs, states, widths) -> Path:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    pre = int8_path.with_suffix(".pre.onnx")
    quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
    quantize_static(str(pre), str(int8_path), Calibration(pairs, states, widths), quant_format=QuantFormat.QDQ,
                    per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    return int8_path


class OrtRunner:
    def __init__(self, path, threads):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def __call__(self, feed):
        return self.session.run(None, feed)


class OpenVinoRunner:
    """One compiled model per batch size (static shapes run fastest on the CPU plugin). precision: the CPU
    plugin's inference precision ("f32", or "bf16", its default on CPUs with AMX or AVX512-BF16); model: an
    openvino.Model (e.g. NNCF's int8 one) instead of the ONNX file."""

    def __init__(self, path, threads, precision: str = "f32", model=None):
        import openvino as ov
        self.core, self.path, self.threads, self.compiled = ov.Core(), str(path), threads, {}
        self.precision, self.model = precision, model

    def __call__(self, feed):
        b = feed["pair"].shape[0]
        if b not in self.compiled:
            model = self.model.clone() if self.model is not None else self.core.read_model(self.path)
            model.reshape({name: [b, *arr.shape[1:]] for name, arr in feed.items()})
            self.compiled[b] = self.core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": self.threads,
                                                                      "PERFORMANCE_HINT": "LATENCY",
                                                                      "INFERENCE_PRECISION_HINT": self.precision})
        result = self.compiled[b](feed)
        return [result[o] for o in self.compiled[b].outputs]


def nncf_int8(fp32_path: Path, pairs, states, widths):
    """OpenVINO's own post-training int8 (NNCF), calibrated on the same pairs, zero and one-step states."""
    import nncf
    import openvino as ov
    model = ov.Core().read_model(str(fp32_path))
    items = Calibration(pairs, states, widths).items
    return nncf.quantize(model, nncf.Dataset(items), subset_size=len(items))


class RuntimeStep:
    """A runner as the refiner's network step (pair, state) -> StepOutput, for evaluating its accuracy."""

    def __init__(self, runner, config, widths):
        self.runner, self.config, self.widths = runner, config, widths

    def __call__(self, pair, state=None, with_flow=False):
        from deeprm_ros.model import StepOutput
        b = pair.shape[0]
        feed = {"pair": pair.detach().cpu().numpy().astype(np.float32)}
        for i, w in enumerate(self.widths):
            feed[f"state_{i}"] = np.zeros((b, w), np.float32) if not state else state[i].cpu().numpy()
        outs = self.runner(feed)
        return StepOutput(torch.from_numpy(np.asarray(outs[0])), torch.from_numpy(np.asarray(outs[1])),
                          tuple(torch.from_numpy(np.asarray(o)) for o in outs[2:]))

    def eval(self):
        return self


def demo_accuracy(runner, config, widths, data: str, out: Path) -> dict:
    """AUC of ADD(-S) and median rotation error at 4 iterations on the demo's held-out split, this runtime."""
    from deeprm_ros.evaluate import argument_parser, evaluate
    args = argument_parser().parse_args(
        ["--checkpoint", str(ROOT / "data/demo/checkpoint"), "--data", data, "--split", "test", "--targets",
         "test_targets_bop19.json", "--iterations", "4", "--seed", "1", "--out", str(out)])
    report = evaluate(args, RuntimeStep(runner, config, widths))
    r = report["results"]["4 iter"]
    return {"auc": r["auc_adds"], "rotation_deg": r["median_rotation_deg"]}


def interleaved_ms(runners: dict, feed, repeats: int, rounds: int = 5) -> dict:
    """Median ms per call of each runner on feed. The runners take turns, `rounds` times, a share of the
    repeats each turn: on a shared 2-core machine the speed drifts by up to 1.5x between minutes, and
    back-to-back blocks would put that drift into the ratios."""
    for runner in runners.values():
        for _ in range(3):
            runner(feed)
    times = {name: [] for name in runners}
    per_round = max(1, repeats // rounds)
    for _ in range(rounds):
        for name, runner in runners.items():
            for _ in range(per_round):
                t0 = time.perf_counter()
                runner(feed)
                times[name].append(time.perf_counter() - t0)
    return {name: 1e3 * float(np.median(t)) for name, t in times.items()}


RUNTIMES = ("onnxruntime fp32", "OpenVINO fp32", "OpenVINO bf16", "onnxruntime int8 (QDQ)", "OpenVINO int8 (NNCF)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=["demo", "b0", "b3"])
    parser.add_argument("--calibration-frames", type=int, default=16, help="frames of 4 objects each")
    parser.add_argument("--repeats", type=int, default=40, help="timed calls per runtime and batch size")
    parser.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=list(RUNTIMES),
                        help="which runtimes (default: all; the int8 ones take minutes to calibrate)")
    parser.add_argument("--accuracy-data", default="",
                        help="a BOP root (e.g. datasets/demo): also evaluate the demo model under each runtime, "
                             "4 iterations on its test split (python -m deeprm_ros.data.synthetic ... --split test)")
    parser.add_argument("--out", default="outputs/cpu_runtimes.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    objects = load_object_library(ROOT / "data/demo/models")
    renderer = Renderer(objects, 640, 480)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            if name == "demo":
                model = load_model(ROOT / "data/demo/checkpoint", "cpu").eval()
            else:
                model = create_model(int(name[1:]), "lstm", input_size=(240, 320), with_flow=False,
                                     pretrained=False).eval()
            fp32 = export_onnx(model, Path(tmp) / f"{name}.onnx")
            pairs, states = crop_pairs(model, objects, renderer, args.calibration_frames + 4, seed=5)
            n_cal = 4 * args.calibration_frames
            widths = [s.shape[1] for s in states]
            calibration = (pairs[:n_cal], [s[:n_cal] for s in states], widths)
            runners = {}
            for runtime in args.runtimes:
                if runtime == "onnxruntime fp32":
                    runners[runtime] = OrtRunner(fp32, args.threads)
                elif runtime == "OpenVINO fp32":
                    runners[runtime] = OpenVinoRunner(fp32, args.threads)
                elif runtime == "OpenVINO bf16":
                    runners[runtime] = OpenVinoRunner(fp32, args.threads, "bf16")
                elif runtime == "onnxruntime int8 (QDQ)":
                    runners[runtime] = OrtRunner(quantize(fp32, Path(tmp) / f"{name}.int8.onnx", *calibration),
                                                 args.threads)
                else:
                    runners[runtime] = OpenVinoRunner(fp32, args.threads, "f32", nncf_int8(fp32, *calibration))
            held = feeds(pairs, states, widths, n_cal, 8, False)  # held-out pairs: the last frames
            reference = OrtRunner(fp32, args.threads)(held)
            ones = interleaved_ms(runners, feeds(pairs, states, widths, n_cal, 1, False), args.repeats)
            eights = interleaved_ms(runners, held, args.repeats)
            base = None
            for runtime, runner in runners.items():
                one, eight = ones[runtime], eights[runtime] / 8
                out = runner(held)
                dt = 1e3 * float(np.abs(out[0] - reference[0]).max())
                dq = float(np.abs(out[1] - reference[1]).max())
                base = base or one
                acc = ""
                if name == "demo" and args.accuracy_data:
                    a = demo_accuracy(runner, model.config, widths, args.accuracy_data,
                                      Path(tmp) / f"eval_{runtime.replace(' ', '_')}")
                    acc = f"{a['auc']:.1f} / {a['rotation_deg']:.2f}"
                rows.append((name, model.config.input_size, runtime, one, eight, base / one, dt, dq, acc))
                print(f"{name} {runtime}: {one:.1f} ms (1 object), {eight:.1f} ms per object (8), "
                      f"{base / one:.2f}x", flush=True)
    lines = [f"Machine: {machine()}", "",
             "| model | input | runtime | ms / object-iteration, 1 object | ms / object-iteration, 8 objects | "
             "speed-up (1 object) | max abs. diff. of (vx, vy, vz) x 1e3 | of q | demo AUC / rot. (deg), 4 iter |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, size, runtime, one, eight, speedup, dt, dq, acc in rows:
        lines.append(f"| {name} | {size[0]}x{size[1]} | {runtime} | {one:.1f} | {eight:.1f} | {speedup:.2f}x | "
                     f"{dt:.2f} | {dq:.4f} | {acc} |")
    table = "\n".join(lines)
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
