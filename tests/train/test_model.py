"""The detector, its export head, the assigner and the loss."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from edgeloop.train.loss import Targets, assign, detection_loss  # noqa: E402
from edgeloop.train.model import (  # noqa: E402
    STRIDES,
    Classifier,
    ClassifierExport,
    Detector,
    DetectorExport,
    anchor_points,
    count_parameters,
)


def test_nano_detector_is_under_one_million_parameters() -> None:
    assert count_parameters(Detector(3, "nano")) < 1_000_000
    assert count_parameters(Detector(3, "small")) > count_parameters(Detector(3, "nano"))


def test_export_head_emits_the_yolo_family_layout() -> None:
    model = Detector(5, "nano").eval()
    head = DetectorExport(model, (96, 128))
    out = head(torch.rand(2, 3, 96, 128))
    cells = sum((96 // s) * (128 // s) for s in STRIDES)
    assert out.shape == (2, 4 + 5, cells)
    assert (out[:, 2:4] > 0).all(), "widths and heights are positive"
    assert ((out[:, 4:] >= 0) & (out[:, 4:] <= 1)).all(), "class scores are probabilities"
    points, _ = anchor_points((96, 128))
    # With untrained (uniform) distributions every box is centred on its cell.
    assert torch.allclose(out[0, :2].T, points, atol=1e-3)


def test_classifier_export_gives_probabilities() -> None:
    probs = ClassifierExport(Classifier(4).eval())(torch.rand(3, 3, 64, 64))
    assert probs.shape == (3, 4)
    assert torch.allclose(probs.sum(1), torch.ones(3), atol=1e-5)


def test_assigner_picks_cells_inside_the_box_with_its_class() -> None:
    points, _ = anchor_points((64, 64))
    n = len(points)
    gt = torch.tensor([[[8.0, 8.0, 40.0, 40.0]]])
    targets = Targets(gt, torch.tensor([[2]]), torch.tensor([[True]]))
    pred = gt.expand(1, n, 4).clone()  # every prediction is the right box ...
    scores = torch.full((1, n, 3), 0.5)
    boxes, soft, fg = assign(scores, pred, points, targets, topk=5)
    assert int(fg.sum()) == 5
    inside = (points > 8).all(1) & (points < 40).all(1)
    assert inside[fg[0]].all(), "... but only cells whose centre lies inside the box are chosen"
    assert torch.equal(boxes[fg], gt[0].expand(5, 4))
    assert (soft[fg].argmax(1) == 2).all() and (soft[~fg] == 0).all()
    assert torch.isclose(soft[fg].max(), torch.tensor(1.0)), "the best cell's target is its IoU (1 here)"


def test_the_loss_can_fit_one_batch() -> None:
    torch.manual_seed(0)
    model = Detector(2, "nano")
    points, strides = anchor_points((64, 64))
    images = torch.rand(2, 3, 64, 64)
    targets = Targets(
        torch.tensor(
            [[[4.0, 6.0, 30.0, 40.0], [0, 0, 0, 0]], [[20.0, 20.0, 60.0, 50.0], [2.0, 2.0, 20.0, 12.0]]]
        ),
        torch.tensor([[0, 0], [1, 0]]),
        torch.tensor([[True, False], [True, True]]),
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.003)
    losses = []
    for _ in range(40):
        box, cls = model(images)
        loss, _ = detection_loss(box, cls, points, strides, targets, model.reg_max)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize(("preset", "sigmoids"), [("edge", 0), ("nano", 20)])
def test_edge_preset_quantizes_without_separate_activation_steps(
    preset: str, sigmoids: int, tmp_path: Path
) -> None:
    """What makes `edge` fast in INT8: its activations fold into the integer convolutions.

    nano's SiLU leaves a QLinearSigmoid + QLinearMul pair after most of them.
    """
    import numpy as np
    import onnx

    from edgeloop.export.quantize import PreprocessCalibrationReader, quantize_int8
    from edgeloop.imaging import write_image
    from edgeloop.preprocess import InputSpec

    path = tmp_path / f"{preset}.onnx"
    model = DetectorExport(Detector(3, preset).eval(), (64, 64)).eval()
    torch.onnx.export(model, (torch.rand(1, 3, 64, 64),), str(path), input_names=["images"], dynamo=False)
    images = []
    for i in range(3):
        images.append(tmp_path / f"{i}.png")
        write_image(images[-1], np.random.default_rng(i).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    reader = PreprocessCalibrationReader(images, InputSpec(size_hw=(64, 64)), "images")
    out = quantize_int8(path, tmp_path / "int8.onnx", reader)
    ops = [n.op_type for n in onnx.load(str(out)).graph.node]
    assert ops.count("Conv") >= 20
    body_sigmoids = ops.count("Sigmoid") - 1  # the class-score sigmoid of the float decode tail
    assert (body_sigmoids == 0) if sigmoids == 0 else (body_sigmoids >= sigmoids)
