"""Live video pipelines: sources -> Predictor -> tracking and zones -> sinks."""
