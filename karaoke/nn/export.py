"""Fast CPU inference: a trained network exported to ONNX and run by ONNX Runtime.

:class:`OnnxKaraoke` holds the same network as a :class:`karaoke.nn.model.Karaoke` as two ONNX
graphs (encoder: spectrum -> posterior mean and log-variance; decoder: latent vector ->
reconstruction) and offers the same ``reconstruct`` / ``reconstruct_samples`` (the same
batching, guard band and posterior draws, through :func:`karaoke.nn.model.posterior_draws`), so
``karaoke clean --backend onnx`` and a notebook can use either.

Before export each stride-2 transposed convolution of the decoder (kernel 4, padding 1) is
rewritten as one ordinary convolution (kernel 3) that yields both output phases, interleaved
afterwards (:class:`PolyphaseDeconv`): the same sums of the same weights, without the zeros a
transposed convolution inserts, which is where PyTorch's CPU kernels for the decoder's first
layers (16 channels at 164k px) spend most of their time. The rewritten network equals the
original within float32 rounding (tests/nn/test_export.py); ``benchmarks/inference.py`` measures
what each form gives on the machine at hand.
"""
from __future__ import annotations

import io

import torch
import torch.nn.functional as F
from torch import nn

from karaoke.nn.model import Karaoke, Reconstructor


class PolyphaseDeconv(nn.Module):
    """``ConvTranspose1d(C_in, C_out, 4, stride=2, padding=1)`` as one ``Conv1d`` and an interleave.

    With ``W`` the transposed convolution's weight (C_in, C_out, 4), output pixel ``2j`` is
    ``W[..., 1] x[j] + W[..., 3] x[j - 1]`` and pixel ``2j + 1`` is ``W[..., 2] x[j] +
    W[..., 0] x[j + 1]`` (plus the bias): a kernel-3 convolution with 2 C_out output channels
    (even phase, then odd) followed by interleaving the phases.

    Parameters
    ----------
    deconv : torch.nn.ConvTranspose1d
        Kernel 4, stride 2, padding 1, no dilation, groups or output padding.
    activation : torch.nn.Module, optional
        An element-wise activation that follows the layer, applied before the interleave (where
        ONNX Runtime fuses it into the convolution).
    """

    def __init__(self, deconv: nn.ConvTranspose1d, activation: nn.Module | None = None):
        super().__init__()
        if (deconv.kernel_size, deconv.stride, deconv.padding, deconv.dilation, deconv.groups,
                deconv.output_padding) != ((4,), (2,), (1,), (1,), 1, (0,)):
            raise ValueError(f"not a kernel-4 stride-2 padding-1 transposed convolution: {deconv}")
        W = deconv.weight.detach()  # (C_in, C_out, 4)
        c_in, c_out, _ = W.shape
        w = W.new_zeros(2 * c_out, c_in, 3)  # taps x[j-1], x[j], x[j+1]
        w[:c_out, :, 0], w[:c_out, :, 1] = W[:, :, 3].T, W[:, :, 1].T  # even outputs
        w[c_out:, :, 1], w[c_out:, :, 2] = W[:, :, 2].T, W[:, :, 0].T  # odd outputs
        bias = deconv.bias.detach() if deconv.bias is not None else W.new_zeros(c_out)
        self.weight = nn.Parameter(w, requires_grad=False)
        self.bias = nn.Parameter(torch.cat([bias, bias]), requires_grad=False)
        self.c_out = c_out
        self.activation = activation if activation is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, _, L = x.shape  # (B, C_in, L)
        y = self.activation(F.conv1d(x, self.weight, self.bias, padding=1))  # (B, 2 C_out, L): even, odd phase
        return y.view(B, 2, self.c_out, L).permute(0, 2, 3, 1).reshape(B, self.c_out, 2 * L)  # (B, C_out, 2L)


