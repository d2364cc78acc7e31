"""The network and its training (PyTorch).

Layer 3 (above :mod:`karaoke.spectra`; never imports :mod:`karaoke.synth` or :mod:`karaoke.archive`):

* :mod:`karaoke.nn.model` -- :class:`Karaoke`, the paper's 1D convolutional (V)AE, with its
  :class:`~karaoke.nn.model.ModelMeta` (what it carries beside its weights);
* :mod:`karaoke.nn.inference` -- reconstructions and posterior draws (shared with the ONNX engine);
* :mod:`karaoke.nn.checkpoint` -- self-describing checkpoints: :func:`save_model`, :func:`load_model`;
* :mod:`karaoke.nn.whitening` -- random virtual radial velocities applied on the device;
* :mod:`karaoke.nn.batches` -- batch sources (per-star weighted sampling; host arrays, memmaps
  or spectra held on the GPU);
* :mod:`karaoke.nn.state` -- the training state (position, generators) and its checkpoint;
* :mod:`karaoke.nn.training` -- :class:`TrainConfig`, the loss and the step loop, and the
  content-addressed cache of trained runs;
* :mod:`karaoke.nn.distributed` -- data-parallel training over processes (``torchrun``);
* :mod:`karaoke.nn.pool` -- several networks trained side by side, one process each
  (:func:`~karaoke.nn.pool.train_many`; sweeps and ``make figures``);
* :mod:`karaoke.nn.export` -- the trained network on ONNX Runtime (:class:`OnnxKaraoke`, fast CPU
  inference, the same function within float32 rounding).
"""

from karaoke.nn.checkpoint import load_model, save_model
from karaoke.nn.export import OnnxKaraoke
from karaoke.nn.model import Karaoke, ModelConfig, n_parameters
from karaoke.nn.training import TrainConfig, TrainingDiverged, load_history, train, train_cached
from karaoke.nn.whitening import random_velocities, velocity_shift, whiten

__all__ = [
    "Karaoke",
    "ModelConfig",
    "OnnxKaraoke",
    "load_model",
    "n_parameters",
    "save_model",
    "TrainConfig",
    "TrainingDiverged",
    "load_history",
    "train",
    "train_cached",
    "random_velocities",
    "velocity_shift",
    "whiten",
]
