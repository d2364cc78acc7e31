"""Fast CPU inference: a trained network exported to ONNX and run by ONNX Runtime.

:class:`OnnxKaraoke` holds the same network as a :class:`karaoke.nn.model.Karaoke` as two ONNX
graphs (encoder: spectrum -> posterior mean and log-variance; decoder: latent vector ->
reconstruction) and offers the same ``reconstruct`` / ``reconstruct_samples`` (the same
batching, guard band and posterior draws, through :func:`karaoke.nn.inference.posterior_draws`), so
``karaoke clean --backend onnx`` and a notebook can use either.

Before export each stride-2 transposed convolution of the decoder (kernel 4, padding 1) is
rewritten as one ordinary convolution (kernel 3) that yields both output phases, interleaved
afterwards (:class:`PolyphaseDeconv`): the same sums of the same weights, without the zeros a
transposed convolution inserts, which is where PyTorch's CPU kernels for the decoder's first
layers (16 channels at 164k px) spend most of their time. The rewritten network equals the
original within float32 rounding (tests/nn/test_export.py); ``benchmarks/inference.py`` measures
what each form gives on the machine at hand.

For ONNX Runtime the decoder is exported in a form fitted to its blocked-channel (NCHWc)
convolutions (:class:`_Decoder2d`): each phase pair as one kernel-2 convolution (no zero taps),
interleaved through the channels-last layout (whole 16-channel blocks copied, no transpose), and
the one-channel last upsampling layer as a 1x1 convolution over 8 tap products plus shifted sums
(:class:`_Tail2d`), where a convolution with one output channel would fill 1 of 16 lanes.
"""

from __future__ import annotations

import copy
import io
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from karaoke.nn.inference import Reconstructor
from karaoke.nn.model import Karaoke


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
        if (
            deconv.kernel_size,
            deconv.stride,
            deconv.padding,
            deconv.dilation,
            deconv.groups,
            deconv.output_padding,
        ) != ((4,), (2,), (1,), (1,), 1, (0,)):
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


