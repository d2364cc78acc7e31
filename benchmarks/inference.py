"""Inference benchmark of the paper's network (327680 px, 128 latent, 7,046,997 parameters).

Prints a table: CPU threads x batch size -> milliseconds per spectrum, next to the paper's
50 ms per spectrum on one CPU (4 ms on a GPU), and the network's FLOPs per spectrum.
A CUDA device, when present, is measured too.

    python benchmarks/inference.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import platform
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from karaoke.nn.model import Karaoke, ModelConfig, n_parameters


def time_forward(model, batch, device, repeats):
    x = torch.rand(batch, 1, model.config.n_pixels, device=device)
    with torch.inference_mode():
        model(x)  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            model(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t)
    return 1e3 * best / batch


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args(argv)
    model = Karaoke(ModelConfig.paper()).eval()
    with FlopCounterMode(display=False) as fc, torch.inference_mode():
        model(torch.rand(1, 1, 327680))
    flops = fc.get_total_flops()
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads available")
    print(f"paper network: {n_parameters(model):,} parameters, {flops / 1e9:.2f} GFLOP per spectrum (forward)")
    print()
    print("| device | threads | batch | ms / spectrum | paper |")
    print("|---|---|---|---|---|")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for batch in (1, 16):
            ms = time_forward(model, batch, torch.device("cpu"), a.repeats)
            print(f"| CPU | {threads} | {batch} | {ms:.1f} | 50 (one CPU) |", flush=True)
    if torch.cuda.is_available():
        gm = model.cuda()
        for batch in (1, 16, 128):
            ms = time_forward(gm, batch, torch.device("cuda"), a.repeats)
            print(f"| {torch.cuda.get_device_name()} | - | {batch} | {ms:.2f} | 4 (GPU) |", flush=True)


if __name__ == "__main__":
    main()
