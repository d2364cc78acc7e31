"""Training throughput of the project's own ``train()``: spectra/s and steps/s, per network,
batch, thread count and device, next to the paper's ~124 spectra/s (one V100, 327680 px, batch
32), and how far each CPU row is from this CPU's floor: the step's FLOPs (forward + backward,
counted from the network's shapes, :func:`karaoke.nn.flops.step_flops`), the rate they were done
at, and *x floor* = the step's time over those FLOPs at the float32 GEMM rate on the row's
threads (:func:`karaoke.nn.flops.gemm_rate`, measured in the same run).

Each row trains two epochs from a fresh run folder and times the second (set-up and first-call
overheads are excluded; the per-epoch validation is cut to one spectrum). The
data are random spectra on the network's grid (the speed does not depend on their content).

    python benchmarks/training.py                 # regime network on CPU (and CUDA if present)
    python benchmarks/training.py --paper         # also the paper's 327680-px network (~3 s a step on 2 CPU cores)
    python benchmarks/training.py --kernels       # bare steps of the regime network: eager, torch.compile, bf16
    python benchmarks/training.py --layers        # each layer of the regime network alone, against the floor
    python benchmarks/training.py --pool 2        # 2 regime networks one after the other vs side by side
    python benchmarks/training.py --components    # where a regime step's time goes: whitening ... Adam
    python benchmarks/training.py --cuda-only --paper --paper-spectra 2048   # on a GPU (tools/gpu_check.sh)

``--kernels`` times a bare optimiser step (forward, ELBO, backward, Adam) of the regime network
(128 and 1024 latent dimensions) on the same batch in four forms -- eager float32 with the fused
Adam that ``train`` uses, the same with PyTorch's for-loop Adam, ``torch.compile`` (inductor;
compile time excluded, reported apart) and bfloat16 autocast -- on each device, as ratios to the
first measured in one run; on a GPU also two against launch overhead (the regime network is
launch-bound there): ``torch.compile(mode="reduce-overhead")`` and the whole step captured as one
CUDA graph (capturable fused Adam). (Channels-last layouts exist only for 2-D/3-D convolutions; these are 1-D.)

``--components`` times the parts of ``train``'s step on the regime network (drawing and
gathering the batch, velocity whitening, forward, ELBO, backward, the gradient norm and its
clipping, the fused Adam step), each summed over the same steps, as shares of the step: what
lies off the network's own kernels (whitening and batching are on the critical path only if
they take a visible share).

``--pool K`` trains K regime networks (seeds 0..K-1, 3 epochs of a 1024-spectrum survey) through
:func:`karaoke.nn.pool.train_many`, once one after the other in this process on every thread and
once side by side (the default plan: one process per thread), and prints the wall time of each,
process start-up included, and the steady ms a step of each network (epochs after the first).
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
from pathlib import Path

import numpy as np

PAPER_SPECTRA_PER_S = 124.0


def machine(dev: str) -> str:
    """The device in a few words: the GPU's name, or the CPU and its threads."""
    import torch

    if dev.startswith("cuda"):
        return torch.cuda.get_device_name(0)
    from karaoke.notebooks import machine as cpu_machine

    return cpu_machine()


def _survey(n_pixels: int, start: float, n: int = 256):
    from karaoke.spectra.survey import Survey

    rng = np.random.default_rng(0)
    wave = start + 0.01 * np.arange(n_pixels)
    flux = (1000.0 * (1 + 0.05 * rng.standard_normal((n, n_pixels)))).astype(np.float32)
    return Survey(wave=wave, flux=flux, meta={"star_id": np.arange(n) % 16})


def time_steps(survey, mc, tc, device: str) -> float:
    """Seconds per optimiser step of ``train``: the second epoch's wall time (the first holds
    the one-off warm-up) over its steps; validation is cut to one spectrum."""
    import json
    import math

    from karaoke.nn.training import load_history, train

    with tempfile.TemporaryDirectory() as tmp:
        train(survey, mc, tc.replace(epochs=2, max_val_spectra=1), tmp, device=device, progress=False)
        n_train = json.loads((Path(tmp) / "run.json").read_text())["n_train"]
        return load_history(tmp)[-1]["seconds"] / math.ceil(n_train / tc.batch_size)