class PolyphaseTail(nn.Module):
    """The decoder's last two upsampling layers and its output convolution, kept in phases.

    ``up2`` and ``up1`` are the polyphase forms of the last two stride-2 transposed
    convolutions (:class:`PolyphaseDeconv`, activation inside) and ``out`` the kernel-3 output
    convolution. Instead of interleaving ``up2``'s even and odd phases (a transpose of every
    channel, whose innermost axis has length 2: where ONNX Runtime spent a quarter of the
    decoder's time), ``up1`` reads them as they are and yields the four phases of the final
    grid (pixel ``4j + r``, r = 0..3), and ``out`` combines neighbouring phases; only the output
    (a few channels) is interleaved. With ``E``, ``O`` the phases of ``up2`` (pixels 2j, 2j + 1
    of its output ``h``) and ``W`` ``up1``'s transposed-convolution weight, pixel ``2i`` of
    ``up1`` is ``W1 h[i] + W3 h[i - 1]`` and ``2i + 1`` is ``W2 h[i] + W0 h[i + 1]``, so:

    * r = 0: ``W1 E[j] + W3 O[j - 1]``;   r = 1: ``W2 E[j] + W0 O[j]``;
    * r = 2: ``W1 O[j] + W3 E[j]``;       r = 3: ``W2 O[j] + W0 E[j + 1]``;

    and the output convolution's taps at ``n - 1, n, n + 1`` for ``n = 4j + r`` read phases
    ``r - 1, r, r + 1`` (the neighbour across a block edge at ``j - 1`` or ``j + 1``). Zero
    padding of one phase sample is the zero padding of the original layers at both ends.

    Parameters
    ----------
    up2, up1 : PolyphaseDeconv
    out : torch.nn.Conv1d
        Kernel 3, stride 1, padding 1.
    """

    def __init__(self, up2: PolyphaseDeconv, up1: PolyphaseDeconv, out: nn.Conv1d):
        super().__init__()
        if (out.kernel_size, out.stride, out.padding, out.dilation, out.groups) != ((3,), (1,), (1,), (1,), 1):
            raise ValueError(f"not a kernel-3 stride-1 padding-1 convolution: {out}")
        self.up2, self.up1 = up2, up1
        c2, c1 = up2.c_out, up1.c_out
        Wp = up1.weight.detach()  # (2 c1, c2, 3): even rows [W3, W1, 0], odd rows [0, W2, W0] (transposed)
        W1, W3 = Wp[:c1, :, 1], Wp[:c1, :, 0]
        W2, W0 = Wp[c1:, :, 1], Wp[c1:, :, 2]
        w = Wp.new_zeros(4, c1, 2, c2, 3)  # (phase r, out channel, input phase E/O, in channel, tap j-1/j/j+1)
        w[0, :, 0, :, 1], w[0, :, 1, :, 0] = W1, W3
        w[1, :, 0, :, 1], w[1, :, 1, :, 1] = W2, W0
        w[2, :, 1, :, 1], w[2, :, 0, :, 1] = W1, W3
        w[3, :, 1, :, 1], w[3, :, 0, :, 2] = W2, W0
        b1 = up1.bias.detach()[:c1]
        self.mid = nn.Conv1d(2 * c2, 4 * c1, 3, padding=1, dtype=Wp.dtype).requires_grad_(False)
        self.mid.weight.copy_(w.reshape(4 * c1, 2 * c2, 3))
        self.mid.bias.copy_(b1.repeat(4))
        self.mid_activation = up1.activation
        P = out.weight.detach()  # (c0, c1, 3): taps n - 1, n, n + 1
        c0 = P.shape[0]
        v = P.new_zeros(4, c0, 4, c1, 3)  # (phase r, out channel, input phase, in channel, tap j-1/j/j+1)
        for r in range(4):
            v[r, :, (r - 1) % 4, :, 0 if r == 0 else 1] = P[:, :, 0]
            v[r, :, r, :, 1] = P[:, :, 1]
            v[r, :, (r + 1) % 4, :, 2 if r == 3 else 1] = P[:, :, 2]
        self.out = nn.Conv1d(4 * c1, 4 * c0, 3, padding=1, dtype=P.dtype).requires_grad_(False)
        self.out.weight.copy_(v.reshape(4 * c0, 4 * c1, 3))
        self.out.bias.copy_((out.bias.detach() if out.bias is not None else P.new_zeros(c0)).repeat(4))
        self.c_out = c0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, _, L = x.shape  # (B, C_in, L)
        h = self.up2.activation(F.conv1d(x, self.up2.weight, self.up2.bias, padding=1))  # (B, 2 c2, L): E, O
        u = self.mid_activation(self.mid(h))  # (B, 4 c1, L): phases r = 0..3 of the final grid
        y = self.out(u)  # (B, 4 c0, L)
        return y.view(B, 4, self.c_out, L).permute(0, 2, 3, 1).reshape(B, self.c_out, 4 * L)  # (B, c0, 4L)


def polyphase(model: Karaoke, tail: bool = True) -> Karaoke:
    """A copy of ``model`` whose stride-2 transposed convolutions are :class:`PolyphaseDeconv`.

    Parameters
    ----------
    model : Karaoke
    tail : bool
        Also keep the last two upsampling layers and the output convolution in phases
        (:class:`PolyphaseTail`, in place of ``deconv2``; ``deconv1`` and ``predict0`` become
        identities).

    Returns
    -------
    Karaoke
        The same function (within float32 rounding) for inference; not meant for training.
    """

    out = copy.deepcopy(model).cpu().eval()
    for name, mod in list(out.named_children()):
        if (
            name.startswith("deconv")
            and isinstance(mod, nn.Sequential)
            and isinstance(mod[0], nn.ConvTranspose1d)
            and mod[0].stride == (2,)
        ):
            setattr(out, name, PolyphaseDeconv(mod[0], mod[1] if len(mod) > 1 else None))  # activation inside
    if tail and isinstance(getattr(out, "deconv2", None), PolyphaseDeconv) and isinstance(out.deconv1, PolyphaseDeconv):
        out.deconv2 = PolyphaseTail(out.deconv2, out.deconv1, out.predict0)  # deconv2 -> deconv1 -> predict0
        out.deconv1, out.predict0 = nn.Identity(), nn.Identity()
    return out


