"""benchmarks/inference.py at a tiny size: every engine reconstructs what PyTorch does, and each
row's ratio to the GEMM floor is against the floor at its own thread count."""

import csv

import pytest
import torch

from tests.helpers import load_script

pytest.importorskip("onnxruntime")


def _benchmark(name: str):
    """benchmarks/inference.py loaded as a module named ``name`` (benchmarks/ is no package)."""
    return load_script("benchmarks/inference.py", name)


def test_the_inference_table_compares_each_row_with_its_own_floor(tmp_path):
    mod = _benchmark("bench_inference")
    threads = torch.get_num_threads()
    try:
        mod.main(["--pixels", "4096", "--repeats", "1", "--batches", "1", "--csv", str(tmp_path / "t.csv")])
    finally:
        torch.set_num_threads(threads)
    rows = list(csv.DictReader(open(tmp_path / "t.csv")))
    assert {r["engine"] for r in rows} >= {"PyTorch (reference)", "ONNX Runtime, blocked-layout form (clean)"}
    assert {int(r["threads"]) for r in rows} == {1, threads}
    for r in rows:
        assert float(r["max_abs_diff"]) < 1e-5, r["engine"]
        assert float(r["x_floor"]) == pytest.approx(float(r["ms_per_spectrum"]) / float(r["floor_ms"]), abs=0.01)
    floors = {}
    for r in rows:  # one floor per thread count (timings themselves are not asserted)
        floors.setdefault(r["threads"], set()).add(r["floor_ms"])
    assert all(len(f) == 1 for f in floors.values())


def test_loading_the_benchmark_leaves_the_import_path_alone():
    """A benchmark module that put benchmarks/ on sys.path made its bottleneck.py shadow the
    `bottleneck` package for every later import (astropy's, through specutils)."""
    import sys

    before = list(sys.path)
    _benchmark("bench_inference2")
    assert sys.path == before


def test_the_accelerator_rows_run_here_on_the_cpu():
    """The GPU rows (tools/gpu_check.sh runs them when a GPU is lent) on this CPU at a tiny
    size: every form and precision is timed; CUDA graphs need CUDA and are left out here."""
    mod = _benchmark("bench_inference3")
    from karaoke.nn.model import ModelConfig

    model = mod.trained_like(ModelConfig.scaled(1024, 8, width=0.25))
    rows = mod.cuda_rows(model, 1, batches=(1, 2), device="cpu")
    assert {(r["engine"], r["batch"]) for r in rows} == {
        (e, b)
        for e in ("PyTorch fp32", "PyTorch bf16 autocast", "PyTorch, polyphase decoder bf16 autocast")
        for b in (1, 2)
    }
    assert all(r["ms_per_spectrum"] > 0 and r["device"] == "CPU" for r in rows)
    assert next(model.parameters()).device.type == "cpu"
