"""The embedded synthetic survey: stars, a physical telluric model and observations.

Layer 2 (above :mod:`karaoke.spectra`):

* :mod:`karaoke.synth.generator` -- :func:`make_survey`: stellar spectra from a line list,
  observed through the telluric transmission at random airmass, water vapour and BERV, with
  photon noise and the exact truth kept;
* :mod:`karaoke.synth.telluric` -- O2 bands from molecular constants and H2O lines from the
  HITRAN table shipped in ``karaoke/synth/data/h2o_lines.ecsv`` (pure functions);
* :mod:`karaoke.synth.device` -- :func:`~karaoke.synth.device.make_survey_torch`, the same
  survey computed with torch on a GPU (imported on demand: it loads PyTorch).
"""

from karaoke.synth.generator import SurveyConfig, make_survey, stellar_line_list
from karaoke.synth.telluric import TelluricModel, convolve_to_resolution

__all__ = ["SurveyConfig", "make_survey", "stellar_line_list", "TelluricModel", "convolve_to_resolution"]
