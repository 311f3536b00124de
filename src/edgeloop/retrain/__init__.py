"""Retraining from field data: the retrain job and the accuracy gate (see docs/retrain.md)."""
