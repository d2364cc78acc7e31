"""The ONNX Runtime engine and the polyphase decoder compute the PyTorch network's function
(issue 13: outputs equal to PyTorch within 1e-5), with the same guard band and posterior draws."""

import numpy as np
import pytest
import torch
from torch import nn

from karaoke.nn.export import OnnxKaraoke, PolyphaseDeconv, PolyphaseTail, polyphase
from karaoke.nn.model import Karaoke, ModelConfig

pytest.importorskip("onnxruntime")


def _direct_transposed_conv(x, W, b):
    """Transposed convolution, stride 2, padding 1, from its definition in float64:
    y[o, n] = b[o] + sum_{c,i,k: 2 i + k - 1 = n} x[c, i] W[c, o, k]."""
    c_in, L = x.shape
    K = W.shape[2]
    y = np.tile(b[:, None], (1, 2 * L)).astype(np.float64)
    for i in range(L):
        for k in range(K):
            n = 2 * i + k - 1
            if 0 <= n < 2 * L:
                y[:, n] += W[:, :, k].T @ x[:, i]
    return y


@pytest.mark.parametrize("c_in,c_out", [(3, 1), (4, 5)])
def test_polyphase_deconv_is_the_transposed_convolution(c_in, c_out):
    torch.manual_seed(1)
    ct = nn.ConvTranspose1d(c_in, c_out, 4, stride=2, padding=1).double()
    x = torch.randn(2, c_in, 37, dtype=torch.float64)
    poly = PolyphaseDeconv(ct)
    got = poly(x).detach().numpy()
    W, b = ct.weight.detach().numpy(), ct.bias.detach().numpy()
    for j in range(2):
        want = _direct_transposed_conv(x[j].numpy(), W, b)
        np.testing.assert_allclose(got[j], want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got, ct(x).detach().numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("c2,c1,c0", [(3, 1, 1), (4, 2, 3)])
def test_polyphase_tail_is_two_transposed_convolutions_and_a_convolution(c2, c1, c0):
    """Two stride-2 transposed convolutions (LeakyReLU after each) and a kernel-3 convolution,
    from their definitions in float64, against the tail that never interleaves the middle."""
    torch.manual_seed(2)
    up2 = nn.ConvTranspose1d(5, c2, 4, stride=2, padding=1).double()
    up1 = nn.ConvTranspose1d(c2, c1, 4, stride=2, padding=1).double()
    out = nn.Conv1d(c1, c0, 3, padding=1).double()
    act = nn.LeakyReLU(0.1)
    x = torch.randn(2, 5, 23, dtype=torch.float64)
    tail = PolyphaseTail(PolyphaseDeconv(up2, act), PolyphaseDeconv(up1, act), out)
    got = tail(x).detach().numpy()
    lrelu = lambda a: np.where(a > 0, a, 0.1 * a)  # noqa: E731
    for j in range(2):
        h = lrelu(_direct_transposed_conv(x[j].numpy(), up2.weight.detach().numpy(), up2.bias.detach().numpy()))
        u = lrelu(_direct_transposed_conv(h, up1.weight.detach().numpy(), up1.bias.detach().numpy()))
        P, b = out.weight.detach().numpy(), out.bias.detach().numpy()
        up = np.pad(u, ((0, 0), (1, 1)))
        want = b[:, None] + sum(P[:, :, t] @ up[:, t : t + u.shape[1]] for t in range(3))
        assert got[j].shape == (c0, 4 * 23)
        np.testing.assert_allclose(got[j], want, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="kernel-3"):
        PolyphaseTail(PolyphaseDeconv(up2, act), PolyphaseDeconv(up1, act), nn.Conv1d(c1, c0, 5, padding=2))


def test_polyphase_refuses_other_transposed_convolutions():
    with pytest.raises(ValueError, match="kernel-4 stride-2"):
        PolyphaseDeconv(nn.ConvTranspose1d(2, 2, 3, stride=1, padding=1))


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    m = Karaoke(ModelConfig.scaled(2048, 16, width=0.25)).eval()
    with torch.no_grad():  # a posterior wide enough that draws differ visibly
        m.fc12.bias.fill_(2.0)
    m.trained = True
    m.input_guard = np.ones(2048, np.float32)
    m.input_guard[:40] = 0
    return m


@pytest.fixture(scope="module")
def flux():
    rng = np.random.default_rng(3)
    return (1 + 0.05 * rng.standard_normal((5, 2048))).astype(np.float32)


def test_polyphase_network_equals_the_original(net, flux):
    p = polyphase(net)
    p.trained = True
    assert sum(
        isinstance(mod, PolyphaseDeconv) for name, mod in p.named_children() if name.startswith("deconv")
    ) == net.config.n_down - 2 and isinstance(p.deconv2, PolyphaseTail)
    assert np.abs(p.reconstruct(flux) - net.reconstruct(flux)).max() < 1e-5
    q = polyphase(net, tail=False)
    q.trained = True
    assert (
        sum(isinstance(mod, PolyphaseDeconv) for name, mod in q.named_children() if name.startswith("deconv"))
        == net.config.n_down
    )
    assert np.abs(q.reconstruct(flux) - net.reconstruct(flux)).max() < 1e-5


@pytest.mark.parametrize("tail", [True, False])
@pytest.mark.parametrize("width", [0.25, 1.0])
def test_onnx_decoder_form_is_the_decoder(tail, width):
    """The decoder as exported for ONNX Runtime (kernel-2 phase convolutions whose extra end
    pixels are sliced off, the tail's 1x1 contraction and shifted sums) is, in float64, the
    network's decoder: exact up to rounding, ends included."""
    import copy

    from karaoke.nn.export import _Decoder2d, _Tail2d, _Upsample2d

    torch.manual_seed(8)
    net = Karaoke(ModelConfig.scaled(2048, 16, width=width)).eval()
    m = copy.deepcopy(net).double()
    dec = _Decoder2d(polyphase(m, tail=tail))
    kinds = [type(layer) for layer in dec.dec]
    assert kinds.count(_Upsample2d) == net.config.n_down - (2 if tail else 0)
    assert (kinds[-1] is _Tail2d) == tail
    z = torch.randn(3, net.config.latent_dim, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        got, want = dec(z).numpy(), m.decode(z)[:, 0].numpy()
    assert got.shape == (3, net.config.n_pixels)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "rewrite,conv2d,decoder2d", [(False, False, False), (True, False, False), (True, True, False), (True, True, True)]
)
def test_onnx_engine_equals_pytorch(net, flux, rewrite, conv2d, decoder2d):
    eng = OnnxKaraoke(net, threads=1, rewrite=rewrite, conv2d=conv2d, decoder2d=decoder2d)
    ref = net.reconstruct(flux, batch_size=2)
    got = eng.reconstruct(flux, batch_size=3)
    assert np.abs(got - ref).max() < 1e-5
    np.testing.assert_array_equal(got[:, :40], flux[:, :40])  # guard band passed through
    a = net.reconstruct_samples(flux, n_samples=3, batch_size=2, seed=[5, 6, 7, 8, 9])
    b = eng.reconstruct_samples(flux, n_samples=3, batch_size=5, seed=[5, 6, 7, 8, 9])
    assert np.abs(a - b).max() < 1e-5
    assert a.std(axis=0)[:, 40:].mean() > 1e-3  # the draws differ from each other


def test_onnx_engine_equals_pytorch_at_full_width():
    """At full width (16 channels and more, as the paper's network) ONNX Runtime takes its
    blocked-channel paths, and the channels-last interleaves become its reorders: still equal."""
    torch.manual_seed(5)
    m = Karaoke(ModelConfig.scaled(4096, 32)).eval()
    m.trained = True
    x = (1 + 0.05 * np.random.default_rng(6).standard_normal((3, 4096))).astype(np.float32)
    got = OnnxKaraoke(m, threads=1).reconstruct(x, batch_size=2)
    assert np.abs(got - m.reconstruct(x)).max() < 1e-5


def test_onnx_engine_needs_a_trained_model_and_the_right_length(net, flux):
    with pytest.raises(RuntimeError, match="trained"):
        OnnxKaraoke(Karaoke(ModelConfig.scaled(2048, 16, width=0.25)))
    eng = OnnxKaraoke(net, threads=1)
    with pytest.raises(ValueError, match="2048"):
        eng.reconstruct(flux[:, :1024])


def test_onnx_engine_runs_the_deterministic_ae(flux):
    torch.manual_seed(4)
    ae = Karaoke(ModelConfig.scaled(2048, 16, variational=False, width=0.25)).eval()
    ae.trained = True
    eng = OnnxKaraoke(ae, threads=1)
    assert np.abs(eng.reconstruct(flux) - ae.reconstruct(flux)).max() < 1e-5
    assert np.abs(OnnxKaraoke(ae, threads=1, decoder2d=True).reconstruct(flux) - ae.reconstruct(flux)).max() < 1e-5
    with pytest.raises(ValueError, match="rewrite"):
        OnnxKaraoke(ae, threads=1, rewrite=False, decoder2d=True)
    draws = eng.reconstruct_samples(flux, n_samples=2, seed=1)
    np.testing.assert_array_equal(draws[0], draws[1])  # no posterior: every draw is the reconstruction
