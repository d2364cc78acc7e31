"""Self-describing checkpoints: the weights with the config, version and any metadata (seed,
data hash, step, training config, history), written atomically; and the loader of ours, of run
folders and of the authors' released file."""

from __future__ import annotations

from pathlib import Path

import torch

from karaoke import __version__
from karaoke._atomic import atomic_path
from karaoke.nn.model import Karaoke, ModelConfig, ModelMeta
from karaoke.nn.whitening import mask_from_ranges

CHECKPOINT_FORMAT = "karaoke-checkpoint"


def save_atomic(obj, path: Path):
    """``torch.save`` to a temporary name, then renamed: a reader never sees half a file.

    Parameters
    ----------
    obj : object
        What ``torch.save`` takes.
    path : path
    """
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def save_model(model: Karaoke, path, **metadata) -> Path:
    """Save a self-describing checkpoint (config, version, weights and any ``metadata``:
    seed, data hash, step, training config, history...). Written atomically.

    Parameters
    ----------
    model : Karaoke
    path : path
    **metadata
        Stored beside the weights (JSON-like values).

    Returns
    -------
    Path
    """
    obj = {
        "format": CHECKPOINT_FORMAT,
        "version": __version__,
        "model_config": model.config.to_dict(),
        "model_state": model.state_dict(),
        **metadata,
    }
    save_atomic(obj, Path(path))
    return Path(path)


def _strip_prefix(state: dict) -> dict:
    if all(k.startswith("module.") for k in state):
        return {k[len("module.") :]: v for k, v in state.items()}
    return state


def config_from_state_dict(state: dict) -> ModelConfig:
    """Infer the architecture from a state dict with the authors' layer names."""
    state = _strip_prefix(state)
    convs = sorted(int(k[4:].split(".")[0]) for k in state if k.startswith("conv") and k.endswith(".0.weight"))
    if not convs or "fc11.weight" not in state or "fc2.weight" not in state:
        raise ValueError("state dict lacks the conv*/fc11/fc2 layers of a karaoke network")
    K = max(convs) - 1
    chans = tuple(int(state[f"conv{i}.0.weight"].shape[0]) for i in range(1, K + 1))
    kernels = tuple(int(state[f"conv{i}.0.weight"].shape[2]) for i in range(1, K + 1))
    latent, flat = state["fc11.weight"].shape
    n_pixels = int(flat) // chans[-1] * 2**K
    return ModelConfig(n_pixels, int(latent), "fc12.weight" in state, chans, kernels)


def load_model(path, map_location="cpu", allow_partial: bool = False) -> Karaoke:
    """Load a ready-to-use model (eval mode, ``trained=True``).

    ``path`` may be one of our checkpoints, a run folder (its ``model.pt``), or the authors'
    released file (``{'state_dict': ...}``, loaded strictly).

    Parameters
    ----------
    path : path
        Checkpoint file or run folder.
    map_location : str or torch.device
        Where the weights are loaded (default the CPU; move the model with ``.to``).
    allow_partial : bool
        Accept a training checkpoint that has not reached its last epoch (a run folder with
        only ``checkpoint.pt``, or that file itself); ``meta.partial`` is then
        True. By default such a file is refused: its network is not the trained one.

    Raises
    ------
    ValueError
        Missing or unreadable file, weights that do not fit, non-finite weights (a diverged
        training), or a partial training without ``allow_partial``.
    """
    path = Path(path)
    if path.is_dir():
        if (path / "model.pt").exists():
            path = path / "model.pt"
        elif (path / "checkpoint.pt").exists():
            path = path / "checkpoint.pt"
        else:
            raise ValueError(f"{path}: run folder holds neither model.pt nor checkpoint.pt")
    if not path.exists():
        raise ValueError(f"{path}: model file does not exist")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable torch checkpoint ({type(exc).__name__}: {exc})") from exc
    partial = False
    if isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT:
        cfg = ModelConfig.from_dict(obj["model_config"])
        state = obj["model_state"]
        if "optimizer_state" in obj:  # a training checkpoint, not a finished model.pt
            epochs = int(obj.get("train_config", {}).get("epochs", 0))
            partial = int(obj.get("epoch", 0)) < epochs or int(obj.get("epoch_step", 0)) > 0
            if partial and not allow_partial:
                raise ValueError(
                    f"{path}: training has not finished (epoch {obj.get('epoch')} of {epochs}); "
                    "finish it with 'karaoke train' (it resumes), or accept the partly trained "
                    "network explicitly (--allow-partial)"
                )
    elif isinstance(obj, dict) and "state_dict" in obj:
        state = _strip_prefix(obj["state_dict"])
        cfg = config_from_state_dict(state)
    else:
        raise ValueError(f"{path}: neither a karaoke checkpoint nor a {{'state_dict': ...}} file")
    bad = [k for k, v in state.items() if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(
            f"{path}: non-finite weights in {', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''} "
            "(a diverged training); retrain"
        )
    model = Karaoke(cfg)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{path}: weights do not fit the network ({exc})") from exc
    model.trained = True
    model.eval()
    if isinstance(obj, dict) and obj.get("input_guard") is not None:
        model.input_guard = mask_from_ranges(obj["input_guard"], cfg.n_pixels)
    saved = (
        {k: v for k, v in obj.items() if k not in ("model_state", "state_dict", "optimizer_state")}
        if isinstance(obj, dict)
        else {}
    )
    model.meta = ModelMeta(saved={**saved, "partial": partial}, path=path)
    return model
