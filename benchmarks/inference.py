"""Inference benchmark of the paper's network (327680 px, 128 latent, 7,046,997 parameters).

Prints, measured in one run on the machine at hand:

* the CPU's float32 GEMM rate on one thread and on all of them, and the floor each sets for one
  forward pass (the network's FLOPs / that rate; each row's *x floor* is against the floor at
  its own thread count);
* milliseconds per spectrum of the deterministic reconstruction (encoder mean -> decoder) on
  one CPU thread and on all of them: PyTorch as it is (the reference; again at the end with
  glibc's malloc keeping freed memory, as ``karaoke clean --backend torch`` runs it), PyTorch with the
  polyphase decoder (:mod:`karaoke.nn.export`: stride-2 transposed convolutions as ordinary
  ones, the last two kept in phases), ONNX Runtime with and without it, and the form fitted to
  ONNX Runtime's blocked-channel kernels (height-1 2-D convolutions, kernel-2 phase convolutions
  interleaved through the channels-last layout: what ``karaoke clean`` runs); the largest difference from
  the reference; the ratio to the GEMM floor;
* on a CUDA device, when present: spectra/s in float32 and bfloat16 autocast at batch
  1 / 16 / 256 / 1024 (``cudnn.benchmark`` on), the polyphase decoder in bfloat16, and each
  bfloat16 form captured as a CUDA graph at batch 1 / 16 / 256;

next to the paper's 50 ms per spectrum on one CPU and 4 ms on a GPU.

    python benchmarks/inference.py [--repeats 5] [--pixels 327680] [--csv docs/results/inference.csv]
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

import numpy as np
import torch

from karaoke.nn.flops import best_of, gemm_rate, step_flops
from karaoke.nn.model import Karaoke, ModelConfig, n_parameters
from karaoke.notebooks import machine as device_name  # CPU model or GPU name, threads

ROOT = Path(__file__).resolve().parent.parent

PAPER_CPU_MS, PAPER_GPU_MS = 50.0, 4.0


def trained_like(config: ModelConfig) -> Karaoke:
    """A network of ``config`` with random weights, marked trained (speed does not depend on them)."""
    torch.manual_seed(0)
    model = Karaoke(config).eval()
    model.trained = True
    return model


def cpu_rows(model, repeats: int, threads_list, batches, torch_only: bool = False, suffix: str = ""):
    from karaoke.nn.export import OnnxKaraoke, polyphase

    L = model.config.n_pixels
    x = (1 + 0.05 * np.random.default_rng(0).standard_normal((max(batches), L))).astype(np.float32)
    poly = polyphase(model)
    poly.trained = True
    rows, ref = [], None
    for threads in threads_list:
        torch.set_num_threads(threads)
        engines = {"PyTorch (reference)": model, "PyTorch, polyphase decoder": poly}
        if not torch_only:
            engines.update(
                {
                    "ONNX Runtime": OnnxKaraoke(model, threads=threads, rewrite=False, conv2d=False),
                    "ONNX Runtime, polyphase decoder": OnnxKaraoke(
                        model, threads=threads, rewrite=True, conv2d=False, decoder2d=False
                    ),
                    "ONNX Runtime, blocked-layout form (clean)": OnnxKaraoke(model, threads=threads),
                }
            )
        engines = {name + suffix: eng for name, eng in engines.items()}
        for batch in batches:
            xb = x[:batch]
            if ref is None or ref.shape[0] != batch:
                ref = model.reconstruct(xb, batch_size=batch)
            for name, eng in engines.items():
                with torch.inference_mode():
                    ms = 1e3 * best_of(lambda: eng.reconstruct(xb, batch_size=batch), repeats) / batch
                    diff = float(np.abs(eng.reconstruct(xb, batch_size=batch) - ref).max())
                rows.append(
                    {
                        "engine": name,
                        "device": "CPU",
                        "threads": threads,
                        "batch": batch,
                        "ms_per_spectrum": ms,
                        "max_abs_diff": diff,
                    }
                )
                print(f"| {name} | CPU | {threads} | {batch} | {ms:.1f} | {diff:.1e} |", flush=True)
    return rows


def _graphed(fn):
    """``fn`` (no arguments, fixed shapes) captured once as a CUDA graph; returns its replay.
    Warmed up on a side stream first (cuDNN's algorithm search and lazy allocations)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


def cuda_rows(model, repeats: int, batches=(1, 16, 256, 1024), device: str = "cuda", graph_batches=(1, 16, 256)):
    """Spectra/s of the deterministic reconstruction on an accelerator: PyTorch in float32 and
    in bf16 autocast; the polyphase decoder (no transposed convolutions) in bf16; each bf16 form
    also captured as a CUDA graph at ``graph_batches`` (no launch overhead). ``device="cpu"``
    runs the same rows without the graphs (the test of this code on a machine without a GPU)."""
    from karaoke.nn.export import polyphase

    cuda = device == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    name_of_device = torch.cuda.get_device_name() if cuda else "CPU"
    forms = [
        ("PyTorch", model.to(device), (torch.float32, torch.bfloat16)),
        ("PyTorch, polyphase decoder", polyphase(model).to(device), (torch.bfloat16,)),
    ]
    rows = []
    for form, net, dtypes in forms:
        for dtype in dtypes:
            for batch in batches:
                x = torch.rand(batch, 1, model.config.n_pixels, device=device)

                def forward():  # no autocast weight cache: a CUDA graph must not keep its casts alive
                    with torch.autocast(
                        device, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16, cache_enabled=False
                    ):
                        return net.decode(net.encode(x)[0])  # (B, 1, L)

                graph_too = cuda and batch in graph_batches and dtype == torch.bfloat16
                for graphed in (False, True) if graph_too else (False,):
                    with torch.inference_mode():
                        fn = _graphed(forward) if graphed else forward

                        def step():
                            fn()
                            if cuda:
                                torch.cuda.synchronize()

                        s = best_of(step, repeats)
                    name = (
                        f"{form} {'bf16 autocast' if dtype == torch.bfloat16 else 'fp32'}"
                        f"{', CUDA graph' if graphed else ''}"
                    )
                    rows.append(
                        {
                            "engine": name,
                            "device": name_of_device,
                            "threads": "",
                            "batch": batch,
                            "ms_per_spectrum": 1e3 * s / batch,
                            "max_abs_diff": "",
                        }
                    )
                    print(
                        f"| {name} | {name_of_device} | - | {batch} | {1e3 * s / batch:.3f} "
                        f"({batch / s:.0f} spectra/s) | - |",
                        flush=True,
                    )
    model.cpu()
    return rows


def main(argv=None):
    from karaoke._atomic import write_csv

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument(
        "--pixels",
        type=int,
        default=327680,
        help="input length (327680: the paper's network; smaller: the scaled family, for a quick try)",
    )
    p.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    p.add_argument("--csv", type=Path, default=None, help="also write the table here")
    p.add_argument("--cuda-only", action="store_true", help="only the GPU rows (e.g. tools/gpu_check.sh)")
    a = p.parse_args(argv)
    all_threads = torch.get_num_threads()
    machine = device_name()  # before the thread count changes
    config = ModelConfig.paper() if a.pixels == 327680 else ModelConfig.scaled(a.pixels)
    model = trained_like(config)
    flops = step_flops(config, 1, backward=False)  # one spectrum's forward pass
    if a.cuda_only:
        if not torch.cuda.is_available():
            p.error("--cuda-only: no CUDA device here")
        print(f"{machine}; torch {torch.__version__}; {datetime.date.today().isoformat()}")
        print(
            f"network: {config.n_pixels} px, {n_parameters(model):,} parameters, {flops / 1e9:.3f} GFLOP per spectrum"
        )
        rows = cuda_rows(model, a.repeats)
        best = min(rows, key=lambda r: r["ms_per_spectrum"])
        print(
            f"best: {best['engine']} at batch {best['batch']}, {1e3 / best['ms_per_spectrum']:.0f} spectra/s; "
            f"paper {PAPER_GPU_MS:g} ms (GPU)"
        )
        if a.csv:
            for r in rows:
                r.update(
                    ms_per_spectrum=round(r["ms_per_spectrum"], 3),
                    x_floor="",
                    floor_ms="",
                    pixels=config.n_pixels,
                    gflop=round(flops / 1e9, 3),
                    machine=r["device"],
                    date=datetime.date.today().isoformat(),
                )
            write_csv(a.csv, rows, fieldnames=list(rows[0]))
        return
    threads_list = sorted({1, all_threads})
    rates = {t: gemm_rate(t, a.repeats) for t in threads_list}  # the floor of each row is at its thread count
    print(f"{machine}; torch {torch.__version__}; {datetime.date.today().isoformat()}")
    print(f"network: {config.n_pixels} px, {n_parameters(model):,} parameters, {flops / 1e9:.3f} GFLOP per spectrum")
    for t, r in rates.items():
        print(
            f"float32 GEMM on {t} thread{'s' if t > 1 else ''}: {r / 1e9:.1f} GFLOP/s -> floor "
            f"{1e3 * flops / r:.1f} ms per spectrum"
        )
    print()
    print("| engine | device | threads | batch | ms / spectrum | max abs diff from the reference |")
    print("|---|---|---|---|---|---|")
    rows = cpu_rows(model, a.repeats, threads_list, a.batches)
    from karaoke._malloc import reuse_freed_memory

    if reuse_freed_memory():  # what train() and the CLI set (process-wide, so measured after the rest)
        rows += cpu_rows(
            model,
            a.repeats,
            threads_list,
            a.batches,
            torch_only=True,
            suffix=", freed memory kept (karaoke._malloc, the CLI's torch backend)",
        )
    again = {t: gemm_rate(t, a.repeats) for t in threads_list}  # after the engines too: keep the better
    rates = {t: max(rates[t], again[t]) for t in threads_list}
    rate = rates[1]
    floor_ms = 1e3 * flops / rate
    print(
        "GEMM rates, best of before and after the engines: "
        + ", ".join(f"{t} thread{'s' if t > 1 else ''} {r / 1e9:.1f} GFLOP/s" for t, r in rates.items())
    )
    if torch.cuda.is_available():
        rows += cuda_rows(model, a.repeats)
    one = [r for r in rows if r["device"] == "CPU" and r["threads"] == 1]
    best = min(one, key=lambda r: r["ms_per_spectrum"])
    ref = min((r for r in one if r["engine"].endswith("(reference)")), key=lambda r: r["ms_per_spectrum"])
    print()
    print(
        f"one CPU thread: best {best['engine']} at batch {best['batch']}, {best['ms_per_spectrum']:.1f} ms "
        f"= {best['ms_per_spectrum'] / floor_ms:.2f}x the GEMM floor; the PyTorch reference "
        f"{ref['ms_per_spectrum']:.1f} ms = {ref['ms_per_spectrum'] / floor_ms:.2f}x; paper {PAPER_CPU_MS:g} ms "
        f"(one CPU), {PAPER_GPU_MS:g} ms (GPU)"
    )
    if a.csv:
        meta = {
            "pixels": config.n_pixels,
            "gflop": round(flops / 1e9, 3),
            "gemm_gflops_1thread": round(rate / 1e9, 1),
            "floor_ms": round(floor_ms, 2),
            "machine": machine,
            "date": datetime.date.today().isoformat(),
        }
        for r in rows:
            r["ms_per_spectrum"] = round(r["ms_per_spectrum"], 1 if r["device"] == "CPU" else 3)
            if r["max_abs_diff"] != "":
                r["max_abs_diff"] = f"{r['max_abs_diff']:.1e}"
            r.update(meta)
            if r["device"] == "CPU":  # against the GEMM floor on the row's own threads
                r["floor_ms"] = round(1e3 * flops / rates[r["threads"]], 2)
                r["x_floor"] = round(r["ms_per_spectrum"] / r["floor_ms"], 2)
            else:
                r["floor_ms"], r["x_floor"] = "", ""
        write_csv(a.csv, rows, fieldnames=list(rows[0]))
    torch.set_num_threads(all_threads)


if __name__ == "__main__":
    main()
