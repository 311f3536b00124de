"""Run the real third-party clients against a server; prints one JSON object.

Runs in the separate client environment (.venv-clients), because
inference-sdk pulls opencv-python, which must not sit beside edgeloop's
opencv-python-headless. Usage: python check_clients.py URL DETECTOR CLASSIFIER IMAGE
"""

import json
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")


def triton(host: str, model: str) -> dict:
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(host)
    out: dict = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(model),
        "metadata": client.get_model_metadata(model),
    }
    x = np.zeros((1, 3, 640, 640), np.float32)
    x[0, 0, :64, :64] = 1.0  # red square in the corner
    for binary in (False, True):
        tensor = httpclient.InferInput("images", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x, binary_data=binary)
        wanted = httpclient.InferRequestedOutput("output0", binary_data=binary)
        result = client.infer(model, [tensor], outputs=[wanted])
        scores = result.as_numpy("output0")[0, 4]
        out[f"infer_binary_{binary}"] = {
            "shape": list(result.as_numpy("output0").shape),
            "max_red": float(scores.max()),
            "red_cells": int((scores > 0.5).sum()),
        }
    result = client.infer(model, [tensor])  # no outputs named: binary outputs by default
    out["infer_default_shape"] = list(result.as_numpy("output0").shape)
    return out


def roboflow(url: str, detector: str, classifier: str, image_path: str) -> dict:
    import cv2
    import supervision as sv
    from inference_sdk import InferenceHTTPClient

    client = InferenceHTTPClient(api_url=url, api_key="unused-offline")
    image = cv2.imread(image_path)
    detections = client.infer(image, model_id=detector)
    parsed = sv.Detections.from_inference(detections)
    blue = np.zeros((64, 64, 3), np.uint8)
    blue[:] = (255, 0, 0)
    classified = client.infer(blue, model_id=classifier)
    return {
        "sdk_predictions": detections["predictions"],
        "sdk_image": detections["image"],
        "sv_xyxy": parsed.xyxy.tolist(),
        "sv_class_name": list(parsed.data["class_name"]),
        "classification_top": classified["top"],
    }


def supervision_v1(url: str, detector: str, image_path: str) -> dict:
    import requests  # installed with inference-sdk
    import supervision as sv

    with open(image_path, "rb") as fh:
        body = requests.post(
            f"{url}/v1/models/{detector}/predict",
            data=fh.read(),
            headers={"Content-Type": "image/png"},
            timeout=60,
        ).json()
    parsed = sv.Detections.from_inference(body)
    return {
        "xyxy": parsed.xyxy.tolist(),
        "class_id": parsed.class_id.tolist(),
        "confidence": parsed.confidence.tolist(),
        "class_name": list(parsed.data["class_name"]),
    }


if __name__ == "__main__":
    url, detector, classifier, image_path = sys.argv[1:5]
    print(
        json.dumps(
            {
                "triton": triton(url.split("://", 1)[1], detector),
                "roboflow": roboflow(url, detector, classifier, image_path),
                "supervision_v1": supervision_v1(url, detector, image_path),
            }
        )
    )
