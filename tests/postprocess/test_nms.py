import numpy as np
import pytest

from edgeloop.postprocess.nms import batched_nms, box_iou_one_to_many, nms


def test_iou() -> None:
    box = np.array([0, 0, 10, 10], np.float32)
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 0, 0]], np.float32)
    np.testing.assert_allclose(box_iou_one_to_many(box, boxes), [1.0, 1 / 3, 0.0, 0.0], rtol=1e-6)


def test_greedy_suppression_keeps_best_first() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 9]], np.float32)
    scores = np.array([0.8, 0.9, 0.7, 0.3], np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.95).tolist() == [1, 0, 2, 3]


def test_threshold_is_strict() -> None:
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], np.float32)  # IoU exactly 1/3
    scores = np.array([0.9, 0.8], np.float32)
    assert len(nms(boxes, scores, 1 / 3 + 1e-6)) == 2
    assert len(nms(boxes, scores, 0.3)) == 1


def test_max_keep_bounds_the_work() -> None:
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 1000, (5000, 2)).astype(np.float32)
    boxes = np.hstack([xy, xy + 5]).astype(np.float32)
    keep = nms(boxes, rng.random(5000).astype(np.float32), 0.5, max_keep=300)
    assert len(keep) == 300


def test_class_aware_and_agnostic() -> None:
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8], np.float32)
    classes = np.array([0, 1], np.int32)
    assert len(batched_nms(boxes, scores, classes, 0.5)) == 2
    assert batched_nms(boxes, scores, classes, 0.5, agnostic=True).tolist() == [0]


def test_empty() -> None:
    empty = np.zeros((0, 4), np.float32)
    assert len(batched_nms(empty, np.zeros(0, np.float32), np.zeros(0, np.int32), 0.5)) == 0


def reference_nms(boxes: np.ndarray, scores: np.ndarray, thr: float) -> list[int]:
    """Textbook greedy NMS, one pair at a time."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep: list[int] = []
    for i in order:
        if all(box_iou_one_to_many(boxes[j], boxes[i : i + 1])[0] <= thr for j in keep):
            keep.append(i)
    return keep


@pytest.mark.parametrize("n", [0, 1, 7, 200])
def test_matches_textbook_greedy_nms(n: int) -> None:
    rng = np.random.default_rng(n)
    xy = rng.uniform(0, 300, (n, 2)).astype(np.float32)
    boxes = np.hstack([xy, xy + rng.uniform(5, 80, (n, 2))]).astype(np.float32)
    scores = rng.permutation(n).astype(np.float32) / max(n, 1)  # distinct scores: no tie ambiguity
    assert nms(boxes, scores, 0.5).tolist() == reference_nms(boxes, scores, 0.5)


def _random_boxes(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(n)
    xy = rng.uniform(0, 600, (n, 2)).astype(np.float32)
    boxes = np.hstack([xy, xy + rng.uniform(5, 120, (n, 2))]).astype(np.float32)
    scores = rng.permutation(n).astype(np.float32) / n
    classes = rng.integers(0, 4, n).astype(np.int32)
    return boxes, scores, classes


@pytest.mark.parametrize("n", [5, 300, 1400, 1600])
@pytest.mark.parametrize("agnostic", [False, True])
def test_native_and_numpy_paths_agree(n: int, agnostic: bool) -> None:
    from edgeloop.postprocess import nms as nms_module

    boxes, scores, classes = _random_boxes(n)
    got = batched_nms(boxes, scores, classes, 0.6, 300, agnostic=agnostic)
    if agnostic:
        want = nms(boxes, scores, 0.6, 300)
    else:
        span = float(np.abs(boxes).max()) + 1
        want = nms(boxes + (classes * span)[:, None].astype(np.float32), scores, 0.6, 300)
    assert got.tolist() == want.tolist()
    assert (n > nms_module.NATIVE_LIMIT) == (n == 1600)


@pytest.mark.parametrize("n", [3, 40, 500])
@pytest.mark.parametrize("agnostic", [False, True])
def test_same_boxes_as_opencv(n: int, agnostic: bool) -> None:
    """What the device path keeps equals OpenCV's NMSBoxesBatched (OpenCV only in the test env)."""
    cv2 = pytest.importorskip("cv2")
    boxes, scores, classes = _random_boxes(n)
    xywh = boxes.astype(np.float64)
    xywh[:, 2:] -= xywh[:, :2]
    groups = np.zeros_like(classes) if agnostic else classes
    raw = np.asarray(cv2.dnn.NMSBoxesBatched(xywh, scores, groups, -1.0, 0.6), np.intp).reshape(-1)
    want = raw[np.argsort(-scores[raw], kind="stable")]
    assert batched_nms(boxes, scores, classes, 0.6, agnostic=agnostic).tolist() == want.tolist()
