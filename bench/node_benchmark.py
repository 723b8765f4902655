"""End-to-end benchmark of the refiner node through real ROS processes: the installed synthetic camera and
refiner_node executables, and a subscriber in this process. Prints the machine, markdown tables, writes PNG
plots (and the tables as .md, the numbers as .json) to --out.

    python bench/node_benchmark.py --mode latency --seconds 30 --rate 5          # stamp -> result latency, FPS
    python bench/node_benchmark.py --mode soak --frames 10000 --rate 30           # RSS, tracks, p99 per window
    python bench/node_benchmark.py --mode overload --frames 1500 --rate 30        # queue of one: bounded latency
    python bench/node_benchmark.py --mode latency --backend onnx --iterations 4 --tracking-iterations 2 --objects 2

Run it after `bash scripts/setup.sh && source scripts/env.sh` (it starts install/deeprm_ros/lib/deeprm_ros/*).

Latency: the synthetic camera stamps Image, CameraInfo and ground_truth with its ROS clock (the system clock:
no sim time) right before publishing them, so end-to-end latency = (time the refined Detection3DArray reached
this process) - (the image header stamp), on one machine and one clock. "Reached" is the middleware's
received_timestamp of the message (rclpy MessageInfo), so the benchmark's own spinning does not count; the
time this process's callback ran is reported beside it.

Camera frames are counted here from camera_info (sensor-data QoS, published with every image and the same
stamp; --count-topic image counts the images themselves) and ground_truth (reliable, with every image; its
detections are the live objects of the scene): a frame is counted when either arrives.

Frame accounting: every image the node takes off its queue of one gives exactly one refined_detections and
one refinement_status message (empty when nothing is tracked); an image replaced in the queue is counted in
RefinementStatus.dropped_frames. Camera frames neither refined nor counted as dropped are "unaccounted"
(lost before the node's subscription callback saw them: DDS history of the sensor-data QoS, transport, or
skipped by the node for lack of a camera_info).

Exit status: 0 pass, 1 FAIL (soak / overload criteria, printed as FAIL lines), 2 error (a process stopped,
start-up timed out, no results), 3 overload inconclusive (refinement kept up with the camera), 130 interrupted.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from refiner_benchmark import machine  # noqa: E402  (imports torch: GPU name and torch threads)
from node_processes import DEFAULT_FRAMES, DEFAULT_RATE, BenchmarkError, raise_interrupt, run  # noqa: E402
from node_report import analyse, plot, report, to_json, verdict  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.split("\n")[2:]))
    p.add_argument("--mode", choices=["latency", "soak", "overload"], default="latency")
    p.add_argument("--rate", type=float, default=None, help="camera frame rate, Hz (default: latency 5, soak/overload 30)")
    p.add_argument("--detection-rate", type=float, default=2.0, help="coarse detections per second of the camera")
    p.add_argument("--objects", type=int, default=None,
                   help="objects in the scene: the first N meshes of the models folder (default: all, one per mesh)")
    p.add_argument("--models-dir", default=None, help="models folder for camera and node (default: the bundled demo)")
    p.add_argument("--seconds", type=float, default=30.0, help="latency mode: seconds measured after warm-up")
    p.add_argument("--frames", type=int, default=None,
                   help="soak/overload: camera frames measured after warm-up (default: soak 10000, overload 1500)")
    p.add_argument("--window", type=int, default=1000,
                   help="camera frames per latency window (soak/overload; reduced to frames/5 for runs under 3 windows)")
    p.add_argument("--warmup", type=float, default=None,
                   help="seconds after the first refinement not measured (default: soak 20, else 5)")
    g = p.add_argument_group("refiner node parameters (passed through)")
    g.add_argument("--backend", choices=["torch", "onnx", "openvino"], default="torch")
    g.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    g.add_argument("--iterations", type=int, default=None)
    g.add_argument("--tracking-iterations", type=int, default=None)
    g.add_argument("--cpu-threads", type=int, default=None)
    g.add_argument("--max-objects", type=int, default=None)
    g.add_argument("--params-file", default=None, help="a refiner parameters YAML (e.g. config/refiner.yaml)")
    g.add_argument("--node-param", action="append", default=[], metavar="NAME:=VALUE", help="any other node parameter")
    g.add_argument("--untrained-phi", type=int, default=None, metavar="PHI",
                   help="run the node on an untrained EfficientNet-B<PHI> LSTM model at the paper's 240x320 crop "
                        "instead of the bundled demo model (speed only: weights do not change the cost)")
    p.add_argument("--camera-param", action="append", default=[], metavar="NAME:=VALUE",
                   help="a synthetic camera parameter (width, height, noise_rotation_deg, seed, ...)")
    p.add_argument("--count-topic", choices=["camera_info", "image"], default="camera_info",
                   help="topic counting camera frames here (sensor-data QoS); image costs a 0.9 MB copy per frame")
    p.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: random in 101..200)")
    p.add_argument("--startup-timeout", type=float, default=240.0, help="seconds for each start-up step")
    p.add_argument("--stall-timeout", type=float, default=30.0, help="error when no camera frame arrives this long")
    p.add_argument("--drain-timeout", type=float, default=15.0, help="seconds to wait for in-flight results at the end")
    p.add_argument("--log-level", default="warn", help="ROS log level of the two processes")
    p.add_argument("--keep-logs", action="store_true", help="keep the processes' logs (printed path)")
    p.add_argument("--udp", action="store_true", help="Fast DDS's default transports (UDP for large images) instead "
                                                      "of config/fastdds_shm.xml (shared memory only)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    p.add_argument("--out", default="outputs/bench")
    args = p.parse_args(argv)
    args.rate = args.rate if args.rate is not None else DEFAULT_RATE[args.mode]
    args.warmup = args.warmup if args.warmup is not None else (20.0 if args.mode == "soak" else 5.0)
    args.frames = args.frames if args.frames is not None else DEFAULT_FRAMES.get(args.mode, 0)
    if args.mode != "latency" and args.frames < 2:
        p.error("--frames must be at least 2")
    if args.objects is not None and args.objects < 1:
        p.error("--objects must be at least 1")

    from deeprm_ros.ros.resources import loopback_ros_environment
    domain_id = args.domain_id if args.domain_id is not None else random.SystemRandom().randint(101, 200)
    env, tmp = loopback_ros_environment("deeprm_node_bench_", domain_id, shared_memory=not args.udp)
    os.environ.update({k: env[k] for k in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_DOMAIN_ID", "ROS_HOME", "ROS_LOG_DIR")
                       if k in env})
    if "FASTDDS_DEFAULT_PROFILES_FILE" in env:
        os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = env["FASTDDS_DEFAULT_PROFILES_FILE"]
    for k in ("ROS_LOCALHOST_ONLY", "ROS_STATIC_PEERS"):
        os.environ.pop(k, None)
    signal.signal(signal.SIGTERM, raise_interrupt)
    signal.signal(signal.SIGINT, raise_interrupt)
    try:
        import deeprm_ros.msg  # noqa: F401  (the installed package: the source tree has no msg/)
    except ImportError as e:
        print(f"error: {e}: run `bash scripts/setup.sh && source scripts/env.sh` first", file=sys.stderr)
        return 2
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}")
    print(f"node benchmark, mode {args.mode}: ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']} (loopback only), camera "
          f"{args.rate:g} Hz, backend {args.backend}, logs in {tmp}", flush=True)
    rc = 0
    try:
        try:
            rec = run(args, env, tmp)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except BenchmarkError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        if rec["error"]:
            print(f"error: {rec['error']}", file=sys.stderr)
            for name, tail in rec["logs"].items():
                if tail:
                    print(f"  last lines of {name}:\n{tail}", file=sys.stderr)
        a = analyse(args, rec)
        if not a or not len(a["latency_ms"]):
            if rec["interrupted"]:
                print("interrupted before any result was measured", file=sys.stderr)
            elif not rec["error"]:
                print("error: no refined results were measured", file=sys.stderr)
            return 130 if rec["interrupted"] else 2
        print()
        text = report(args, rec, a, out_dir)
        print(text)
        ok, bad, warn, notes = verdict(args, a)
        lines = ([f"PASS: {x}" for x in ok] + [f"FAIL: {x}" for x in bad] + [f"WARN: {x}" for x in warn]
                 + [f"note: {x}" for x in notes])
        if rec["interrupted"] or rec["error"]:
            lines.append("note: the run was cut short (" + ("interrupted" if rec["interrupted"] else "error") + ")")
        print()
        for line in lines:
            print(line)
        (out_dir / f"node_{args.mode}.md").write_text(f"machine: {machine()}\n\n{text}\n\n" + "\n".join(lines) + "\n")
        summary = {"mode": args.mode, "machine": machine(), "args": vars(args), "node_argv": rec["node_argv"],
                   "camera_argv": rec["camera_argv"], "pass": ok, "fail": bad, "warn": warn, "notes": notes, **to_json(a)}
        (out_dir / f"node_{args.mode}.json").write_text(json.dumps(summary, indent=1, default=float))
        png = plot(args, a, out_dir)
        print(f"\nplot: {png}\ntables: {out_dir / f'node_{args.mode}.md'}")
        if rec["interrupted"]:
            rc = 130
        elif rec["error"]:
            rc = 2
        elif bad:
            rc = 1
            print(f"RESULT: FAIL ({len(bad)} criteria)")
        elif args.mode == "overload" and any(n.startswith("not overloaded") for n in notes):
            rc = 3
            print("RESULT: INCONCLUSIVE (refinement kept up with the camera)")
        else:
            print("RESULT: PASS" if args.mode != "latency" else "RESULT: done")
        return rc
    finally:
        if args.keep_logs:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
