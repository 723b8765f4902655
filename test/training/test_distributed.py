"""Bucketed gradient averaging (deeprm_ros/distributed.py) in two real gloo processes on loopback, against the
mean computed by hand from both processes' known gradients."""
from __future__ import annotations

import socket
import subprocess
import sys

import pytest
import torch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Each process runs this file (spawned processes could not import the test module itself).
WORKER = """
import os, sys, torch
import torch.distributed as dist
from deeprm_ros.distributed import average_gradients

rank, port, bucket_mb, out = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]


def grads(rank):
    g = torch.Generator().manual_seed(100 + rank)
    return [torch.randn(shape, generator=g) for shape in [(3, 4), (7,), (2, 5, 6), (1,), (300,)]]


os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
dist.init_process_group("gloo", rank=rank, world_size=2)
params = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads(rank)]
for p, g in zip(params, grads(rank)):
    p.grad = g.clone()
frozen = torch.nn.Parameter(torch.zeros(4))  # no gradient: skipped on every rank alike
calls = average_gradients(params[:2] + [frozen] + params[2:], world=2, bucket_mb=bucket_mb)
torch.save({"grads": [p.grad for p in params], "calls": calls, "frozen": frozen.grad}, f"{out}/rank{rank}.pt")
dist.destroy_process_group()
"""


def _grads(rank):
    g = torch.Generator().manual_seed(100 + rank)
    return [torch.randn(shape, generator=g) for shape in [(3, 4), (7,), (2, 5, 6), (1,), (300,)]]


@pytest.mark.parametrize("bucket_mb, expected_calls", [(25.0, 1), (70 * 4 / 2**20, 3)])  # 3: [12, 7], [60, 1], [300]
def test_bucketed_average_equals_the_mean_of_both_processes(tmp_path, bucket_mb, expected_calls):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    port = str(_free_port())
    procs = [subprocess.Popen([sys.executable, str(script), str(r), port, str(bucket_mb), str(tmp_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in range(2)]
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0, out[-2000:]
    expected = [(a + b) / 2 for a, b in zip(_grads(0), _grads(1))]
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert got["calls"] == expected_calls and got["frozen"] is None
        for g, e in zip(got["grads"], expected):
            torch.testing.assert_close(g, e, rtol=0, atol=1e-6)


def test_buckets_hold_at_most_the_limit_and_keep_order():
    from deeprm_ros.distributed import gradient_buckets

    params = [torch.nn.Parameter(torch.zeros(n)) for n in (100, 100, 100, 1000, 10)]
    for p in params:
        p.grad = torch.ones_like(p)
    buckets = gradient_buckets(params, bucket_mb=250 * 4 / 2**20)  # 250 floats
    assert [[g.numel() for g in b] for b in buckets] == [[100, 100], [100], [1000], [10]]
