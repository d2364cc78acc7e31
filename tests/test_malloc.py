"""karaoke._malloc: a training step's large activations reuse freed memory instead of faulting
fresh pages every step."""

import platform
import subprocess
import sys

import pytest

from karaoke.paths import ROOT

STEP = r"""
import resource, sys, torch
from karaoke._malloc import reuse_freed_memory
if sys.argv[1] == "1":
    assert reuse_freed_memory() is True and reuse_freed_memory() is True  # once per process
torch.manual_seed(0)
C = torch.nn
net = C.Sequential(C.Conv1d(1, 16, 7, 2, 3), C.LeakyReLU(0.1), C.Conv1d(16, 16, 5, 2, 2), C.LeakyReLU(0.1),
                   C.ConvTranspose1d(16, 16, 4, 2, 1), C.LeakyReLU(0.1), C.ConvTranspose1d(16, 1, 4, 2, 1))
x = torch.rand(4, 1, 327680)  # activations of 10-40 MB, as the paper network's first layers at batch 1-2
def step():
    net.zero_grad(set_to_none=True)
    (net(x) - x).abs().mean().backward()
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(2):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 2)
"""


@pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"), reason="mallopt is glibc's"
)
def test_a_training_step_reuses_freed_memory_instead_of_faulting_it_in_again():
    """Minor page faults per step of a conv net on 327680 px (a fresh process each): glibc's
    default unmaps each large activation on free and faults it in again the next step (235k
    faults a step here); with :func:`reuse_freed_memory` they are reused (15k). Where the
    default already faults little (transparent huge pages always on), there is nothing to test."""
    faults = {}
    for on in ("0", "1"):
        out = subprocess.run([sys.executable, "-c", STEP, on], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        faults[on] = int(out.stdout.split()[-1])
    assert faults["1"] < 0.25 * faults["0"] or faults["0"] < 20_000, faults
