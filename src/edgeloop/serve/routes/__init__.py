"""Route groups: ops (health, metrics, web page), v1 (native), v2 (Open Inference Protocol), roboflow."""
