import numpy as np
import pytest
import torch

from karaoke.nn.checkpoint import config_from_state_dict, load_model, save_model
from karaoke.nn.model import Karaoke, ModelConfig, n_parameters

PAPER_KEYS_SAMPLE = {
    "conv1.0.weight": (16, 1, 7),
    "conv2.0.weight": (16, 16, 5),
    "conv14.0.weight": (512, 256, 3),
    "conv15.0.weight": (512, 512, 3),
    "fc11.weight": (128, 10240),
    "fc12.weight": (128, 10240),
    "fc2.weight": (10240, 128),
    "deconv15.0.weight": (512, 512, 3),
    "deconv14.0.weight": (512, 256, 4),
    "deconv1.0.weight": (16, 1, 4),
    "predict0.weight": (1, 1, 3),
}


def test_paper_network_has_the_authors_parameter_count_and_names():
    m = Karaoke(ModelConfig.paper())
    assert n_parameters(m) == 7_046_997
    assert n_parameters(Karaoke(ModelConfig.paper(variational=False))) == 5_736_149
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    for k, s in PAPER_KEYS_SAMPLE.items():
        assert shapes[k] == s, k
    assert ModelConfig.paper().bottleneck_length == 20 and ModelConfig.paper().flat_dim == 10240


def test_forward_shapes_and_deterministic_inference():
    cfg = ModelConfig.scaled(1024, latent_dim=8, width=0.25)
    m = Karaoke(cfg)
    x = torch.rand(3, 1, 1024)
    y, mu, logvar = m(x)  # train mode: sampled
    assert y.shape == (3, 1, 1024) and mu.shape == (3, 8) and logvar.shape == (3, 8)
    m.eval()
    y1, _, _ = m(x[:, 0])
    y2, _, _ = m(x[:, 0])
    assert y1.shape == (3, 1024) and torch.equal(y1, y2)
    with pytest.raises(ValueError, match="pixels"):
        m(torch.rand(1, 1, 512))


def test_scaled_configs_and_validation():
    c = ModelConfig.scaled(4096)
    assert c.bottleneck_length >= 16 and 4096 % 2**c.n_down == 0 and c.enc_channels[-2:] == (256, 512)
    with pytest.raises(ValueError):
        ModelConfig(1000)
    with pytest.raises(ValueError):
        ModelConfig.scaled(24)


def test_authors_checkpoint_format_loads_strictly_and_runs(tmp_path):
    """A file in the authors' exact format (their key names and shapes, random weights)."""
    torch.manual_seed(0)
    ref = Karaoke(ModelConfig.paper())
    path = tmp_path / "model_14v3_128d_e116_i954k.pth.tar"
    torch.save({"state_dict": ref.state_dict(), "epoch": 116}, path)
    m = load_model(path)
    assert m.trained and not m.training and m.config == ModelConfig.paper()
    x = torch.rand(1, 327680)
    with torch.no_grad():
        np.testing.assert_array_equal(m(x)[0].numpy(), ref.eval()(x)[0].numpy())
    # a DataParallel-style prefix is accepted too
    torch.save({"state_dict": {"module." + k: v for k, v in ref.state_dict().items()}}, tmp_path / "dp.pth")
    assert load_model(tmp_path / "dp.pth").config.n_pixels == 327680


