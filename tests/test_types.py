import numpy as np
import pytest

from edgeloop.types import Classification, Detections, TensorSpec


def make() -> Detections:
    return Detections(
        xyxy=np.array([[10, 20, 30, 60], [0, 0, 5, 5], [100, 100, 200, 150]]),
        confidence=np.array([0.9, 0.2, 0.5]),
        class_id=np.array([0, 1, 0]),
        names=("person", "car"),
    )


def test_dtypes_and_shapes_are_normalised() -> None:
    d = make()
    assert d.xyxy.dtype == np.float32 and d.xyxy.shape == (3, 4)
    assert d.confidence.dtype == np.float32 and d.class_id.dtype == np.int32
    assert len(d) == 3


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        Detections(np.zeros((2, 4)), np.zeros(3), np.zeros(2))


def test_indexing_slicing_masks() -> None:
    d = make()
    assert len(d[0]) == 1 and d[0].confidence[0] == pytest.approx(0.9)
    assert d[-1].class_id.tolist() == [0]
    assert len(d[1:]) == 2
    assert d[d.confidence > 0.4].confidence.tolist() == pytest.approx([0.9, 0.5])
    assert d[[2, 0]].xyxy[0].tolist() == [100, 100, 200, 150]


def test_filter_by_confidence_and_class() -> None:
    d = make()
    assert len(d.filter(min_confidence=0.5)) == 2
    assert d.filter(classes=[1]).class_id.tolist() == [1]
    assert len(Detections.empty(("a",)).filter(0.1)) == 0


def test_area() -> None:
    assert make().area.tolist() == [800, 25, 5000]


def test_wire_format() -> None:
    out = make().to_json((640, 480), time_s=0.0213)
    assert out["image"] == {"width": 640, "height": 480}
    assert out["time"] == pytest.approx(0.0213)
    first = out["predictions"][0]
    assert first == {
        "x": 20.0,
        "y": 40.0,
        "width": 20.0,
        "height": 40.0,
        "confidence": 0.9,
        "class": "person",
        "class_id": 0,
    }


def test_unknown_class_name_falls_back_to_number() -> None:
    d = Detections(np.zeros((1, 4)), np.ones(1), np.array([7]), ("a",))
    assert d.to_json((1, 1))["predictions"][0]["class"] == "7"


def test_classification() -> None:
    c = Classification(np.array([0.1, 0.7, 0.2]), ("a", "b", "c"))
    assert c.class_id == 1 and c.confidence == pytest.approx(0.7)
    assert [i for i, _ in c.top(2)] == [1, 2]
    out = c.to_json((10, 10))
    assert out["top"] == "b" and out["predictions"][0]["class"] == "b"


def test_tensor_spec_static_shape() -> None:
    assert TensorSpec("x", (1, 3, 640, 640)).static_shape == (1, 3, 640, 640)
    assert TensorSpec("x", ("batch", 3, 640, 640)).static_shape is None
