"""BatchNorm over the global batch when training on several processes, on the CPU too.

In training mode BatchNorm normalizes by the statistics of the batch it sees;
under DDP that is each rank's slice, so two processes of 4 images train a
different network than one of 8 (measured at initialization on 64-pixel
images: gradient cosine 0.15 between the two). ``torch.nn.SyncBatchNorm``
shares the statistics but runs on CUDA only; this one all-reduces the sums
(and, backwards, their gradients), so it works on gloo and NCCL alike.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn


class _AllSum(torch.autograd.Function):
    """Sum over the processes; its backward sums the gradients of every process's loss."""

    @staticmethod
    def forward(ctx: Any, local: Tensor) -> Tensor:
        total = local.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        total = grad.clone()
        dist.all_reduce(total)
        return total


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """``BatchNorm2d`` whose training statistics are those of the global batch.

    Same parameters and buffers as ``BatchNorm2d`` (checkpoints are
    interchangeable); in eval mode, or without a process group, it is one.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and dist.is_initialized()):
            return super().forward(x)
        c = x.shape[1]
        wide = x.double()  # E[x^2] - E[x]^2 in float32 loses too much when the mean is large
        count = torch.full((1,), x.numel() / c, dtype=torch.float64, device=x.device)
        local = torch.cat((wide.sum((0, 2, 3)), wide.pow(2).sum((0, 2, 3)), count))
        total: Tensor = _AllSum.apply(local)  # type: ignore[no-untyped-call]
        n = total[-1]
        mean = total[:c] / n
        var = (total[c : 2 * c] / n - mean.pow(2)).clamp(min=0)
        self._track(mean.detach(), var.detach() * n / (n - 1).clamp(min=1))
        scale = (var + self.eps).rsqrt().to(x.dtype) * self.weight
        shift = self.bias - mean.to(x.dtype) * scale
        return x * scale[None, :, None, None] + shift[None, :, None, None]

    @torch.no_grad()
    def _track(self, mean: Tensor, unbiased_var: Tensor) -> None:
        """Update the running statistics as ``BatchNorm2d`` does."""
        if self.running_mean is None or self.running_var is None or self.num_batches_tracked is None:
            return
        self.num_batches_tracked += 1
        momentum = self.momentum if self.momentum is not None else 1 / float(self.num_batches_tracked)
        self.running_mean.mul_(1 - momentum).add_(mean.to(self.running_mean.dtype), alpha=momentum)
        self.running_var.mul_(1 - momentum).add_(unbiased_var.to(self.running_var.dtype), alpha=momentum)


def convert(model: nn.Module) -> None:
    """Make every ``BatchNorm2d`` of ``model`` global, in place (parameters and buffers kept)."""
    for module in model.modules():
        if type(module) is nn.BatchNorm2d:
            module.__class__ = GlobalBatchNorm2d


def revert(model: nn.Module) -> None:
    """Undo ``convert``."""
    for module in model.modules():
        if isinstance(module, GlobalBatchNorm2d):
            plain: nn.Module = module
            plain.__class__ = nn.BatchNorm2d
