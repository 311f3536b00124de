"""Producing ONNX models: synthetic models here; torch export joins with training."""
