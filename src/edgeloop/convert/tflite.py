"""TensorFlow Lite / LiteRT ``.tflite`` files: kept as they are and run on the LiteRT backend.

FP32 and quantized (INT8) models alike: the bundle's variant is ``model.tflite`` with backends
``["litert"]`` and precision ``int8`` when the model computes in integers. The check runs
the file on TensorFlow's own interpreter (``tf.lite.Interpreter``) when TensorFlow is
installed, an implementation independent of the ``ai-edge-litert`` wheel the bundle runs on;
without TensorFlow the bundle is recorded as unchecked. ``--to-onnx`` converts the file to
ONNX with tf2onnx instead (for ONNX Runtime, OpenVINO, TensorRT) and checks that against
TensorFlow's interpreter.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from edgeloop.backends.litert import LiteRtBackend, dequantize_output, quantize_input
from edgeloop.convert.base import Array, Converted, ConvertOptions, Reference, SourceFormat
from edgeloop.errors import BackendError, ModelImportError
from edgeloop.importer import describe
from edgeloop.postprocess.families import get_family

_LITERT_HINT = "pip install 'edgeloop[litert]'"
_TF_HINT = "pip install 'edgeloop[tensorflow]'"


def _spec_and_details(path: Path) -> tuple[Any, list[dict[str, Any]]]:
    """The model's spec as the LiteRT backend reports it, and every tensor's details."""
    if not LiteRtBackend.available():
        raise ModelImportError(f"{path.name}: running .tflite files needs LiteRT: {_LITERT_HINT}")
    backend = LiteRtBackend()
    try:
        spec = backend.load(path)
        details = backend.tensor_details()
    except BackendError as exc:
        raise ModelImportError(str(exc)) from None
    finally:
        backend.close()
    return spec, details


def _quantized(details: list[dict[str, Any]]) -> bool:
    """Whether the model holds integer tensors with a quantization scale (an INT8 model)."""
    for detail in details:
        scale, _ = detail.get("quantization", (0.0, 0))
        if scale and np.dtype(detail["dtype"]).kind in "iu":
            return True
    return False


class TfLiteReference(NamedTuple):
    """TensorFlow's interpreter on a ``.tflite``: the reference for the import check.

    Attributes:
        run: the model on one prepared tensor, outputs dequantized.
        name: e.g. ``tensorflow 2.21.0 tf.lite.Interpreter``.
        step: the largest output quantization step (0 for float outputs).
        integer_io: an input or output is a quantized integer tensor.
    """

    run: Reference
    name: str
    step: float
    integer_io: bool


def tf_reference(path: Path) -> TfLiteReference | None:
    """TensorFlow's own interpreter on the file, or None when TensorFlow is not installed.

    Raises:
        ModelImportError: TensorFlow's interpreter cannot load the file.
    """
    from edgeloop.convert.tensorflow import first_line, quiet_tensorflow

    try:
        tf = quiet_tensorflow()
    except ModelImportError:  # not installed: nothing independent to check against
        return None
    try:
        with warnings.catch_warnings():  # its deprecation notice: it is the independent reference here
            warnings.simplefilter("ignore")
            interpreter = tf.lite.Interpreter(  # TensorFlow's own kernels, not LiteRT's XNNPACK
                model_path=str(path),
                experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            )
        interpreter.allocate_tensors()
    except Exception as exc:
        raise ModelImportError(
            f"TensorFlow's interpreter could not load {path.name}: {first_line(exc)}"
        ) from None
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    step = max((float(d["quantization"][0]) for d in outputs), default=0.0)
    integer_io = any(d["quantization"][0] and np.dtype(d["dtype"]).kind in "iu" for d in [*inputs, *outputs])

    def reference(tensor: Array) -> list[Array]:
        try:
            interpreter.set_tensor(inputs[0]["index"], quantize_input(tensor, inputs[0]))
            interpreter.invoke()
        except Exception as exc:
            raise ModelImportError(
                f"TensorFlow's interpreter could not run {path.name}: {first_line(exc)}"
            ) from None
        return [dequantize_output(interpreter.get_tensor(d["index"]), d) for d in outputs]

    return TfLiteReference(reference, f"tensorflow {tf.__version__} tf.lite.Interpreter", step, integer_io)


def convert(path: Path, out: Path, options: ConvertOptions, work: Path) -> Converted:
    """Keep the ``.tflite`` for LiteRT (or convert it to ONNX with ``--to-onnx``)."""
    if options.to_onnx:
        from edgeloop.convert.tensorflow import tflite_to_onnx

        return tflite_to_onnx(path, options, work)
    spec, details = _spec_and_details(path)
    if len(spec.inputs) != 1:
        raise ModelImportError(f"{path.name} has {len(spec.inputs)} inputs: edgeloop runs models with one")
    family, input_spec, names = describe(spec, options)
    quantized = _quantized(details)
    checked = tf_reference(path) if options.check else None
    notes = ["the .tflite runs as it is on LiteRT"]
    tolerance = 1e-4
    if checked is None and options.check:
        notes.append(f"TensorFlow is not installed here, so nothing independent checked it ({_TF_HINT})")
    if checked is not None and quantized:
        tolerance = max(1e-4, checked.step * 1.001)  # kernels may round one step apart
        notes.append("INT8: LiteRT and TensorFlow's interpreter may differ by one output quantization step")
    return Converted(
        model_file=path,
        bundle_file="model.tflite",
        backend="litert",
        family=family,
        task=get_family(family).task,
        names=names,
        input=input_spec,
        framework="tflite",
        source_files=[path],
        reference=checked.run if checked else None,
        reference_name=checked.name if checked else None,
        tolerance=tolerance,
        precision="int8" if quantized else "fp32",
        notes=notes,
    )


FORMAT = SourceFormat(
    name="tflite",
    title="TensorFlow Lite / LiteRT",
    suffixes=(".tflite",),
    convert=convert,
    needs="litert",
)
