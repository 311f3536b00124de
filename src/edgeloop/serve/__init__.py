"""The HTTP inference server: native /v1, Open Inference Protocol /v2, Roboflow-compatible routes."""
