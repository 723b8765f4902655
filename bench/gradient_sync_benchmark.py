"""Gradient sync per training step across torchrun-style processes: one all-reduce per gradient tensor against
flat 25 MB buckets (deeprm_ros/distributed.py), on the real model's gradients.

    python bench/gradient_sync_benchmark.py [--world 2] [--phi 0] [--steps 20]

Processes talk over gloo on 127.0.0.1 (CPU); on a GPU machine the same code runs over NCCL inside training.
Prints a table of the mean time per step and the number of all-reduces.
"""
from __future__ import annotations

import argparse
import os
import socket
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, phi, steps, queue):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    from deeprm_ros.distributed import average_gradients, average_gradients_per_tensor
    from deeprm_ros.model import create_model

    model = create_model(phi, "lstm", with_flow=True)
    params = list(model.parameters())
    torch.manual_seed(rank)
    results = {}
    for name, fn in (("per tensor", average_gradients_per_tensor), ("bucketed (25 MB)", average_gradients)):
        times = []
        for step in range(steps + 2):
            for p in params:
                p.grad = torch.randn_like(p)
            dist.barrier()
            t0 = time.perf_counter()
            calls = fn(params, world)
            times.append(time.perf_counter() - t0)
        results[name] = (sum(times[2:]) / steps, calls)  # the first two warm the connections up
    if rank == 0:
        n = sum(p.numel() for p in params)
        queue.put((results, len(params), n))
    dist.destroy_process_group()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", type=int, default=2)
    parser.add_argument("--phi", type=int, default=0)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args(argv)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, args.world, port, args.phi, args.steps, queue))
             for r in range(args.world)]
    for p in procs:
        p.start()
    results, tensors, numel = queue.get(timeout=600)
    for p in procs:
        p.join()
    print(f"B{args.phi}-LSTM with flow decoder: {tensors} gradient tensors, {numel / 1e6:.2f} M values "
          f"({numel * 4 / 2**20:.1f} MB float32); {args.world} processes, gloo on 127.0.0.1, {args.steps} steps\n")
    print("| sync | all-reduces per step | ms per step |")
    print("|---|---|---|")
    for name, (seconds, calls) in results.items():
        print(f"| {name} | {calls} | {seconds * 1e3:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
