"""Detection loss: task-aligned assignment, IoU-aware class targets, CIoU and DFL.

Assignment follows the task-aligned idea (TOOD): a cell is a good match for an
object when it both scores the object's class highly and already predicts a box
overlapping it; the best ``topk`` cells whose centre lies inside each box become
positives. Class targets are the normalized alignment, so the trained score
tracks box quality, which is what mAP at strict IoU rewards.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class LossWeights:
    """Gains of the three loss terms."""

    box: float = 7.5
    cls: float = 0.5
    dfl: float = 1.5


@dataclass(frozen=True)
class Targets:
    """Ground truth padded to the batch's largest count M.

    Attributes:
        xyxy: (B, M, 4) boxes in input pixels.
        labels: (B, M) class ids.
        mask: (B, M) True for real boxes.
    """

    xyxy: Tensor
    labels: Tensor
    mask: Tensor


def box_iou_pairs(a: Tensor, b: Tensor, eps: float = 1e-7) -> Tensor:
    """IoU of boxes paired along broadcast axes; (..., 4) xyxy -> (...)."""
    lt = torch.maximum(a[..., :2], b[..., :2])
    rb = torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1)
    area_b = (b[..., 2:] - b[..., :2]).clamp(min=0).prod(-1)
    return inter / (area_a + area_b - inter + eps)


def ciou(a: Tensor, b: Tensor, eps: float = 1e-7) -> Tensor:
    """Complete IoU (IoU minus centre-distance and aspect-ratio penalties) of paired (..., 4) boxes."""
    iou = box_iou_pairs(a, b, eps)
    enclose = torch.maximum(a[..., 2:], b[..., 2:]) - torch.minimum(a[..., :2], b[..., :2])
    diagonal_sq = enclose.pow(2).sum(-1) + eps
    centre_sq = ((a[..., :2] + a[..., 2:]) - (b[..., :2] + b[..., 2:])).pow(2).sum(-1) / 4
    wa, ha = (a[..., 2] - a[..., 0]).clamp(min=eps), (a[..., 3] - a[..., 1]).clamp(min=eps)
    wb, hb = (b[..., 2] - b[..., 0]).clamp(min=eps), (b[..., 3] - b[..., 1]).clamp(min=eps)
    v = (4 / math.pi**2) * (torch.atan(wb / hb) - torch.atan(wa / ha)).pow(2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - centre_sq / diagonal_sq - alpha * v


@torch.no_grad()
def assign(
    scores: Tensor,
    pred_xyxy: Tensor,
    points: Tensor,
    targets: Targets,
    topk: int = 10,
    alpha: float = 0.5,
    beta: float = 6.0,
) -> tuple[Tensor, Tensor, Tensor]:
    """Task-aligned assignment.

    Args:
        scores: (B, N, C) predicted class probabilities.
        pred_xyxy: (B, N, 4) predicted boxes in pixels.
        points: (N, 2) cell centres in pixels.
        targets: padded ground truth.

    Returns:
        target boxes (B, N, 4), soft class targets (B, N, C), foreground mask (B, N).
    """
    b, n, c = scores.shape
    m = targets.xyxy.shape[1]
    if m == 0:
        return (
            pred_xyxy.new_zeros(b, n, 4),
            scores.new_zeros(b, n, c),
            scores.new_zeros(b, n, dtype=torch.bool),
        )
    gt = targets.xyxy[:, :, None, :]  # (B, M, 1, 4)
    inside = (points[None, None] > gt[..., :2]).all(-1) & (points[None, None] < gt[..., 2:]).all(-1)
    inside &= targets.mask[:, :, None]
    iou = box_iou_pairs(gt, pred_xyxy[:, None]).clamp(min=0) * inside  # (B, M, N)
    labels = targets.labels.long().clamp(min=0)
    class_scores = scores.gather(2, labels[:, None, :].expand(b, n, m)).transpose(1, 2)  # (B, M, N)
    align = class_scores.pow(alpha) * iou.pow(beta) * inside
    k = min(topk, n)
    top = align.topk(k, dim=2).indices
    chosen = torch.zeros_like(inside).scatter_(2, top, True) & inside & (align > 0)
    # A cell claimed by several objects goes to the one it overlaps most.
    several = chosen.sum(1, keepdim=True) > 1
    best = iou.argmax(1, keepdim=True)
    only_best = torch.zeros_like(chosen).scatter_(1, best, True)
    chosen = torch.where(several, only_best & chosen, chosen)
    fg = chosen.any(1)  # (B, N)
    owner = chosen.float().argmax(1)  # (B, N) index into M
    target_xyxy = targets.xyxy.gather(1, owner[..., None].expand(b, n, 4))
    target_labels = labels.gather(1, owner)
    # Scale each object's alignment so its best cell's target equals its best IoU.
    align = align * chosen
    norm = (align * (iou * chosen).amax(2, keepdim=True) / (align.amax(2, keepdim=True) + 1e-9)).amax(1)
    target_scores = F.one_hot(target_labels, c).float() * (norm * fg)[..., None]
    return target_xyxy, target_scores, fg


def dfl_loss(box_logits: Tensor, target_ltrb: Tensor, reg_max: int) -> Tensor:
    """Distribution focal loss per cell: (K, 4*reg_max) logits, (K, 4) targets in strides -> (K,)."""
    target = target_ltrb.clamp(0, reg_max - 1 - 0.01)
    left = target.long()
    w_right = target - left
    logits = box_logits.view(-1, reg_max)
    loss = F.cross_entropy(logits, left.view(-1), reduction="none") * (1 - w_right.view(-1))
    loss = loss + F.cross_entropy(logits, (left + 1).view(-1), reduction="none") * w_right.view(-1)
    return loss.view(-1, 4).mean(-1)


def detection_loss(
    box_logits: Tensor,
    cls_logits: Tensor,
    points: Tensor,
    strides: Tensor,
    targets: Targets,
    reg_max: int,
    weights: LossWeights = LossWeights(),
    divisor: Callable[[Tensor], Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    """Total loss (scalar) and its weighted (box, cls, dfl) parts for logging.

    The loss is normalized by the batch's total target score (at least 1);
    ``divisor`` replaces that rule, e.g. by the global batch's total under
    DDP, so the averaged gradients equal those of one process.
    """
    from edgeloop.train.model import distribution_to_ltrb, ltrb_to_xyxy

    batch = box_logits.shape[0]
    ltrb = distribution_to_ltrb(box_logits.float(), reg_max)
    pred_xyxy = ltrb_to_xyxy(ltrb, points, strides)
    scores = cls_logits.detach().float().sigmoid()
    target_xyxy, target_scores, fg = assign(scores, pred_xyxy.detach(), points, targets)
    total_score = target_scores.sum()
    total_score = divisor(total_score) if divisor is not None else total_score.clamp(min=1)
    loss_cls = F.binary_cross_entropy_with_logits(cls_logits.float(), target_scores, reduction="sum")
    loss_cls = loss_cls / total_score
    if fg.any():
        weight = target_scores.sum(-1)[fg]
        loss_box = ((1 - ciou(pred_xyxy[fg], target_xyxy[fg])) * weight).sum() / total_score
        stride_fg = strides.expand(batch, -1, -1)[fg]
        points_fg = points.expand(batch, -1, -1)[fg]
        target_ltrb = torch.cat((points_fg - target_xyxy[fg][:, :2], target_xyxy[fg][:, 2:] - points_fg), -1)
        loss_dfl = (dfl_loss(box_logits[fg].float(), target_ltrb / stride_fg, reg_max) * weight).sum()
        loss_dfl = loss_dfl / total_score
    else:
        loss_box = loss_dfl = box_logits.sum() * 0
    parts = torch.stack((loss_box * weights.box, loss_cls * weights.cls, loss_dfl * weights.dfl))
    return parts.sum(), parts.detach()
