import numpy as np

from karaoke.evaluation.telluric_fit import fit_transmission
from karaoke.synth.generator import SurveyConfig, make_survey


def test_line_by_line_fit_recovers_airmass_and_transmission():
    s, _ = make_survey(
        SurveyConfig(n_spectra=2, n_stars=2, grid_start=6270.0, n_pixels=2048, seed=4), progress=False
    ).normalised()
    f = fit_transmission(s.wave, s.flux[0])
    assert abs(f.airmass - s.meta["airmass"][0]) < 0.15
    assert np.corrcoef(f.transmission, s.transmission[0])[0, 1] > 0.99
    assert f.seconds > 0 and f.n_evaluations > 3