def _conv2d(weight: torch.Tensor, bias: torch.Tensor | None, padding: int) -> nn.Conv2d:
    """A height-1 ``Conv2d`` (stride 1) with a 1-D convolution's weight (C_out, C_in, k)."""
    c_out, c_in, k = weight.shape
    out = nn.Conv2d(c_in, c_out, (1, k), padding=(0, padding), bias=bias is not None, dtype=weight.dtype)
    with torch.no_grad():
        out.weight.copy_(weight[:, :, None, :])
        if bias is not None:
            out.bias.copy_(bias)
    return out.requires_grad_(False)


def _kernel2(deconv: PolyphaseDeconv) -> nn.Conv2d:
    """:class:`PolyphaseDeconv`'s phases as one height-1 kernel-2 convolution (padding 1 on
    both ends, so L + 1 outputs), odd phase first: output ``m`` is ``O[m - 1]`` (channels
    0..C-1) and ``E[m]`` (channels C..2C-1). Each phase reads two input pixels, so none of the
    kernel-3 form's zero taps are multiplied."""
    w, b, c = deconv.weight.detach(), deconv.bias.detach(), deconv.c_out  # (2C, C_in, 3): taps j-1, j, j+1
    w2 = torch.cat([w[c:, :, 1:], w[:c, :, :2]])  # odd: taps j, j+1 (read at m - 1, m); even: taps j-1, j
    return _conv2d(w2, torch.cat([b[c:], b[:c]]), 1)


class _Upsample2d(nn.Module):
    """A :class:`PolyphaseDeconv` on (B, C_in, 1, L) tensors, interleaved: (B, C_out, 1, 2L).

    The kernel-2 convolution (:func:`_kernel2`) yields, per output pixel ``m`` = 0..L and in
    the channels-last layout, ``O[m - 1]`` then ``E[m]``: read as one sequence of C-channel
    pixels that is ``junk, E[0], O[0], E[1], ..., O[L - 1], junk``, the interleaved output
    with one extra pixel at each end, which a slice drops. ONNX Runtime fuses the transposes
    into the reorders out of and into its blocked-channel (NCHWc) layout (``ReorderOutput`` /
    ``ReorderInput`` with ``channels_last``), which copy whole 16-channel blocks; interleaving
    in NCHW costs a transpose whose innermost axis has length 2 (docs/history.md has the profile).
    """

    def __init__(self, deconv: PolyphaseDeconv, length: int):
        super().__init__()
        self.conv, self.activation = _kernel2(deconv), deconv.activation
        self.c_out, self.length = deconv.c_out, length  # L, a constant: the graph's shapes are constants

    def forward(self, x):  # (B, C_in, 1, L)
        y = self.activation(self.conv(x))  # (B, 2 C_out, 1, L + 1): O[m - 1], E[m]
        y = y.permute(0, 2, 3, 1).reshape(-1, 2 * self.length + 2, self.c_out)  # (B, 2L + 2, C_out): channels last
        h = y[:, 1 : 2 * self.length + 1].reshape(-1, 1, 2 * self.length, self.c_out)  # (B, 1, 2L, C_out)
        return h.permute(0, 3, 1, 2)  # (B, C_out, 1, 2L)


