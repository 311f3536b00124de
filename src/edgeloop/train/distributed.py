"""Training on several processes with DistributedDataParallel, as started by ``torchrun``.

torchrun sets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK`` and ``LOCAL_WORLD_SIZE``
in each process it starts; a plain ``edgeloop train`` sees none of them and runs
exactly as before. Under torchrun:

- ``--batch`` is the global batch: every process builds the same shuffled epoch
  (same seed) and takes its slice of each global batch, so N processes see the
  same images per step as one process would.
- Gradients are averaged across processes (gloo on the CPU, NCCL on CUDA GPUs),
  so the weights, the optimizer and the EMA stay the same on every process.
- Rank 0 alone validates, prints, writes ``results.csv`` and checkpoints (the
  plain module's state: they load as single-process ones). Decisions that
  depend on a clock or a signal (time budget, Ctrl-C) are agreed on by every
  process at each step, so all stop at the same step and none is left waiting.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from types import FrameType
from typing import TypeVar, cast

import torch
import torch.distributed as dist
from torch import nn

from edgeloop.errors import TrainError
from edgeloop.train import syncbn

T = TypeVar("T")

# Rank 0 validates while the others wait for its metrics; a long validation must not time them out.
TIMEOUT = timedelta(hours=2)


@dataclass(frozen=True)
class World:
    """Where this process stands among the processes of one training run."""

    rank: int = 0
    local_rank: int = 0
    size: int = 1
    local_size: int = 1

    @property
    def active(self) -> bool:
        """More than one process: gradients are averaged and rank 0 alone writes."""
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_env(env: dict[str, str] | None = None) -> World:
    """The world torchrun describes in the environment; one process when it says nothing.

    Raises:
        TrainError: the variables are not whole numbers, or disagree.
    """
    env = dict(os.environ) if env is None else env
    try:
        size = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local_rank = int(env.get("LOCAL_RANK", str(rank)))
        local_size = int(env.get("LOCAL_WORLD_SIZE", str(size)))
    except ValueError:
        raise TrainError(
            "WORLD_SIZE, RANK, LOCAL_RANK and LOCAL_WORLD_SIZE must be whole numbers; "
            "start distributed training with torchrun, which sets them"
        ) from None
    if size < 1 or not 0 <= rank < size or not 0 <= local_rank < local_size:
        raise TrainError(
            f"RANK {rank} / LOCAL_RANK {local_rank} do not fit WORLD_SIZE {size} / LOCAL_WORLD_SIZE "
            f"{local_size}; start distributed training with torchrun, which sets them"
        )
    return World(rank, local_rank, size, local_size)


def check_batch(batch: int, world: World) -> None:
    """``--batch`` is the global batch: it must split evenly over the processes.

    Raises:
        TrainError: it does not, naming the nearest batches that do.
    """
    if batch % world.size:
        lower = max(world.size, batch // world.size * world.size)
        raise TrainError(
            f"--batch {batch} is the global batch and must divide by the {world.size} processes: "
            f"use --batch {lower} or {lower + world.size}"
        )


def rank_device(device: torch.device, world: World) -> torch.device:
    """Each process on a machine takes its own GPU, ``cuda:LOCAL_RANK``; CPU runs share the CPU.

    Raises:
        TrainError: a single GPU was named for several processes on one machine.
    """
    if not world.active or device.type != "cuda":
        return device
    if device.index is not None and world.local_size > 1:
        raise TrainError(
            f"--device {device} under torchrun: each process takes cuda:LOCAL_RANK; "
            "use --device cuda or auto (choose GPUs with CUDA_VISIBLE_DEVICES)"
        )
    if device.index is None and world.local_rank >= torch.cuda.device_count():
        raise TrainError(
            f"{world.local_size} processes on this machine but {torch.cuda.device_count()} CUDA GPUs: "
            "start as many processes as GPUs (torchrun --nproc-per-node), or use --device cpu"
        )
    return torch.device("cuda", world.local_rank if device.index is None else device.index)


def default_threads(world: World, device: torch.device) -> int | None:
    """torch threads for a process when ``--threads`` is not given.

    torchrun sets ``OMP_NUM_THREADS=1`` for every process it starts; on the CPU
    that leaves most cores idle, so the processes on one machine split its
    cores instead. None: keep torch's default (single process, or GPUs).
    """
    if not world.active or device.type != "cpu":
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // world.local_size)


@contextmanager
def session(world: World, device: torch.device) -> Iterator[None]:
    """The process group for one run (none for a single process), destroyed however the run ends.

    A group that already exists (a caller that set one up itself) is used and left alone.
    """
    owned = world.active and not dist.is_initialized()
    if owned:
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        try:
            dist.init_process_group(backend, rank=world.rank, world_size=world.size, timeout=TIMEOUT)
        except (ValueError, RuntimeError) as exc:  # no MASTER_ADDR, an unreachable one, no NCCL ...
            raise TrainError(
                f"rank {world.rank} of {world.size} could not join the other processes over {backend}: "
                f"{exc}; start distributed training with torchrun (docs/retrain/multi-gpu.md)"
            ) from None
    try:
        with _signals_agreed(world):
            yield
    finally:
        if owned and dist.is_initialized():
            # A DDP object collected after the group is destroyed hung the process at exit
            # (torch 2.13, gloo): callers drop theirs inside the session, collected here.
            gc.collect()
            dist.destroy_process_group()


def wrap(model: nn.Module, world: World, device: torch.device) -> nn.Module:
    """``model`` in DistributedDataParallel (which first copies rank 0's weights to every process).

    Its BatchNorm layers become ``syncbn.GlobalBatchNorm2d`` until ``unwrap``.
    The plain module stays the one the optimizer, the EMA and checkpoints use;
    only the forward pass goes through the wrapper. Call it again after
    changing which parameters require gradients: DDP averages only those that
    did when it was built.
    """
    if not world.active:
        return model
    syncbn.convert(model)  # BatchNorm statistics of the global batch, as one process computes them
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(
        model, device_ids=ids
    )  # BatchNorm buffers: rank 0's, synced each forward


def unwrap(net: nn.Module) -> nn.Module:
    """The plain module inside ``wrap``'s result, with plain BatchNorm again."""
    module = net.module if isinstance(net, nn.parallel.DistributedDataParallel) else net
    syncbn.revert(module)
    return module


def mean(values: torch.Tensor, world: World) -> torch.Tensor:
    """The element-wise mean of ``values`` over all processes (e.g. per-rank loss sums)."""
    if not world.active:
        return values
    out = values.detach().to(_comm_device(), torch.float64)
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return (out / world.size).to(values.device, values.dtype)


def agree_max(value: float, world: World) -> float:
    """The largest ``value`` over all processes: every process gets the same number back."""
    if not world.active:
        return value
    out = torch.tensor([value], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(out, op=dist.ReduceOp.MAX)
    return float(out.item())


def share_json(value: T, world: World) -> T:
    """Rank 0's ``value`` (JSON-able) on every process, e.g. the metrics only rank 0 measured.

    JSON rather than pickle: nothing received is unpickled.
    """
    if not world.active:
        return value
    data = json.dumps(value).encode() if world.is_main else b""
    size = torch.tensor([len(data)], dtype=torch.int64, device=_comm_device())
    dist.broadcast(size, src=0)
    buffer = torch.zeros(int(size.item()), dtype=torch.uint8, device=_comm_device())
    if world.is_main:
        buffer.copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
    dist.broadcast(buffer, src=0)
    return cast(T, json.loads(bytes(buffer.cpu().tolist()).decode()))


def barrier(world: World) -> None:
    """Wait until every process gets here."""
    if world.active:
        dist.barrier()


def loss_divisor(world: World) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """What a process divides its share of the loss by: the global batch's total target score.

    One process normalizes the loss by its batch's total target score (at least
    1); a rank that used only its slice's total would weigh its images
    differently (and double the loss early on, when totals sit below 1). Each
    rank divides by ``max(global total, 1) / processes`` instead, so the
    gradients DDP averages equal one process's, and so does the logged loss.
    """
    if not world.active:
        return None

    def divisor(total: torch.Tensor) -> torch.Tensor:
        shared = total.detach().clone()
        dist.all_reduce(shared, op=dist.ReduceOp.SUM)
        return shared.clamp(min=1) / world.size

    return divisor


def agree(flag: bool, world: World) -> tuple[bool, bool]:
    """(``flag`` on any process, Ctrl-C or SIGTERM on any process): the same answer on every process."""
    if not world.active:
        return flag, False
    out = torch.tensor([float(flag), float(_signalled)], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(out, op=dist.ReduceOp.MAX)
    return bool(out[0] > 0), bool(out[1] > 0)


_signalled = False


@contextmanager
def _signals_agreed(world: World) -> Iterator[None]:
    """Turn the first Ctrl-C / SIGTERM into a request that the processes agree on at the next step.

    Raising at once would stop one process in the middle of a collective and leave
    the others waiting; a second signal still interrupts at once.
    """
    global _signalled
    if not world.active or threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set on the main thread
        return

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        global _signalled
        if _signalled:
            raise KeyboardInterrupt
        _signalled = True

    _signalled = False
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _signalled = False


def _comm_device() -> torch.device:
    """NCCL moves CUDA tensors only; gloo moves CPU ones."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
