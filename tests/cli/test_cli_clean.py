"""``karaoke clean``."""

import torch
from astropy.io import fits

from karaoke.cli import main
from karaoke.nn.model import Karaoke, ModelConfig
from tests.helpers import shared


def test_clean_with_the_authors_format_on_a_real_adp(tmp_path, capsys):
    torch.manual_seed(0)
    path = tmp_path / "model_14v3_128d_e116_i954k.pth.tar"
    torch.save({"state_dict": Karaoke(ModelConfig.paper()).state_dict()}, path)
    adp = shared("harps", "ADP.2014-09-16T11:04:45.123.fits")
    assert main(["clean", str(path), str(adp), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    with fits.open(tmp_path / "out" / "ADP.2014-09-16T11:04:45.123_karaoke.fits") as h:
        assert len(h["TOPOCENTRIC"].data["WAVE"]) == 327680
        assert h["SPECTRUM"].data["RECON"].shape == (327680,)
