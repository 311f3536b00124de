"""Ed25519 bundle signatures, key rings and release counters (see docs/retrain.md)."""