def test_wrong_files_raise_clear_errors(tmp_path):
    sd = Karaoke(ModelConfig.scaled(1024, 8, width=0.25)).state_dict()
    sd.pop("predict0.bias")
    torch.save({"state_dict": sd}, tmp_path / "broken.pth")
    with pytest.raises(ValueError, match="broken.pth"):
        load_model(tmp_path / "broken.pth")
    (tmp_path / "junk.pt").write_text("not torch")
    with pytest.raises(ValueError, match="junk.pt"):
        load_model(tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="does not exist"):
        load_model(tmp_path / "nope.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="neither"):
        load_model(tmp_path / "other.pt")
    with pytest.raises(ValueError):
        config_from_state_dict({"x": torch.zeros(1)})


def test_our_checkpoint_describes_itself_and_round_trips(tmp_path):
    cfg = ModelConfig.scaled(1024, latent_dim=8, variational=False, width=0.25)
    m = Karaoke(cfg)
    save_model(m, tmp_path / "m.pt", seed=3, data_hash="abc", step=10)
    obj = torch.load(tmp_path / "m.pt", weights_only=False)
    assert obj["version"] and obj["seed"] == 3 and obj["data_hash"] == "abc" and obj["step"] == 10
    m2 = load_model(tmp_path / "m.pt")
    assert m2.config == cfg and not hasattr(m2, "fc12")
    x = torch.rand(2, 1024)
    with torch.no_grad():
        np.testing.assert_array_equal(m.eval()(x)[0].numpy(), m2(x)[0].numpy())


def test_untrained_model_is_guarded():
    m = Karaoke(ModelConfig.scaled(1024, 8, width=0.25))
    with pytest.raises(RuntimeError, match="trained model"):
        m.reconstruct(np.ones((1, 1024)))


@pytest.mark.parametrize("variational", [True, False])
def test_posterior_samples(variational):
    """K draws z ~ q(z|x), decoded: reproducible by seed, spread around the deterministic
    reconstruction for the VAE, identical to it for the AE (no posterior); guard band passed
    through; refused before training."""
    torch.manual_seed(0)
    net = Karaoke(ModelConfig.scaled(256, 4, variational=variational, width=0.25))
    x = 1 + 0.1 * np.random.default_rng(0).normal(size=(3, 256)).astype(np.float32)
    with pytest.raises(RuntimeError, match="needs a trained model"):
        net.reconstruct_samples(x)
    net.trained = True
    net.input_guard = np.ones(256, np.float32)
    net.input_guard[:10] = 0
    s = net.reconstruct_samples(x, n_samples=6, seed=4)
    assert s.shape == (6, 3, 256) and s.dtype == np.float32
    np.testing.assert_array_equal(s, net.reconstruct_samples(x, n_samples=6, seed=4))
    np.testing.assert_array_equal(s[:, :, :10], np.broadcast_to(x[:, :10], (6, 3, 10)))
    mean = net.reconstruct(x)
    if variational:
        assert np.all(s.std(0)[:, 10:].mean() > 0)
        assert not np.array_equal(s, net.reconstruct_samples(x, n_samples=6, seed=5))
    else:
        np.testing.assert_allclose(s, np.broadcast_to(mean, s.shape), atol=1e-6)
    with pytest.raises(ValueError, match="n_samples"):
        net.reconstruct_samples(x, n_samples=0)


def test_the_output_stencil_is_the_plain_convolution_gradients_included():
    """``OutputConv`` (the output layer as a three-tap stencil) against ``torch.nn.Conv1d`` with
    the same weights: the same outputs and gradients in float64 (the same function, rounding
    apart) and within 1e-5 relative in float32, through the whole network."""
    import copy

    from karaoke.nn.model import OutputConv
    from karaoke.nn.training import vae_loss

    torch.manual_seed(0)
    net = Karaoke(ModelConfig.scaled(1024, latent_dim=8, width=0.25))
    assert isinstance(net.predict0, OutputConv)
    with torch.no_grad():
        net.predict0.weight.copy_(torch.tensor([[[0.3, -0.7, 0.2]]]))  # asymmetric: a flipped stencil fails
    plain = copy.deepcopy(net)
    plain.predict0 = torch.nn.Conv1d(1, 1, 3, padding=1)
    plain.predict0.load_state_dict(net.predict0.state_dict())
    assert set(plain.state_dict()) == set(net.state_dict())  # checkpoints load either way
    for dtype, rtol in ((torch.float64, 1e-10), (torch.float32, 1e-5)):
        x = (1 + 0.05 * torch.randn(4, 1024, generator=torch.Generator().manual_seed(1))).to(dtype)
        grads = []
        for m in (net.to(dtype), plain.to(dtype)):
            y, mu, lv = m(x, sample=False)  # (B, L), (B, D), (B, D)
            m.zero_grad()
            vae_loss(y, x, torch.ones_like(x), mu, lv, beta=0.1, reduction="sum")[0].backward()
            grads.append({k: p.grad.clone() for k, p in m.named_parameters()})
        for k, ref in grads[1].items():
            err = float((grads[0][k] - ref).norm() / ref.norm())
            assert err <= rtol, (k, dtype, err)
