"""TensorFlow SavedModel folders and frozen graphs (``.pb``) -> ONNX through tf2onnx.

A SavedModel's serving signature is converted with its own input and output names; a frozen
graph's inputs are its placeholders and its outputs the nodes nothing else reads. The
layout stays as the model has it (NHWC for most TensorFlow vision models). The check runs
TensorFlow itself (the signature, or the imported graph) on the bundle's golden samples.
``.tflite`` files converted with ``--to-onnx`` come through ``tflite_to_onnx``.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop.backends.onnxruntime import OnnxRuntimeBackend
from edgeloop.convert.base import Array, Converted, ConvertOptions, Reference, SourceFormat
from edgeloop.errors import BackendError, ModelImportError
from edgeloop.importer import describe
from edgeloop.postprocess.families import get_family

OPSET = 13
MAX_INPUT_SIDE = 16384  # a declared input larger than this is refused before any tensor is made
_HINT = "pip install 'edgeloop[tensorflow]'"
_NOT_OUTPUTS = {"Const", "NoOp", "Placeholder", "PlaceholderWithDefault", "Assert", "VarHandleOp"}


def quiet_tensorflow() -> Any:
    """``tensorflow``, imported with its C++ and Python logging turned down.

    Raises:
        ModelImportError: TensorFlow is not installed (with the pip command that installs it).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault(
        "TF_ENABLE_ONEDNN_OPTS", "0"
    )  # else a notice on stderr at import, whatever the level
    try:
        import tensorflow as tf
    except ImportError:
        raise ModelImportError(
            f"converting TensorFlow models needs TensorFlow and tf2onnx: {_HINT}"
        ) from None
    tf.get_logger().setLevel(logging.ERROR)
    return tf


