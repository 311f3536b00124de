"""Producing ONNX models from trained weights (torch export) and optimized variants."""