def polyphase(model: Karaoke) -> Karaoke:
    """A copy of ``model`` whose stride-2 transposed convolutions are :class:`PolyphaseDeconv`.

    Parameters
    ----------
    model : Karaoke

    Returns
    -------
    Karaoke
        The same function (within float32 rounding) for inference; not meant for training.
    """
    import copy

    out = copy.deepcopy(model).cpu().eval()
    for name, mod in list(out.named_children()):
        if name.startswith("deconv") and isinstance(mod, nn.Sequential) and isinstance(mod[0], nn.ConvTranspose1d) \
                and mod[0].stride == (2,):
            setattr(out, name, PolyphaseDeconv(mod[0], mod[1] if len(mod) > 1 else None))  # activation inside
    return out


class _Encoder(nn.Module):
    def __init__(self, model: Karaoke):
        super().__init__()
        self.model = model

    def forward(self, x):  # (B, 1, L)
        mu, logvar = self.model.encode(x)  # (B, D) each
        return mu, (logvar if logvar is not None else torch.zeros_like(mu))


class _Decoder(nn.Module):
    def __init__(self, model: Karaoke):
        super().__init__()
        self.model = model

    def forward(self, z):  # (B, D)
        return self.model.decode(z)[:, 0]  # (B, L)


def export_onnx(model: Karaoke, rewrite: bool = True) -> tuple[bytes, bytes]:
    """The encoder and decoder of ``model`` as serialised ONNX graphs (dynamic batch size).

    Parameters
    ----------
    model : Karaoke
    rewrite : bool
        Export the polyphase form of the decoder (:func:`polyphase`).

    Returns
    -------
    (bytes, bytes)
        Encoder ``flux`` (B, 1, L) -> ``mu``, ``logvar`` (B, D) (zeros for the AE); decoder
        ``z`` (B, D) -> ``recon`` (B, L).
    """
    import copy
    import warnings

    net = polyphase(model) if rewrite else copy.deepcopy(model).cpu().eval()
    L, D = model.config.n_pixels, model.config.latent_dim
    out = []
    for wrapper, example, names_in, names_out in (
            (_Encoder(net), torch.zeros(1, 1, L), ["flux"], ["mu", "logvar"]),
            (_Decoder(net), torch.zeros(1, D), ["z"], ["recon"])):
        buf = io.BytesIO()
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(wrapper.eval(), (example,), buf, input_names=names_in, output_names=names_out,
                              dynamic_axes={n: {0: "batch"} for n in names_in + names_out}, dynamo=False,
                              opset_version=17)
        out.append(buf.getvalue())
    return out[0], out[1]


class OnnxKaraoke(Reconstructor):
    """A trained network run by ONNX Runtime on the CPU, with :class:`Karaoke`'s inference API.

    Parameters
    ----------
    model : Karaoke
        A trained network (its weights, guard band and checkpoint metadata are taken over).
    threads : int, optional
        ONNX Runtime's intra-op threads (default: ``torch.get_num_threads()``).
    rewrite : bool
        Use the polyphase form of the decoder (:func:`export_onnx`).

    Raises
    ------
    RuntimeError
        If ``model`` is not trained.
    ImportError
        If onnxruntime is not installed (``pip install onnxruntime``).
    """

    def __init__(self, model: Karaoke, threads: int | None = None, rewrite: bool = True):
        import onnxruntime as ort

        if not getattr(model, "trained", False):
            raise RuntimeError("OnnxKaraoke needs a trained model: load one with karaoke.load_model(path)")
        self.config = model.config
        self.trained = True
        self.input_guard = model.input_guard
        self.checkpoint_path = getattr(model, "checkpoint_path", None)
        self.checkpoint_meta = getattr(model, "checkpoint_meta", {})
        self.threads = int(threads or torch.get_num_threads())
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        enc, dec = export_onnx(model, rewrite=rewrite)
        self._enc = ort.InferenceSession(enc, opts, providers=["CPUExecutionProvider"])
        self._dec = ort.InferenceSession(dec, opts, providers=["CPUExecutionProvider"])

    def _encode_batch(self, x: torch.Tensor):
        mu, logvar = self._enc.run(None, {"flux": x.numpy()})  # (b, D) each
        return torch.from_numpy(mu), (torch.from_numpy(logvar) if self.config.variational else None)

    def _decode_batch(self, z: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self._dec.run(None, {"z": z.contiguous().numpy()})[0])  # (b, L)

    def _inference(self):
        return torch.no_grad()