def bare_steps(mc, tc, device: str, steps: int = 30) -> list[tuple[str, float, float]]:
    """(form, seconds per step, seconds of set-up) for eager, compiled and bf16 steps of the
    loss of ``train`` (:func:`karaoke.nn.training.vae_loss` with ``tc``'s weight and reduction)."""
    import time

    import torch

    from karaoke.nn.model import Karaoke
    from karaoke.nn.training import vae_loss

    torch.manual_seed(0)
    x = (1 + 0.05 * torch.randn(tc.batch_size, mc.n_pixels)).to(device)  # (B, L)
    mask = torch.ones_like(x)
    out = []
    forms = ["eager fp32", "eager fp32, for-loop Adam", "torch.compile fp32", "eager bf16 autocast"]
    if device.startswith("cuda"):  # launch overhead: the step's kernels replayed as CUDA graphs
        forms += ["torch.compile reduce-overhead fp32", "whole step as one CUDA graph fp32"]
    for form in forms:
        model = Karaoke(mc).to(device).train()
        fused = "for-loop" not in form  # train() uses the fused Adam
        opt = torch.optim.Adam(model.parameters(), tc.lr, fused=fused, capturable="CUDA graph" in form)

        def loss_fn(x):
            y, mu, logvar = model(x)  # (B, L), (B, D), (B, D)
            return vae_loss(y.float(), x, mask, mu.float(), logvar.float(), tc.kl_weight, tc.loss_reduction)[0]

        fn = loss_fn
        if form.startswith("torch.compile"):
            fn = torch.compile(loss_fn, mode="reduce-overhead" if "reduce-overhead" in form else "default")

        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled="bf16" in form):
                loss = fn(x)
            loss.backward()
            opt.step()
            if device.startswith("cuda"):
                torch.cuda.synchronize()

        t0 = time.perf_counter()
        try:
            if "CUDA graph" in form:
                step = _graphed_step(loss_fn, opt, x)
            step()
            step()
        except Exception as exc:  # e.g. no C++ compiler for inductor
            out.append((f"{form} (failed: {type(exc).__name__})", float("nan"), float("nan")))
            continue
        setup = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        out.append((form, (time.perf_counter() - t0) / steps, setup))
    return out


def _graphed_step(loss_fn, opt, x):
    """One optimiser step (forward, ELBO, backward, capturable fused Adam) captured as a CUDA
    graph after warm-up steps on a side stream; returns a function that replays it (the batch
    ``x`` is the graph's static input: a training loop would copy each batch into it)."""
    import torch

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            loss_fn(x).backward()
            opt.step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        loss_fn(x).backward()
        opt.step()

    def replay():
        graph.replay()
        torch.cuda.synchronize()

    return replay