class _Tail2d(nn.Module):
    """A :class:`PolyphaseTail` of one output channel on (B, C_in, 1, L) tensors -> (B, 4L).

    ``up2`` runs as the kernel-2 convolution of :func:`_kernel2` (odd phase ``O'[m] = O[m - 1]``
    and even phase ``E[m]``, m = 0..L). ``up1`` has one output channel: in ONNX Runtime's
    blocked layout its convolution would fill 1 of 16 lanes, so a 1x1 convolution first forms
    the 8 tap products, (B, 2 C, L + 1) -> (B, 8, L + 1): ``a = [W1, W2, W3, W0] . E`` and
    ``b = [W3, W0, W1, W2] . O'`` (``W`` the transposed convolution's taps, summed over the C
    channels), and shifted sums combine them into the four phases of the final grid (see
    :class:`PolyphaseTail`):

    * r = 0: ``a0[j] + b0[j]`` (``b0[0]``, i.e. ``O[-1]``, is the zero padding);
    * r = 1, 2: ``a[j] + b[j + 1]``;
    * r = 3: ``a3[j + 1] + b3[j + 1]`` (``a3[L]``, i.e. ``E[L]``, is the zero padding).

    ``out`` (kernel 3 over the phases) follows, and the phases are interleaved through the
    channels-last layout as in :class:`_Upsample2d`.
    """

    def __init__(self, tail: PolyphaseTail, length: int):
        super().__init__()
        if tail.up1.c_out != 1 or tail.c_out != 1:
            raise ValueError("_Tail2d needs one channel out of up1 and out")
        self.up2, self.activation2 = _kernel2(tail.up2), tail.up2.activation
        Wp, c2 = tail.up1.weight.detach(), tail.up2.c_out  # (2, c2, 3): even [W3, W1, 0], odd [0, W2, W0]
        W1, W3, W2, W0 = Wp[0, :, 1], Wp[0, :, 0], Wp[1, :, 1], Wp[1, :, 2]  # (c2,) each
        wm = Wp.new_zeros(8, 2 * c2)  # columns: O' channels, then E channels (as _kernel2 orders them)
        wm[:4, c2:] = torch.stack([W1, W2, W3, W0])
        wm[4:, :c2] = torch.stack([W3, W0, W1, W2])
        self.contract = _conv2d(wm[:, :, None], None, 0)  # (8, 2 c2, 1): a 1x1 convolution
        self.register_buffer("b1", tail.up1.bias.detach()[:1].reshape(1, 1, 1, 1))
        self.activation1 = tail.mid_activation
        self.out = _conv2d(tail.out.weight.detach(), tail.out.bias.detach(), 1)  # (4, 4, 3) over the phases
        self.c, self.length = c2, length

    def forward(self, x):  # (B, C_in, 1, L)
        L = self.length
        y = self.activation2(self.up2(x))  # (B, 2 c2, 1, L + 1): O', E
        z = self.contract(y).reshape(-1, 8, L + 1)  # (B, 8, L + 1): a0..a3, b0..b3
        zero = torch.zeros_like(z[:, :1, :1])  # (B, 1, 1)
        r0 = z[:, 0:1, :L] + torch.cat([zero, z[:, 4:5, 1:L]], 2)  # (B, 1, L)
        r12 = z[:, 1:3, :L] + z[:, 5:7, 1:]  # (B, 2, L)
        r3 = torch.cat([z[:, 3:4, 1:L], zero], 2) + z[:, 7:8, 1:]  # (B, 1, L)
        u = self.activation1(torch.cat([r0, r12, r3], 1)[:, :, None, :] + self.b1)  # (B, 4, 1, L): final phases
        v = self.out(u)  # (B, 4, 1, L)
        return v.permute(0, 2, 3, 1).reshape(-1, 4 * L)  # (B, 4L)


