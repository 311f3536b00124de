"""Errors raised by edgeloop.

Every error says what went wrong and how to fix it. Only the CLI and web
layers turn them into exit codes or HTTP status codes.
"""

from __future__ import annotations


class EdgeloopError(Exception):
    """Base class for every error edgeloop raises on purpose."""


class ImageError(EdgeloopError):
    """An image could not be decoded safely (empty, truncated, corrupt, not an image)."""


class ImageTooLarge(ImageError):
    """An image is above the pixel cap; its header says so before anything is decoded."""


class BundleError(EdgeloopError):
    """A bundle is malformed, incomplete, or fails verification."""


class ArchiveError(EdgeloopError):
    """An archive holds unsafe or oversize members."""


class BackendError(EdgeloopError):
    """A backend is unknown, unavailable, or failed to load or run a model."""


class ModelImportError(EdgeloopError):
    """An ONNX model cannot be described as a bundle without more information."""


class NoDecoderError(EdgeloopError):
    """A bundle's family has no decoder (``raw``): it runs as tensors, not on images to results."""


class ConfigError(EdgeloopError):
    """A configuration value is invalid."""


class SourceError(EdgeloopError):
    """A video source cannot be opened, or was lost and did not come back in time."""


class SinkError(EdgeloopError):
    """A result sink cannot be opened or written."""


class DatasetError(EdgeloopError):
    """A dataset is missing, malformed, or cannot be written in the requested format."""


class DeployError(EdgeloopError):
    """A deployment recipe cannot be written (unknown target, output folder in use, no package)."""


class TrainError(EdgeloopError):
    """Training cannot start or resume, or a checkpoint or run folder is missing or unreadable."""


class MissingImage(DatasetError):
    """A dataset names an image file that is not there."""


class RequestError(EdgeloopError):
    """A request to the server is malformed (bad body, parameter or field)."""


class PayloadTooLarge(RequestError):
    """A request body is above the server's byte limit."""


class UnsupportedMediaType(RequestError):
    """A request body has a content type the route cannot read."""


class Unauthorized(RequestError):
    """A request lacks the server's token, or sends a wrong one."""


class Forbidden(RequestError):
    """A valid token asks for something its role may not do (a device on an admin route)."""


class Conflict(RequestError):
    """A request disagrees with the current state (e.g. a resumable upload's offset)."""


class NotFound(EdgeloopError):
    """Something asked for by name (a model, a version, a pipeline) does not exist."""


class ModelNotFound(NotFound):
    """No model of that name (or version) is loaded."""


class LimitReached(EdgeloopError):
    """A configured limit (such as running pipelines) is reached: stop something first."""


class Overloaded(EdgeloopError):
    """The model's queue is full: try again shortly."""


class Unavailable(EdgeloopError):
    """The model is shutting down or being replaced: try again shortly."""


class InferenceTimeout(EdgeloopError):
    """The model did not answer within the request's time budget."""


class FeatureUnavailable(EdgeloopError):
    """This installation lacks what a feature needs (an optional extra)."""
