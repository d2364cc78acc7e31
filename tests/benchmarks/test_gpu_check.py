"""tools/gpu_check.sh, the prepared GPU check, runs its steps end to end at a tiny size on the CPU
(`--smoke`), so a renamed flag or a broken benchmark is found here and not in a lent GPU's minutes."""

import os
import re
import subprocess
import sys

from karaoke.paths import ROOT


def test_the_gpu_check_runs_every_step_in_smoke_mode(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "PY": sys.executable}
    res = subprocess.run(
        ["bash", str(ROOT / "tools" / "gpu_check.sh"), "--smoke"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, res.stderr
    exits = dict(re.findall(r"^=== (\w+): exit (\d+) after", res.stdout, re.M))
    assert set(exits) == {"training", "inference", "science", "paper_scale", "resume"}, res.stdout
    assert all(code == "0" for code in exits.values()), {
        k: (tmp_path / f"{k}.log").read_text()[-2000:] for k, c in exits.items() if c != "0"
    }
    assert (tmp_path / "device.txt").exists() and (tmp_path / "inference.csv").exists()
    assert "claim whitened Qt" in (tmp_path / "science.log").read_text()
    # the resume tests ran, and only those: an interrupted run, one interrupted after a rollback of
    # the collapse guard, and the checkpoint's generator states
    assert "3 passed" in (tmp_path / "resume.log").read_text()