def _as_2d(mod: nn.Module) -> nn.Module:
    """The same layer on (B, C, 1, L) tensors: 1-D convolutions as 2-D ones of height 1 (a
    stride-1 transposed convolution as the ordinary convolution it equals)."""
    if isinstance(mod, nn.Sequential):
        return nn.Sequential(*[_as_2d(m) for m in mod])
    if isinstance(mod, (nn.LeakyReLU, nn.ReLU, nn.Identity)):
        return mod
    if isinstance(mod, (PolyphaseDeconv, PolyphaseTail)):
        raise TypeError(f"{type(mod).__name__} has its 2-D form from _Decoder2d, which knows its input's length")
    if (
        isinstance(mod, nn.ConvTranspose1d)
        and mod.stride == (1,)
        and mod.groups == 1
        and mod.dilation == (1,)
        and mod.output_padding == (0,)
    ):
        w = mod.weight.detach().flip(-1).transpose(0, 1)  # (C_out, C_in, k)
        return _conv2d(w, mod.bias.detach() if mod.bias is not None else None, mod.kernel_size[0] - 1 - mod.padding[0])
    if not isinstance(mod, nn.Conv1d):
        raise TypeError(f"no 2-D form of {mod}")
    out = nn.Conv2d(
        mod.in_channels,
        mod.out_channels,
        (1,) + mod.kernel_size,
        (1,) + mod.stride,
        (0,) + mod.padding,
        (1,) + mod.dilation,
        mod.groups,
        mod.bias is not None,
        dtype=mod.weight.dtype,
    )
    with torch.no_grad():
        out.weight.copy_(mod.weight[:, :, None, :])
        if mod.bias is not None:
            out.bias.copy_(mod.bias)
    return out.requires_grad_(False)


class _Decoder2d(nn.Module):
    """``model``'s decoder on (B, C, 1, L) tensors (see :class:`_Encoder2d`): each
    :class:`PolyphaseDeconv` as an :class:`_Upsample2d`, a :class:`PolyphaseTail` as a
    :class:`_Tail2d`. Every length in the graph is a constant (the batch size is the only
    free dimension), which ONNX Runtime needs to fuse the layout changes."""

    def __init__(self, model: Karaoke):
        super().__init__()
        K = model.config.n_down
        self.c, self.lb = model.config.enc_channels[-1], model.config.bottleneck_length
        self.fc2 = model.fc2
        layers, length = [], self.lb
        for mod in [getattr(model, f"deconv{i}") for i in range(K + 1, 0, -1)] + [model.predict0]:
            if isinstance(mod, PolyphaseDeconv):
                layers.append(_Upsample2d(mod, length))
                length *= 2
            elif isinstance(mod, PolyphaseTail):
                layers.append(_Tail2d(mod, length))
                length *= 4
            elif not isinstance(mod, nn.Identity):  # the layers a PolyphaseTail took over are identities
                layers.append(_as_2d(mod))
        self.dec = nn.Sequential(*layers)
        self.flat = isinstance(layers[-1], _Tail2d)  # which yields (B, L) itself

    def forward(self, z):  # (B, D)
        y = self.dec(self.fc2(z).view(-1, self.c, 1, self.lb))  # (B, 1, 1, L), or (B, L) from a _Tail2d
        return y if self.flat else y[:, 0, 0, :]  # (B, L)


class _Encoder2d(nn.Module):
    """``model``'s encoder with every convolution 2-D of height 1, (B, C, 1, L) tensors
    throughout: the layout for which ONNX Runtime's blocked-channel (NCHWc) convolution kernels
    apply (:class:`_Decoder2d` for the decoder; docs/history.md has the timings)."""

    def __init__(self, model: Karaoke):
        super().__init__()
        K = model.config.n_down
        self.enc = nn.ModuleList([_as_2d(getattr(model, f"conv{i}")) for i in range(1, K + 2)])
        self.fc11 = model.fc11
        self.fc12 = model.fc12 if model.config.variational else None

    def forward(self, x):  # (B, 1, L)
        h = x[:, :, None, :]  # (B, 1, 1, L)
        for layer in self.enc:
            h = layer(h)  # (B, C_i, 1, L / 2^i)
        h = h.flatten(1)  # (B, C_K * L_b): the order of the 1-D network's flatten
        mu = self.fc11(h)  # (B, D)
        return mu, (self.fc12(h) if self.fc12 is not None else torch.zeros_like(mu))


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


