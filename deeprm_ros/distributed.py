"""Gradient averaging across the processes of a torchrun training, in as few all-reduces as possible.

One training step calls the network once per unrolled iteration before a single backward, which DDP's
reducer does not allow without static-graph tricks; so the gradients are averaged explicitly after the
backward, the same arithmetic as DDP. Averaging tensor by tensor costs one all-reduce (one latency) per
parameter tensor, hundreds per step; here the gradients are packed into flat buckets of at most
`bucket_mb` (DDP's default is 25 MB), one all-reduce each, and unpacked in place.
"""
from __future__ import annotations

import torch


def gradient_buckets(params, bucket_mb: float = 25.0) -> list[list[torch.Tensor]]:
    """The parameters' gradients (those that have one) grouped by dtype and device into buckets of at most
    bucket_mb each (a single larger tensor makes a bucket of its own). Every process builds the same buckets:
    they run the same model through the same graph."""
    limit = int(bucket_mb * 2**20)
    buckets, current, size, key = [], [], 0, None
    for p in params:
        g = p.grad
        if g is None:
            continue
        k = (g.dtype, g.device)
        nbytes = g.numel() * g.element_size()
        if current and (k != key or size + nbytes > limit):
            buckets.append(current)
            current, size = [], 0
        current.append(g)
        size += nbytes
        key = k
    if current:
        buckets.append(current)
    return buckets


def average_gradients(params, world: int, bucket_mb: float = 25.0) -> int:
    """All-reduce (sum) and divide by world every gradient, one flat all-reduce per bucket; returns the number
    of all-reduces made."""
    import torch.distributed as dist

    buckets = gradient_buckets(params, bucket_mb)
    for grads in buckets:
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= world
        offset = 0
        for g in grads:
            n = g.numel()
            g.copy_(flat[offset:offset + n].view_as(g))
            offset += n
    return len(buckets)


def average_gradients_per_tensor(params, world: int) -> int:
    """The unbucketed reference: one all-reduce per gradient tensor (what training did before buckets)."""
    import torch.distributed as dist

    n = 0
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= world
            n += 1
    return n
