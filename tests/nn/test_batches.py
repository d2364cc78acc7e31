"""Batch sources (karaoke.nn.batches): per-star weighting, and the same batches wherever the
spectra live (host arrays, memmaps, or on the device)."""

import numpy as np
import pytest
import torch

from karaoke.nn.batches import ArrayBatches, DeviceBatches, make_batches, sampling_weights, survey_bytes


def _data(n=40, L=64, seed=0):
    rng = np.random.default_rng(seed)
    flux = rng.normal(1, 0.1, (n, L)).astype(np.float32)
    mask = (rng.random((n, L)) > 0.1).astype(np.float32)
    return flux, mask


def test_per_star_weights_give_every_star_the_same_total():
    star = np.array([0] * 30 + [1] * 5 + [2] * 5)
    idx = np.arange(star.size)
    w = sampling_weights(star, idx).numpy()
    totals = [w[star == s].sum() for s in (0, 1, 2)]
    assert np.allclose(totals, 1.0)
    assert np.allclose(sampling_weights(None, idx).numpy(), 1.0)
    assert np.allclose(sampling_weights(star, idx, per_star=False).numpy(), 1.0)


@pytest.mark.parametrize("mask_1d", [False, True])
def test_device_and_array_sources_draw_the_same_batches(mask_1d):
    flux, mask = _data()
    if mask_1d:
        mask = mask[0]
    idx = np.arange(3, 37, 2)
    w = sampling_weights(None, idx)
    a = ArrayBatches(flux, mask, idx, w, "cpu")
    d = DeviceBatches(flux, mask, idx, w, "cpu")
    ga, gd = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    for _ in range(4):
        pick = a.draw(8, ga)
        assert set(pick.tolist()) <= set(idx.tolist())
        xa, ma = a.gather(pick)
        xd, md = d.next(8, gd)
        assert torch.equal(xa, xd) and torch.equal(ma, md)
        assert torch.equal(xa, torch.from_numpy(flux[pick.numpy()]))  # (B, L) rows of the survey


def test_make_batches_chooses_by_device_and_size():
    flux, mask = _data()
    idx, w = np.arange(40), torch.ones(40, dtype=torch.float64)
    assert type(make_batches(flux, mask, idx, w, "cpu")) is ArrayBatches  # auto: never on a CPU
    assert type(make_batches(flux, mask, idx, w, "cpu", on_device="yes")) is DeviceBatches
    with pytest.raises(ValueError, match="on_device"):
        make_batches(flux, mask, idx, w, "cpu", on_device="maybe")
    assert survey_bytes(4000, 327680, False) == 4000 * 327680 * 4  # the paper survey: 5.2 GB of flux


def test_training_from_the_device_source_gives_the_same_network(small_survey, tmp_path):
    from karaoke.nn.model import ModelConfig
    from karaoke.nn.training import TrainConfig, train

    mc = ModelConfig.scaled(small_survey.n_pixels, 8, width=0.25)
    tc = TrainConfig(epochs=1, batch_size=8, lr=1e-3, kl_warmup=(0, 4), max_val_spectra=8)
    a = train(small_survey, mc, tc, tmp_path / "a", progress=False, on_device="no")
    b = train(small_survey, mc, tc, tmp_path / "b", progress=False, on_device="yes")
    for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        torch.testing.assert_close(x, y, rtol=0, atol=0, msg=k)