def export_onnx(
    model: Karaoke, rewrite: bool = True, conv2d: bool = True, decoder2d: bool | None = None
) -> tuple[bytes, bytes]:
    """The encoder and decoder of ``model`` as serialised ONNX graphs (dynamic batch size).

    Parameters
    ----------
    model : Karaoke
    rewrite : bool
        Export the polyphase form of the decoder (:func:`polyphase`).
    conv2d : bool
        Export the encoder's convolutions as 2-D ones of height 1 (the same sums), for which
        ONNX Runtime's blocked-channel convolution kernels apply.
    decoder2d : bool, optional
        The same for the decoder (needs ``rewrite``; default: follows ``rewrite``). The defaults
        are the fastest form measured (``benchmarks/inference.py``) and those of
        :class:`OnnxKaraoke`.

    Returns
    -------
    (bytes, bytes)
        Encoder ``flux`` (B, 1, L) -> ``mu``, ``logvar`` (B, D) (zeros for the AE); decoder
        ``z`` (B, D) -> ``recon`` (B, L).
    """

    decoder2d = rewrite if decoder2d is None else decoder2d
    if decoder2d and not rewrite:
        raise ValueError(
            "decoder2d needs rewrite=True (a stride-2 transposed convolution has no height-1 2-D form here)"
        )
    net = polyphase(model) if rewrite else copy.deepcopy(model).cpu().eval()
    L, D = model.config.n_pixels, model.config.latent_dim
    out = []
    for wrapper, example, names_in, names_out in (
        (_Encoder2d(net) if conv2d else _Encoder(net), torch.zeros(1, 1, L), ["flux"], ["mu", "logvar"]),
        (_Decoder2d(net) if decoder2d else _Decoder(net), torch.zeros(1, D), ["z"], ["recon"]),
    ):
        buf = io.BytesIO()
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(
                wrapper.eval(),
                (example,),
                buf,
                input_names=names_in,
                output_names=names_out,
                dynamic_axes={n: {0: "batch"} for n in names_in + names_out},
                dynamo=False,
                opset_version=17,
            )
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
    conv2d, decoder2d : bool
        Run the encoder's / the decoder's convolutions as 2-D ones of height 1
        (:func:`export_onnx`; the decoder's needs ``rewrite``, and by default follows it).

    Raises
    ------
    RuntimeError
        If ``model`` is not trained.
    ImportError
        If onnxruntime is not installed (``pip install onnxruntime``).
    """

    def __init__(
        self,
        model: Karaoke,
        threads: int | None = None,
        rewrite: bool = True,
        conv2d: bool = True,
        decoder2d: bool | None = None,
    ):
        import onnxruntime as ort

        if not getattr(model, "trained", False):
            raise RuntimeError("OnnxKaraoke needs a trained model: load one with karaoke.load_model(path)")
        self.config = model.config
        self.trained = True
        self.input_guard = model.input_guard
        self.meta = model.meta
        self.threads = int(threads or torch.get_num_threads())
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # The encoder and the decoder are two sessions, each with its own thread pool, run in
        # turn: a pool's idle workers spinning for work held the cores the other session (and
        # `karaoke clean`'s reader processes) needed. Measured on 2 threads, 2 cores: 23.8 ->
        # 19.4 ms a spectrum at batch 1, 16.5 -> 12.3 at batch 16; one thread is unaffected.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        enc, dec = export_onnx(model, rewrite=rewrite, conv2d=conv2d, decoder2d=decoder2d)
        self._enc = ort.InferenceSession(enc, opts, providers=["CPUExecutionProvider"])
        self._dec = ort.InferenceSession(dec, opts, providers=["CPUExecutionProvider"])

    def _encode_batch(self, x: torch.Tensor):
        mu, logvar = self._enc.run(None, {"flux": x.numpy()})  # (b, D) each
        return torch.from_numpy(mu), (torch.from_numpy(logvar) if self.config.variational else None)

    def _decode_batch(self, z: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self._dec.run(None, {"z": z.contiguous().numpy()})[0])  # (b, L)

    def _inference(self):
        return torch.no_grad()
