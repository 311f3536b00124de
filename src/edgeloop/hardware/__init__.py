"""Hardware selection: device catalog, model profiler, latency predictor, advisor, benchmark.

Submodules are imported on use: ``profile`` needs the ``onnx`` package
(``pip install 'edgeloop[profile]'``); the rest needs only the core install.
"""
