"""ONNX -> OpenVINO IR (``model.xml`` + ``model.bin``), done once at optimize time.

Uses the runtime's own ONNX reader and serializer rather than ``ov.convert_model``
(the same IR for ONNX input), and imports OpenVINO with its usage telemetry off.
"""

from __future__ import annotations

from pathlib import Path

from edgeloop.errors import BackendError


def convert_to_ir(onnx_path: Path, xml_path: Path) -> tuple[Path, Path]:
    """Write ``xml_path`` and its ``.bin`` weights from an ONNX model; weights keep their precision.

    Raises:
        BackendError: OpenVINO is not installed or cannot read the model.
    """
    from edgeloop.backends.openvino import import_openvino

    try:
        ov = import_openvino()
    except ImportError:
        raise BackendError("OpenVINO is not installed: pip install 'edgeloop[openvino]'") from None
    xml_path = Path(xml_path)
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        model = ov.Core().read_model(str(onnx_path))
        # compress_to_fp16=False: FP32 stays FP32; an INT8 QDQ model keeps its int8 weights anyway.
        ov.save_model(model, str(xml_path), compress_to_fp16=False)
    except Exception as exc:
        raise BackendError(f"OpenVINO could not convert {Path(onnx_path).name}: {exc}") from None
    return xml_path, xml_path.with_suffix(".bin")
