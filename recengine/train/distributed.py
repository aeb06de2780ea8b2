"""Several processes, one model: PyTorch's DistributedDataParallel under ``torchrun``.

``torchrun --nproc_per_node N -m recengine train ...`` sets RANK, WORLD_SIZE and LOCAL_RANK;
:func:`from_environment` joins the process group (gloo on CPU, NCCL on GPU). Each rank
trains on its share of the clicks (a DistributedSampler re-shuffled every epoch), DDP
averages gradients (sparse ID-table gradients included), dev scoring is split across
ranks and gathered, and only rank 0 writes the run folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


SINGLE = Context()


def from_environment(device: str = "auto") -> Context:
    """The process's place in a torchrun job (joining the process group once), or the single-process context."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return SINGLE
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        use_cuda = device != "cpu" and torch.cuda.is_available()
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Context(rank, world_size, local_rank)


def device_for(name: str, context: Context) -> str:
    """Each rank of a GPU job uses its own GPU."""
    if name.startswith("cuda") and context.active:
        return f"cuda:{context.local_rank}"
    return name


def gather(value, context: Context) -> list:
    """Every rank's ``value``, in rank order, on every rank."""
    if not context.active:
        return [value]
    out: list = [None] * context.world_size
    dist.all_gather_object(out, value)
    return out


def mean(value: float, context: Context) -> float:
    return float(np.mean(gather(value, context)))


def barrier(context: Context) -> None:
    if context.active:
        dist.barrier()


def shutdown(context: Context) -> None:
    if context.active and dist.is_initialized():
        dist.destroy_process_group()
