"""Data-parallel training over several processes (``torchrun``), with ``torch.distributed``.

Under ``torchrun --nproc_per_node K -m karaoke train ...`` every process (rank) runs the same
:func:`karaoke.nn.training.train`. Each draws the *global* batch's indices and whitening
velocities from the same seeded generators and keeps its own 1/K share of them, so that K
processes see exactly the data one process would with the same global batch; gradients are
averaged across ranks by :class:`torch.nn.parallel.DistributedDataParallel` (the mean of the
ranks' per-spectrum means is the global mean). Only the VAE's sampling noise differs (each rank
has its own stream), which is why trajectories agree within a tolerance rather than exactly.
Rank 0 writes the run folder; a checkpoint does not depend on K, so a run resumes with any K.
NCCL on GPUs, gloo on CPUs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Context:
    """Where this process stands among the training processes.

    Attributes
    ----------
    rank : int
        This process, 0 .. world - 1 (rank 0 writes files).
    world : int
        Number of processes.
    local_rank : int
        This process on its node (its GPU index).
    owns_group : bool
        True when :func:`setup` created the process group (and :func:`teardown` ends it).
    """

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, n: int) -> slice:
        """This rank's share of a global batch of ``n`` (``n`` divisible by ``world``)."""
        per = n // self.world
        return slice(self.rank * per, (self.rank + 1) * per)


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        raise ValueError(f"environment variable {name}={os.environ[name]!r} is not an integer") from None


def setup(device: torch.device) -> tuple[Context, torch.device]:
    """The process context from torchrun's environment (``WORLD_SIZE``, ``RANK``,
    ``LOCAL_RANK``), joining the process group if there are several processes.

    Parameters
    ----------
    device : torch.device
        The device asked for; on CUDA each rank takes ``cuda:LOCAL_RANK``.

    Returns
    -------
    context : Context
    device : torch.device
        This rank's device.
    """
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return Context(), device
    import torch.distributed as dist

    rank, local = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    if device.type == "cuda":
        if local >= torch.cuda.device_count():
            raise ValueError(f"rank {rank}: LOCAL_RANK {local} but only {torch.cuda.device_count()} GPU(s) here")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if dist.get_world_size() != world:
        raise ValueError(f"WORLD_SIZE={world} but the process group has {dist.get_world_size()} processes")
    return Context(rank=rank, world=world, local_rank=local, owns_group=owns), device


def all_mean(t: torch.Tensor, ctx: Context) -> torch.Tensor:
    """The mean of ``t`` over ranks (in place; ``t`` itself with one process)."""
    if ctx.world > 1:
        import torch.distributed as dist

        dist.all_reduce(t)
        t /= ctx.world
    return t


def barrier(ctx: Context):
    """Wait for every rank (nothing with one process)."""
    if ctx.world > 1:
        import torch.distributed as dist

        dist.barrier()


def teardown(ctx: Context):
    """End the process group if :func:`setup` created it."""
    if ctx.owns_group:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def wrap(model: torch.nn.Module, ctx: Context, device: torch.device) -> torch.nn.Module:
    """``model`` wrapped in DistributedDataParallel when there are several processes."""
    if ctx.world <= 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
