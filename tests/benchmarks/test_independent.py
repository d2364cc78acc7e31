"""benchmarks/independent.py: a survey from a generator that shares no code with karaoke,
trained and scored through the CLI. Its physics is checked against the HITRAN lists directly,
and its whole path runs at a tiny size."""

import numpy as np
import pytest

from karaoke.paths import shared_data_dir
from tests.helpers import load_script


def _bench():
    return load_script("benchmarks/independent.py")


@pytest.fixture(scope="module")
def bench():
    if not (shared_data_dir() / "telluric" / "Static_hitran_qt_O2.fits").exists():
        pytest.skip("needs the HITRAN lists in ../shared/data/telluric")
    mod = _bench()
    mod.SHARED = shared_data_dir()
    return mod


def test_its_air_wavelengths_agree_with_karaokes_to_a_few_mA(bench):
    """Two independent formulae (Birch & Downs 1994 there, the IAU standard here) agree to < 2 mA
    (0.1 km/s) in the optical, and its inverse is exact."""
    from karaoke.spectra.grid import vacuum_to_air

    lam = np.linspace(5000, 9000, 50)
    assert np.max(np.abs(bench.vac_to_air(lam) - vacuum_to_air(lam))) < 2e-3
    assert np.max(np.abs(bench.vac_to_air(bench.air_to_vac(lam)) - lam)) < 1e-8


def test_its_deepest_telluric_lines_sit_at_the_hitran_positions(bench):
    """The strongest O2 lines of the window are absorption minima of its transmission, at the
    HITRAN wavenumbers converted to air (within 2 pixels)."""
    d = bench.make_independent_survey(6276.0, n_spectra=2, n_stars=1, n_pixels=2048, seed=0, progress=False)
    lines, _ = bench.hitran("O2")
    lam_air = bench.vac_to_air(1e8 / lines["wave_number"])
    inside = (lam_air > d["wave"][20]) & (lam_air < d["wave"][-20])
    strongest = lam_air[inside][np.argsort(lines["Intensity"][inside])[-3:]]
    t = d["transmission"][0]
    for lam in strongest:
        i = int(np.argmin(np.abs(d["wave"] - lam)))
        j = i - 5 + int(np.argmin(t[i - 5 : i + 6]))
        assert abs(d["wave"][j] - lam) <= 0.021, lam  # 2 px (1 km/s): pressure shifts and blends of the band head
        assert t[j] < 0.95


def test_the_cli_path_runs_at_a_tiny_size(bench, tmp_path, capsys):
    assert bench.main(["--smoke", "--windows", "O2", "--work", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "VAE topocentric" in out and "whitened Qt <=" in out
