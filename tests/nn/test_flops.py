"""FLOPs of a training step counted from the network's shapes, against a hand count."""

from karaoke.nn.flops import gemm_rate, step_flops
from karaoke.nn.model import ModelConfig


def _conv(b, c_in, c_out, k, l_out):
    return 2 * b * c_in * c_out * k * l_out


def test_step_flops_match_a_hand_count_of_a_small_network():
    """Two stride-2 convolutions (64 -> 32 -> 16 px), the stride-1 one, the three linear layers
    of a VAE and the mirrored decoder; backward = gradients of every weight and of every layer's
    input but the first (the spectra need none): 3 x forward - the first convolution. The output
    layer's stencil is element-wise work, which the count leaves out like the activations."""
    cfg = ModelConfig(n_pixels=64, latent_dim=4, variational=True, enc_channels=(4, 8), enc_kernels=(3, 3))
    b = 2
    forward = {
        "conv1": _conv(b, 1, 4, 3, 32),
        "conv2": _conv(b, 4, 8, 3, 16),
        "conv3": _conv(b, 8, 8, 3, 16),
        "fc11, fc12, fc2": 3 * 2 * b * 128 * 4,
        "deconv3": _conv(b, 8, 8, 3, 16),  # a transposed convolution: taps x input length
        "deconv2": _conv(b, 8, 4, 4, 16),
        "deconv1": _conv(b, 4, 1, 4, 32),
    }  # predict0, the output layer, is a three-tap stencil (karaoke.nn.model.OutputConv): element-wise work
    f = sum(forward.values())
    assert step_flops(cfg, b, backward=False) == f
    assert step_flops(cfg, b) == 3 * f - forward["conv1"]
    assert step_flops(cfg, 2 * b) == 2 * step_flops(cfg, b)


def test_gemm_rate_is_a_plausible_cpu_rate():
    import torch

    threads = torch.get_num_threads()
    try:
        rate = gemm_rate(1, repeats=1, n=256)
    finally:
        torch.set_num_threads(threads)
    assert 1e8 < rate < 1e13  # FLOP/s of one core: 0.1 GFLOP/s to 10 TFLOP/s
