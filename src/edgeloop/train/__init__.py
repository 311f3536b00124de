"""Training: the only package (with ``edgeloop.export.onnx``) that imports torch."""
