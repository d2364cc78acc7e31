"""Several networks trained side by side, one process each (a sweep, a whitened/topocentric pair).

A small network uses a CPU's cores poorly: on this project's 2-core CPU a bare training step of
the ``regime`` network took 38 ms on two threads and 49 ms on one, and two networks trained at
the same time on one thread each finished 1.2-1.5x sooner than one after the other on two
(``python benchmarks/training.py --pool`` measures it on the machine at hand; docs/history.md).
:func:`train_many`
trains the networks of a list that are not in the run cache in a pool of processes that share
the thread budget, then loads every one; the run folders, keys and contents are those of
:func:`karaoke.nn.training.train_cached`, so a network trained in the pool is the one a later
``train_cached`` call finds, and an interrupted pool resumes from each run's checkpoint.

The numbers of processes and threads come from the thread budget (``torch.get_num_threads()``,
the physical cores unless set) and the number of networks to train; ``workers`` or the
environment variable ``KARAOKE_TRAIN_WORKERS`` fix the number of processes (1: train one after
the other in this process, as ``train_cached`` does). On a GPU the default is one process: the
processes would share one device, which is not measured yet.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from karaoke.nn.checkpoint import load_model
from karaoke.nn.model import Karaoke, ModelConfig, n_parameters
from karaoke.nn.training import TrainConfig, pick_device, run_dir_for, train_cached
from karaoke.paths import cache_dir
from karaoke.spectra.survey import Survey

#: Environment variable that fixes the number of training processes (an integer >= 1).
WORKERS_ENV = "KARAOKE_TRAIN_WORKERS"

#: CPU float paths a network can be trained on: the environment of its training process, read
#: by PyTorch when it starts. ``native``: the kernels PyTorch picks for this CPU. ``avx2``: ATen's
#: vector kernels and oneDNN's convolutions restricted to AVX2, as on a CPU without AVX-512.
#: ``default``: ATen's scalar kernels. Each orders a convolution's sums differently, so each
#: gives another training trajectory (on this project's AMD EPYC, 60 steps of the regime
#: network gave different weights under all three, and under one and two threads): a recipe
#: whose claims hold on one path only holds by luck (``benchmarks/robustness.py``).
FLOAT_PATHS = {
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "default": {"ATEN_CPU_CAPABILITY": "default"},
}


def current_float_path(environ=None) -> str:
    """The float path this process runs on, read from its environment: the name in
    :data:`FLOAT_PATHS` whose variables it has set, ``native`` when none is set, or the variables
    themselves (``"ATEN_CPU_CAPABILITY=... ONEDNN_MAX_CPU_ISA=..."``) for another combination."""
    env = os.environ if environ is None else environ
    keys = sorted({k for v in FLOAT_PATHS.values() for k in v})
    have = {k: env[k] for k in keys if env.get(k)}
    for name, want in FLOAT_PATHS.items():
        if have == want:
            return name
    return " ".join(f"{k}={v}" for k, v in have.items())


def other_float_path() -> str:
    """A float path other than this CPU's own: ``avx2``, or ``default`` where PyTorch already
    runs AVX2 kernels (a CPU without AVX-512), which would make ``avx2`` the native path."""
    return "default" if torch.backends.cpu.get_cpu_capability() in ("AVX2", "DEFAULT") else "avx2"


def float_path_root(float_path: str = "native") -> Path:
    """The run cache of a float path: ``data/cache/runs`` for ``native``, else
    ``data/cache/runs-<path>`` (a run's key holds its configs and data, not the float path, so
    each path keeps its own networks).

    Raises
    ------
    ValueError
        For a name not in :data:`FLOAT_PATHS`.
    """
    if float_path not in FLOAT_PATHS:
        raise ValueError(f"unknown float path {float_path!r}; choose from {sorted(FLOAT_PATHS)}")
    return cache_dir() / ("runs" if float_path == "native" else f"runs-{float_path}")


@contextlib.contextmanager
def _environment(extra: dict):
    """Set environment variables for the processes started inside (restored after)."""
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def plan(n_jobs: int, device: str = "cpu", workers: int | None = None, budget: int | None = None) -> tuple[int, int]:
    """How to train ``n_jobs`` networks: (processes, torch threads per process).

    Parameters
    ----------
    n_jobs : int
        Networks to train.
    device : str
        ``cpu`` or a GPU (``cuda``...): on a GPU the default is one process.
    workers : int, optional
        Processes (default: ``KARAOKE_TRAIN_WORKERS`` if set, else one per thread of the budget,
        at most ``n_jobs``).
    budget : int, optional
        Threads to share (default ``torch.get_num_threads()``).

    Raises
    ------
    ValueError
        ``workers`` or ``KARAOKE_TRAIN_WORKERS`` is not an integer >= 1.
    """
    budget = max(1, int(budget or torch.get_num_threads()))
    if workers is None and os.environ.get(WORKERS_ENV, "").strip():
        raw = os.environ[WORKERS_ENV].strip()
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"{WORKERS_ENV}={raw!r}: give the number of training processes, an integer >= 1")
        workers = int(raw)
    if workers is not None and int(workers) < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers is None:
        workers = 1 if str(device).startswith("cuda") else budget
    workers = max(1, min(int(workers), n_jobs))
    return workers, max(1, budget // workers)


def _train_one(
    survey: Survey, model_config: ModelConfig, train_config: TrainConfig, root, device: str, threads: int
) -> str:
    """Worker: train one network into the run cache on ``threads`` threads; its run folder."""
    torch.set_num_threads(threads)
    model = train_cached(survey, model_config, train_config, root=root, device=device, progress=False)
    return str(model.run_dir)


def _cost(survey: Survey, model_config: ModelConfig, train_config: TrainConfig) -> float:
    """Relative training time: steps x (pixels + parameters / 2000). On this project's CPU a
    step of the regime network (4096 px, 2.2 M parameters) takes ~40 ms and one with 1024
    latent dimensions (12.6 M parameters, the optimiser's share larger) ~65 ms."""
    steps = len(survey) * (1 - train_config.holdout_fraction) * train_config.epochs / train_config.batch_size
    with torch.device("meta"):  # shapes only
        n_par = n_parameters(Karaoke(model_config))
    return steps * (model_config.n_pixels + n_par / 2000)


def train_many(
    jobs,
    root=None,
    device: str = "auto",
    workers: int | None = None,
    progress: bool = False,
    float_path: str = "native",
) -> list[Karaoke]:
    """The trained networks for several (survey, model config, training config) jobs, training
    those not in the run cache side by side, the longest first.

    Parameters
    ----------
    jobs : sequence of (Survey, ModelConfig, TrainConfig)
        The networks, in the order returned. Surveys: topocentric spectra on the model's grid, in
        memory (each process receives a copy without the truth arrays, which training does not
        read).
    root : path, optional
        Run cache folder (default ``data/cache/runs``), as in
        :func:`karaoke.nn.training.train_cached`.
    device : str
        ``auto``, ``cpu``, ``cuda``...
    workers : int, optional
        Training processes (see :func:`plan`).
    progress : bool
        A progress bar over the networks trained (one after the other in this process: the
        per-epoch bars of ``train_cached``).
    float_path : str
        A key of :data:`FLOAT_PATHS`: the CPU kernels the networks are trained with. Other than
        ``native``, every network is trained in a process of its own started with that
        environment, into :func:`float_path_root` unless ``root`` is given (CPU only).

    Returns
    -------
    list of Karaoke
        In eval mode with ``run_dir`` set, in the order of ``jobs``.

    Raises
    ------
    karaoke.nn.training.TrainingDiverged, ValueError
        The first failure among the networks, after the others have finished (their runs stay
        in the cache).
    """
    jobs = [(survey, mc, tc) for survey, mc, tc in jobs]
    env = FLOAT_PATHS.get(float_path)
    if env is None:
        raise ValueError(f"unknown float path {float_path!r}; choose from {sorted(FLOAT_PATHS)}")
    root = Path(root) if root is not None else float_path_root(float_path)  # resolved here, for the workers too
    runs = [run_dir_for(mc, tc, survey.data_hash(), root) for survey, mc, tc in jobs]
    todo, seen = [], set()
    for i, r in enumerate(runs):  # each missing run once (two jobs may name the same network)
        if not (r / "model.pt").exists() and r not in seen:
            seen.add(r)
            todo.append(i)
    todo.sort(key=lambda i: -_cost(*jobs[i]))  # longest first, so that the last ones to start are short
    dev = str(pick_device(device))
    if env and dev != "cpu":
        raise ValueError(f"float path {float_path!r} is a CPU setting; train on the CPU (device 'cpu'), not {dev}")
    n_proc, threads = plan(len(todo), dev, workers)
    if n_proc <= 1 and not env:
        for i in todo:
            train_cached(*jobs[i], root=root, device=device, progress=progress)
    elif todo:
        light = {}  # one stripped copy per survey
        for i in todo:
            s = jobs[i][0]
            if id(s) not in light:
                light[id(s)] = replace(s, stellar=None, transmission=None, meta=dict(s.meta))  # same data hash
        errors = []
        with ProcessPoolExecutor(n_proc, mp_context=multiprocessing.get_context("spawn")) as pool:
            with _environment(env):  # the processes start during submit: they inherit the float path
                futures = {
                    pool.submit(_train_one, light[id(jobs[i][0])], *jobs[i][1:], root, dev, threads): i for i in todo
                }
            bar = tqdm(
                total=len(futures), desc=f"networks ({n_proc} processes x {threads} threads)", disable=not progress
            )
            for fut in as_completed(futures):
                try:
                    fut.result()
                except Exception as exc:  # the others keep training; the first failure is raised below
                    errors.append((futures[fut], exc))
                bar.update()
            bar.close()
        if errors:  # the message of a training error names its run folder
            raise min(errors, key=lambda e: e[0])[1]
    models = []
    for r in runs:
        models.append(load_model(r / "model.pt"))
    return models
