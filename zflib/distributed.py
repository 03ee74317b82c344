"""The process group of a ``torchrun`` launch, for the command-line tools.

``torchrun --nproc_per_node=N -m zflib.training.train ...`` (or ``-m zflib.apps.mine``) sets
``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; :func:`launched` joins the group (nccl on CUDA,
gloo on the CPU), picks the rank's GPU, and leaves the group afterwards, even when the command
fails. Outside torchrun it does nothing and the tools run as one process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist


@contextmanager
def launched(device: str | None = None) -> Iterator[str | None]:
    """Join torchrun's process group if there is one; yields the device this rank uses
    (``device`` unchanged outside torchrun or on the CPU, ``cuda:<LOCAL_RANK>`` with GPUs)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        yield device
        return
    cuda = torch.cuda.is_available() and (device is None or device.startswith("cuda"))
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        if cuda:
            local = int(os.environ.get("LOCAL_RANK", 0))
            torch.cuda.set_device(local)
            device = f"cuda:{local}"
        yield device
    finally:
        dist.destroy_process_group()


def shard() -> tuple[int, int]:
    """(rank, world size) of this process: ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def device_error(device: str) -> str:
    """Why ``--device device`` cannot be used here ("" if it can): for the command lines
    (``zflib.apps.mine``, ``zflib.paper.scratch``, ``zflib.paper.tables56``, the benchmarks)."""
    try:
        dev = torch.device(device)
    except RuntimeError:
        return f"--device {device!r} is not a torch device (cpu, cuda, cuda:1, ...)"
    if dev.type == "cuda" and not torch.cuda.is_available():
        return f"--device {device}: no CUDA GPU here (use cpu)"
    if dev.type == "cuda" and (dev.index or 0) >= torch.cuda.device_count():
        return f"--device {device}: GPU {dev.index} out of range 0..{torch.cuda.device_count() - 1}"
    return ""