def _tf2onnx() -> Any:
    quiet_tensorflow()
    try:
        import tf2onnx
    except ImportError:
        raise ModelImportError(f"converting TensorFlow models needs tf2onnx: {_HINT}") from None
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    return tf2onnx


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (TensorFlow's run to pages), or its type."""
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _saved_model(path: Path, work: Path) -> tuple[Path, Reference]:
    """Convert a SavedModel's serving signature; the signature itself as the reference."""
    tf2onnx = _tf2onnx()
    import tensorflow as tf
    from tf2onnx import tf_loader

    onnx_path = work / "model.onnx"
    try:
        graph_def, inputs, outputs, renames = tf_loader.from_saved_model(
            str(path), None, None, return_tensors_to_rename=True
        )
        tf2onnx.convert.from_graph_def(
            graph_def,
            input_names=inputs,
            output_names=outputs,
            opset=OPSET,
            tensors_to_rename=renames,
            output_path=str(onnx_path),
        )
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:  # TensorFlow and tf2onnx raise many kinds
        raise ModelImportError(
            f"{path.name}: TensorFlow could not read this SavedModel: {first_line(exc)}"
        ) from None
    signatures = dict(loaded.signatures)
    signature = signatures.get("serving_default") or next(iter(signatures.values()), None)
    if signature is None:
        raise ModelImportError(f"{path.name}: the SavedModel has no signature to serve")
    input_keys = list(signature.structured_input_signature[1])
    if len(input_keys) != 1:
        raise ModelImportError(
            f"{path.name}: the signature has {len(input_keys)} inputs: edgeloop runs models with one"
        )
    output_keys = [renames.get(name, name) for name in outputs]
    missing = [key for key in output_keys if key not in signature.structured_outputs]
    if missing:
        raise ModelImportError(
            f"{path.name}: tf2onnx's outputs {missing} are not among the signature's outputs "
            f"{sorted(signature.structured_outputs)}; please report it"
        )

    def reference(tensor: Array) -> list[Array]:
        try:
            result = signature(**{input_keys[0]: tf.constant(tensor)})
        except Exception as exc:
            raise ModelImportError(
                f"{path.name}: TensorFlow could not run the model: {first_line(exc)}"
            ) from None
        return [np.asarray(result[key]) for key in output_keys]

    return onnx_path, reference


def _tensor_names(names: tuple[str, ...]) -> list[str]:
    return [name if ":" in name else f"{name}:0" for name in names]


def _graph_ends(graph_def: Any, options: ConvertOptions, name: str) -> tuple[list[str], list[str]]:
    """(input, outputs) of a frozen graph: ``--inputs`` / ``--outputs``, else its one placeholder
    and the nodes no other node reads.

    Raises:
        ModelImportError: not exactly one input, no output, or a named tensor the graph lacks.
    """
    nodes = {node.name for node in graph_def.node}
    read = {name.lstrip("^").split(":")[0] for node in graph_def.node for name in node.input}
    inputs = (
        _tensor_names(options.input_names)
        if options.input_names
        else [f"{n.name}:0" for n in graph_def.node if n.op == "Placeholder"]
    )
    outputs = (
        _tensor_names(options.output_names)
        if options.output_names
        else [f"{n.name}:0" for n in graph_def.node if n.name not in read and n.op not in _NOT_OUTPUTS]
    )
    unknown = [t for t in [*inputs, *outputs] if t.split(":")[0] not in nodes]
    if unknown:
        raise ModelImportError(f"{name}: the graph has no node {', '.join(unknown)}")
    if len(inputs) != 1 or not outputs:
        raise ModelImportError(
            f"{name}: a frozen graph needs one image input and at least one output; found inputs "
            f"{inputs or 'none'} and outputs {outputs or 'none'}: name them with --inputs NODE --outputs A,B"
        )
    return inputs, outputs


def _frozen_graph(path: Path, work: Path, options: ConvertOptions) -> tuple[Path, Reference]:
    """Convert a frozen GraphDef; TensorFlow running the same graph as the reference."""
    tf2onnx = _tf2onnx()
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(path.read_bytes())
    except Exception as exc:
        raise ModelImportError(
            f"{path.name}: not a TensorFlow frozen graph (GraphDef): {first_line(exc)}"
        ) from None
    inputs, outputs = _graph_ends(graph_def, options, path.name)
    onnx_path = work / "model.onnx"
    try:
        tf2onnx.convert.from_graph_def(
            graph_def, input_names=inputs, output_names=outputs, opset=OPSET, output_path=str(onnx_path)
        )
        wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
        graph = wrapped.graph
        pruned = wrapped.prune(
            [graph.get_tensor_by_name(inputs[0])], [graph.get_tensor_by_name(n) for n in outputs]
        )
    except Exception as exc:
        raise ModelImportError(
            f"{path.name}: TensorFlow could not convert this graph: {first_line(exc)}"
        ) from None

    def reference(tensor: Array) -> list[Array]:
        try:
            return [np.asarray(o) for o in pruned(tf.constant(tensor))]
        except Exception as exc:
            raise ModelImportError(
                f"{path.name}: TensorFlow could not run the graph: {first_line(exc)}"
            ) from None

    return onnx_path, reference


def onnx_converted(
    onnx_path: Path,
    options: ConvertOptions,
    source: Path,
    reference: Reference,
    reference_name: str,
    tolerance: float = 1e-4,
) -> Converted:
    """The bundle description of a converted ONNX file: family, input and names as the importer
    recognises them from the ONNX model (or the user's flags)."""
    backend = OnnxRuntimeBackend()
    try:
        spec = backend.load(onnx_path)
    except BackendError as exc:
        raise ModelImportError(f"{source.name}: the converted ONNX model does not load: {exc}") from None
    finally:
        backend.close()
    if len(spec.inputs) != 1:
        raise ModelImportError(f"{source.name} has {len(spec.inputs)} inputs: edgeloop runs models with one")
    if spec.inputs[0].dtype not in ("float32", "float16", "uint8"):
        raise ModelImportError(
            f"{source.name}: the ONNX model takes {spec.inputs[0].dtype} input, which edgeloop does not make "
            "from images (a fully quantized .tflite: import it without --to-onnx to run it on LiteRT)"
        )
    family, input_spec, names = describe(spec, options)
    if max(input_spec.size_hw) > MAX_INPUT_SIDE:
        raise ModelImportError(
            f"{source.name}: input {list(input_spec.size_hw)} is larger than {MAX_INPUT_SIDE} pixels a side"
        )
    tf = quiet_tensorflow()
    return Converted(
        model_file=onnx_path,
        bundle_file="model.onnx",
        backend="onnxruntime",
        family=family,
        task=get_family(family).task,
        names=names,
        input=input_spec,
        framework=f"tensorflow {tf.__version__}",
        source_files=[source / "saved_model.pb" if source.is_dir() else source],
        reference=reference if options.check else None,
        reference_name=reference_name,
        tolerance=tolerance,
        notes=[f"converted to ONNX (opset {OPSET}) with tf2onnx; layout kept as the model has it"],
    )


def convert(path: Path, out: Path, options: ConvertOptions, work: Path) -> Converted:
    """A SavedModel folder or a frozen ``.pb`` -> ONNX, checked against TensorFlow."""
    tf = quiet_tensorflow()
    onnx_path, reference = _saved_model(path, work) if path.is_dir() else _frozen_graph(path, work, options)
    return onnx_converted(onnx_path, options, path, reference, f"tensorflow {tf.__version__}")


def tflite_to_onnx(path: Path, options: ConvertOptions, work: Path) -> Converted:
    """A ``.tflite`` -> ONNX with tf2onnx (``--to-onnx``), checked against TensorFlow's interpreter.

    Raises:
        ModelImportError: TensorFlow is missing, or the model takes or gives quantized integer
            tensors (its ONNX form would too; LiteRT runs it as it is).
    """
    from edgeloop.convert.tflite import tf_reference

    tf2onnx = _tf2onnx()
    checked = tf_reference(path)
    if checked is None:  # tf2onnx imported, so TensorFlow did: not reached
        raise ModelImportError(f"converting .tflite to ONNX needs TensorFlow: {_HINT}")
    if checked.integer_io:
        raise ModelImportError(
            f"{path.name} takes or gives quantized integer tensors, and so would its ONNX form, which "
            "edgeloop does not feed or decode: import it without --to-onnx to run it on LiteRT"
        )
    onnx_path = work / "model.onnx"
    try:
        with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation notice
            warnings.simplefilter("ignore")
            tf2onnx.convert.from_tflite(str(path), opset=OPSET, output_path=str(onnx_path))
    except Exception as exc:
        raise ModelImportError(
            f"{path.name}: tf2onnx could not convert this .tflite: {first_line(exc)}"
        ) from None
    tolerance = max(1e-4, checked.step * 1.001)
    converted = onnx_converted(onnx_path, options, path, checked.run, checked.name, tolerance=tolerance)
    converted.framework = "tflite"
    converted.notes = [f"converted from .tflite to ONNX (opset {OPSET}) with tf2onnx"]
    return converted


def _sniff(path: Path) -> bool:
    if path.is_dir():
        return (path / "saved_model.pb").is_file()
    return path.is_file() and path.suffix.lower() == ".pb"


FORMAT = SourceFormat(
    name="tensorflow",
    title="TensorFlow SavedModel or frozen graph",
    suffixes=(".pb",),
    convert=convert,
    sniff=_sniff,
    needs="tensorflow",
)
