"""What a network's step costs and what the machine can do: FLOPs counted from the network's
shapes, and this CPU's float32 matrix-product rate (the floor a step is compared with).

The count is :class:`torch.utils.flop_counter.FlopCounterMode` run once over the network on the
``meta`` device (shapes only, no arithmetic): the matrix products and convolutions of the
forward pass and of the backward pass (gradients of the inputs of every layer but the first,
and of every weight). Element-wise work (activations, the loss, Adam) is not counted: it is
memory-bound, and the floor is a compute floor.
"""

from __future__ import annotations

import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from karaoke.nn.model import Karaoke, ModelConfig


def step_flops(config: ModelConfig, batch: int, backward: bool = True) -> int:
    """FLOPs of one training step of the network (forward and backward) for ``batch`` spectra.

    Parameters
    ----------
    config : ModelConfig
    batch : int
        Spectra in the step.
    backward : bool
        Count the backward pass too (False: the forward pass alone, as at inference).

    Returns
    -------
    int
    """
    with torch.device("meta"):
        model = Karaoke(config)
        x = torch.zeros(batch, 1, config.n_pixels)
    with FlopCounterMode(display=False) as counter:
        y, mu, logvar = model(x, sample=False)  # (B, 1, L), (B, D), (B, D)
        if backward:
            loss = y.sum() + mu.sum() + (logvar.sum() if logvar is not None else 0)
            loss.backward()
    return int(counter.get_total_flops())


def best_of(fn, repeats: int) -> float:
    """Shortest wall time of ``repeats`` calls after one warm-up call, in seconds.

    Parameters
    ----------
    fn : callable
        Called with no arguments.
    repeats : int
    """
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def gemm_rate(threads: int, repeats: int = 20, n: int = 2048) -> float:
    """This CPU's float32 matrix-product rate in FLOP/s on ``threads`` threads: the best of at
    least 20 products into a preallocated output (the floor is what the machine can do at its
    best; a short sample on a shared machine reads low and flatters every ratio to it). Sets
    torch's thread count to ``threads``.

    Parameters
    ----------
    threads : int
    repeats : int
    n : int
        Size of the square matrices.
    """
    torch.set_num_threads(threads)
    a, b, c = torch.rand(n, n), torch.rand(n, n), torch.empty(n, n)
    return 2 * n**3 / best_of(lambda: torch.mm(a, b, out=c), max(20, repeats))
