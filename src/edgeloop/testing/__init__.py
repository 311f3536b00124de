"""Helpers for tests, benchmarks and the demo: never imported by the device path.

``onnx_models`` builds small ONNX models with the onnx helper API (no torch, no
downloads) so every feature can be exercised without a trained model.
``image_fuzz`` and ``server_fuzz`` (with ``openapi_bodies``) fuzz the image
decoder and a running server (``benchmarks/fuzz_images.py``, ``fuzz_server.py``).
"""