def layer_rows(mc, batch: int, repeats: int = 20) -> list[dict]:
    """Each layer of the network alone, forward and backward (the input's and the weights'
    gradients) at its own input shape for ``batch`` spectra: the layer, its input and weight
    shapes, FLOPs (:class:`torch.utils.flop_counter.FlopCounterMode`), best seconds of
    ``repeats``, in the network's order (what keeps a step above the floor, and where)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from karaoke.nn.flops import best_of
    from karaoke.nn.model import Karaoke

    torch.manual_seed(0)
    model = Karaoke(mc).train()
    shapes = {}

    def record(name):
        def hook(mod, inputs, output):  # returns None: the output is left as it is
            shapes.setdefault(name, tuple(inputs[0].shape))

        return hook

    hooks = [mod.register_forward_hook(record(name)) for name, mod in model.named_children()]
    model(torch.ones(batch, 1, mc.n_pixels), sample=False)
    for h in hooks:
        h.remove()
    rows = []
    for name, shape in shapes.items():  # the order the forward pass reached them
        mod = getattr(model, name)
        x = torch.randn(shape, requires_grad=name != "conv1")  # the first layer needs no input gradient
        g = torch.randn_like(mod(x))

        def step():
            mod.zero_grad(set_to_none=True)
            x.grad = None
            mod(x).backward(g)

        with FlopCounterMode(display=False) as counter:
            step()
        weight = getattr(mod[0] if isinstance(mod, torch.nn.Sequential) else mod, "weight")
        rows.append(
            {
                "layer": name,
                "input": "x".join(map(str, shape)),
                "weight": "x".join(map(str, weight.shape)),
                "flops": counter.get_total_flops(),
                "seconds": best_of(step, repeats),
            }
        )
    return rows


def component_rows(mc, tc, steps: int = 60, warm: int = 5) -> list[tuple[str, float]]:
    """(part, mean seconds a step) of the steps of :func:`karaoke.nn.training.train` on random
    spectra of ``mc``'s grid, in the order the step runs them: a batch drawn and gathered,
    whitened (``tc.max_velocity``, with the input guard), forward, ELBO (``tc``'s weight,
    reduction and free nats), backward, gradient norm and clipping (``tc.grad_clip``), Adam."""
    import time

    import torch

    from karaoke.nn.model import Karaoke
    from karaoke.nn.training import clip_gradients, vae_loss
    from karaoke.nn.whitening import guard_mask, random_velocities, whiten
    from karaoke.spectra.grid import Grid

    survey = _survey(mc.n_pixels, 6315.0, n=512)
    grid = Grid.from_wave(survey.wave)
    flux = torch.from_numpy(survey.flux / np.median(survey.flux, axis=1, keepdims=True))  # (N, L)
    mask = torch.ones_like(flux)
    guard = torch.from_numpy(guard_mask(grid, tc.max_velocity))  # (L,)
    torch.manual_seed(0)
    model = Karaoke(mc).train()
    opt = torch.optim.Adam(model.parameters(), tc.lr, betas=tuple(tc.adam_betas), eps=tc.adam_eps, fused=True)
    g = torch.Generator().manual_seed(0)
    parts: dict[str, float] = {}

    def lap(name, t0):
        t = time.perf_counter()
        parts[name] = parts.get(name, 0.0) + t - t0
        return t

    for i in range(warm + steps):
        if i == warm:
            parts.clear()
        t = time.perf_counter()
        pick = torch.randint(0, flux.shape[0], (tc.batch_size,), generator=g)
        x, m = flux[pick], mask[pick]  # (B, L)
        t = lap("batch drawn and gathered", t)
        v = random_velocities(tc.batch_size, tc.max_velocity, g)  # (B,) km/s
        xw, mw, _ = whiten(x, grid, tc.max_velocity, m, guard=guard, velocities=v)  # (B, L)
        t = lap("velocity whitening", t)
        y, mu, logvar = model(xw, logvar_range=tc.logvar_range)  # (B, L), (B, D), (B, D)
        t = lap("forward", t)
        loss = vae_loss(y, xw, mw, mu, logvar, tc.kl_weight, tc.loss_reduction, tc.kl_target, tc.kl_free)[0]
        t = lap("ELBO", t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t = lap("backward", t)
        clip_gradients(model, tc.grad_clip)
        t = lap("gradient norm and clipping", t)
        opt.step()
        lap("Adam (fused)", t)
    return [(name, sec / steps) for name, sec in parts.items()]


def _write_table(path, table: list[dict]) -> None:
    """Write the rows of a table to ``path`` (CSV) when one was given."""
    if path:
        from karaoke._atomic import write_csv

        write_csv(path, table, fieldnames=list(table[0]))
        print(f"written {path}")


def pool_rows(mc, tc, k: int, spectra: int = 1024) -> list[tuple[str, int, int, float, float]]:
    """(form, processes, threads each, wall seconds, median steady ms a step) for K networks
    trained one after the other and side by side (:func:`karaoke.nn.pool.train_many`)."""
    import time

    import torch

    from karaoke.nn.pool import plan, train_many
    from karaoke.nn.training import load_history

    survey = _survey(mc.n_pixels, 6315.0, n=spectra)
    jobs = [(survey, mc, tc.replace(epochs=3, seed=s, max_val_spectra=1)) for s in range(k)]
    out = []
    for form, workers in (("one after the other", 1), ("side by side", None)):
        n_proc, threads = plan(k, "cpu", workers)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            models = train_many(jobs, root=tmp, device="cpu", workers=workers)
            wall = time.perf_counter() - t0
            steady = []
            for m in models:
                h = load_history(m.run_dir)
                steps = h[1]["step"] - h[0]["step"]
                steady += [1e3 * r["seconds"] / steps for r in h[1:]]
        out.append((form, n_proc, threads if n_proc > 1 else torch.get_num_threads(), wall, float(np.median(steady))))
    return out


def main(argv=None) -> int:
    import torch

    from karaoke.nn.flops import gemm_rate, step_flops
    from karaoke.nn.model import ModelConfig
    from karaoke.presets import get_preset

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--paper", action="store_true", help="also time the paper's 327680-px network")
    p.add_argument(
        "--spectra", type=int, default=512, help="spectra in the regime network's timed survey (default 512)"
    )
    p.add_argument(
        "--paper-spectra",
        type=int,
        default=72,
        help="spectra in the paper network's timed survey (default 72: 2 steps an epoch, for a CPU; "
        "a GPU wants ~2048 for a steady epoch)",
    )
    p.add_argument("--cuda-only", action="store_true", help="time only on the GPU (e.g. tools/gpu_check.sh)")
    p.add_argument(
        "--threads", type=int, nargs="+", default=None, help="CPU thread counts of the rows (default 1 and 2)"
    )
    p.add_argument(
        "--batches", type=int, nargs="+", default=None, help="batch sizes of the regime rows (default 16 32)"
    )
    p.add_argument(
        "--csv",
        type=Path,
        default=None,
        help="also write the throughput table here (e.g. docs/results/training.csv, for the README)",
    )
    p.add_argument(
        "--kernels",
        action="store_true",
        help="bare steps of the regime network: eager, torch.compile and bf16 autocast",
    )
    p.add_argument(
        "--layers",
        action="store_true",
        help="each layer of the regime network (--paper: and the paper one) alone, forward + backward, vs the floor",
    )
    p.add_argument(
        "--components",
        action="store_true",
        help="where a regime step's time goes: batch, whitening, forward, ELBO, backward, clipping, Adam",
    )
    p.add_argument(
        "--pool",
        type=int,
        default=0,
        metavar="K",
        help="train K regime networks one after the other and side by side (CPU)",
    )
    a = p.parse_args(argv)
    devices = ([] if a.cuda_only else ["cpu"]) + (["cuda"] if torch.cuda.is_available() else [])
    if not devices:
        p.error("--cuda-only: no CUDA device here")
    reg = get_preset("regime")
    if a.kernels:
        print(
            f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; regime network, batch "
            f"{reg.train.batch_size}, bare steps"
        )
        print(f"{'device':>6} {'latent':>6} {'form':>34} {'ms/step':>8} {'vs eager':>8} {'set-up s':>8}")
        for dev in devices:
            for latent in (128, 1024):
                rows = bare_steps(reg.model_config(latent), reg.train, dev)
                eager = rows[0][1]
                for form, sec, setup in rows:
                    print(
                        f"{dev:>6} {latent:>6} {form:>34} {1e3 * sec:8.1f} {eager / sec:7.2f}x {setup:8.1f}", flush=True
                    )
        return 0
    if a.layers:
        table = []
        nets = [("regime", reg.model_config(), b, 20) for b in a.batches or (reg.train.batch_size,)]
        if a.paper:  # the paper's batch, fewer repeats (a second or more a layer)
            nets.append(("paper", ModelConfig.paper(), get_preset("paper").train.batch_size, 3))
        for t in sorted(set(a.threads or (1,))):
            rate = gemm_rate(t)
            for name, mc, b, repeats in nets:
                rows = layer_rows(mc, b, repeats)
                total = sum(r["seconds"] for r in rows)
                gflop = sum(r["flops"] for r in rows) / 1e9
                print(
                    f"\n{name} network, batch {b}, {t} thread(s), float32 GEMM {rate / 1e9:.1f} GFLOP/s; "
                    f"layers alone, forward + backward: {1e3 * total:.1f} ms, {gflop:.2f} GFLOP"
                )
                head = ("layer", "input", "weight", "MFLOP", "ms", "GFLOP/s", "x floor", "share")
                print(" ".join(f"{h:>{w}}" for h, w in zip(head, (9, 14, 12, 7, 6, 7, 7, 5))))
                for r in rows:  # a layer without matrix products (the output stencil) has no floor
                    rate_s = f"{r['flops'] / r['seconds'] / 1e9:7.1f}" if r["flops"] else f"{'-':>7}"
                    floor_s = f"{r['seconds'] / (r['flops'] / rate):7.1f}" if r["flops"] else f"{'-':>7}"
                    print(
                        f"{r['layer']:>9} {r['input']:>14} {r['weight']:>12} {r['flops'] / 1e6:7.1f} "
                        f"{1e3 * r['seconds']:6.2f} {rate_s} {floor_s} {r['seconds'] / total:5.0%}",
                        flush=True,
                    )
                    table.append(
                        {
                            "network": name,
                            "layer": r["layer"],
                            "input": r["input"],
                            "weight": r["weight"],
                            "threads": t,
                            "batch": b,
                            "mflop": round(r["flops"] / 1e6, 1),
                            "ms": round(1e3 * r["seconds"], 2),
                            "gflops": round(r["flops"] / r["seconds"] / 1e9, 1) if r["flops"] else "",
                            "x_floor": round(r["seconds"] / (r["flops"] / rate), 1) if r["flops"] else "",
                            "share": round(r["seconds"] / total, 3),
                            "device": machine("cpu"),
                            "date": datetime.date.today().isoformat(),
                        }
                    )
        _write_table(a.csv, table)
        return 0
    if a.components:
        table = []
        for t in sorted(set(a.threads or (1,))):
            torch.set_num_threads(t)
            for b in a.batches or (reg.train.batch_size,):
                rows = component_rows(reg.model_config(), reg.train.replace(batch_size=b))
                total = sum(sec for _, sec in rows)
                print(f"\nregime network, batch {b}, {t} thread(s): {1e3 * total:.1f} ms a step")
                for name, sec in rows:
                    print(f"{name:>28} {1e3 * sec:7.2f} ms {sec / total:6.1%}", flush=True)
                    table.append(
                        {
                            "part": name,
                            "threads": t,
                            "batch": b,
                            "ms": round(1e3 * sec, 2),
                            "share": round(sec / total, 3),
                            "device": machine("cpu"),
                            "date": datetime.date.today().isoformat(),
                        }
                    )
        _write_table(a.csv, table)
        return 0
    if a.pool:
        print(
            f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; {a.pool} regime networks, batch "
            f"{reg.train.batch_size}, 3 epochs of 1024 spectra each"
        )
        print(f"{'form':>20} {'procs':>5} {'threads':>7} {'wall s':>7} {'ms/step':>8} {'speed-up':>8}")
        rows = pool_rows(reg.model_config(), reg.train, a.pool)
        for form, n_proc, threads, wall, ms in rows:
            print(f"{form:>20} {n_proc:5d} {threads:7d} {wall:7.1f} {ms:8.1f} {rows[0][3] / wall:7.2f}x", flush=True)
        return 0
    rows = [
        ("regime", reg.survey.n_pixels, reg.survey.grid_start, reg.model_config(), reg.train.replace(batch_size=b))
        for b in (a.batches or (16, 32))
    ]
    if a.paper:
        rows.append(("paper", 327680, 3709.11, ModelConfig.paper(), get_preset("paper").train))
    threads_list = sorted(set(a.threads or (1, 2)))
    rates = {t: gemm_rate(t) for t in threads_list}  # this CPU's float32 GEMM floor at each thread count
    print(
        f"torch {torch.__version__}; float32 GEMM "
        + ", ".join(f"{t} thread{'s' if t > 1 else ''} {r / 1e9:.1f} GFLOP/s" for t, r in rates.items())
        + (f"; {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "")
    )
    print(
        f"{'network':>8} {'px':>7} {'device':>6} {'thr':>3} {'batch':>5} {'GFLOP':>7} {'ms/step':>8} {'GFLOP/s':>8} "
        f"{'x floor':>7} {'spectra/s':>9} {'vs paper':>8}"
    )
    table = []
    for name, n_pix, start, mc, tc in rows:
        survey = _survey(n_pix, start, n=a.paper_spectra if n_pix > 100000 else a.spectra)
        flops = step_flops(mc, tc.batch_size)  # forward + backward, from the network's shapes
        for dev in devices:
            for t in threads_list if dev == "cpu" else [torch.get_num_threads()]:
                torch.set_num_threads(t)
                sec = time_steps(survey, mc, tc, dev)
                sps = tc.batch_size / sec
                x_floor = sec / (flops / rates[t]) if dev == "cpu" else float("nan")
                print(
                    f"{name:>8} {n_pix:7d} {dev:>6} {t:3d} {tc.batch_size:5d} {flops / 1e9:7.2f} {1e3 * sec:8.1f} "
                    f"{flops / sec / 1e9:8.1f} {x_floor:7.2f} {sps:9.1f} {sps / PAPER_SPECTRA_PER_S:7.2f}x",
                    flush=True,
                )
                table.append(
                    {
                        "network": name,
                        "pixels": n_pix,
                        "device": machine(dev),
                        "threads": t,
                        "batch": tc.batch_size,
                        "gflop_per_step": round(flops / 1e9, 3),
                        "ms_per_step": round(1e3 * sec, 1),
                        "gflops": round(flops / sec / 1e9, 1),
                        "x_floor": round(x_floor, 2),
                        "steps_per_s": round(1 / sec, 2),
                        "spectra_per_s": round(sps, 1),
                        "vs_paper": round(sps / PAPER_SPECTRA_PER_S, 2),
                        "torch": torch.__version__,
                        "date": datetime.date.today().isoformat(),
                    }
                )
    _write_table(a.csv, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
