"""An A1-style robot client for the tests (Debian's requests), written from A1's documented API
(docs/compatible-protocols.md): GET /health, GET /model_info, POST /inference with base64 PNGs in camera order.
The robot credential rides in the URL (http://ROBOT:KEY@host:port), which requests sends as HTTP Basic.

usage: a1_client.py SCENARIO URL CONFIG_JSON   (URL carries the credential where the scenario wants one)
Prints one JSON line {"ok": true, ...}; exits non-zero with the reason otherwise. "WAIT ..." lines read stdin.
"""
import base64
import json
import struct
import sys
import zlib

import numpy as np
import requests

from arm import pose, violation


def fail(message):
    print(json.dumps({"ok": False, "error": message}), flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def png(image):
    """A PNG file of an RGB uint8 (H, W, 3) array, by hand (no PIL on the test machine)."""
    h, w, _ = image.shape
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def request_body(cfg, rng, instruction="put the cup on the coaster", size=(60, 80)):
    images = [base64.b64encode(png(rng.integers(0, 256, size=(*size, 3), dtype=np.uint8))).decode() for _ in range(cfg["cameras"])]
    proprio = [pose(cfg, rng, cfg["proprio"]).tolist()]
    return {"instruction": instruction, "images": images, "proprio_data": proprio}


def check_inference(response, cfg, instruction, sent=None):
    check(response.status_code == 200, f"/inference answered {response.status_code}: {response.text[:300]}")
    body = response.json()
    for key in ("predicted_actions", "instruction", "action_head_type", "processing_time_ms", "model_info", "timestamp"):
        check(key in body, f"the answer lacks {key}: {sorted(body)}")
    actions = np.array(body["predicted_actions"], dtype=np.float64)
    check(actions.shape == (cfg["chunk"], cfg["proprio"]), f"predicted_actions shape {actions.shape}")
    check(np.all(np.isfinite(actions)), "predicted_actions are not finite")
    if sent is not None:
        broken = violation(actions, sent["proprio_data"][0], cfg)
        check(broken is None, f"the arm would refuse the chunk: {broken}")
    check(body["instruction"] == instruction, f"instruction echoed as {body['instruction']!r}")
    check(isinstance(body["processing_time_ms"], float), "processing_time_ms is not a float")
    check("T" in body["timestamp"] and "+" not in body["timestamp"] and not body["timestamp"].endswith("Z"), f"timestamp {body['timestamp']}")
    stats = body["model_info"]["inference_stats"]
    for key in ("exit_layer", "layers_run", "denoising_steps", "queue_ms", "engine_ms"):
        check(key in stats, f"inference_stats lacks {key}")
    return body


def serve(url, cfg):
    rng = np.random.default_rng(2)
    health = requests.get(url + "/health", timeout=30)
    check(health.status_code == 200, f"/health answered {health.status_code}")
    h = health.json()
    check(h["status"] == "healthy" and h["model_loaded"] is True and "device" in h and "timestamp" in h, f"/health {h}")
    info = requests.get(url + "/model_info", timeout=30)
    check(info.status_code == 200, f"/model_info answered {info.status_code}")
    i = info.json()
    check(i["model_loaded"] is True and set(i["config"]) >= {"action_head", "use_proprio", "vision_backbone"}, f"/model_info {i}")
    exits = []
    for _ in range(cfg.get("requests", 3)):
        body = request_body(cfg, rng)
        exits.append(check_inference(requests.post(url + "/inference", json=body, timeout=60), cfg, body["instruction"], body)["model_info"]["inference_stats"]["exit_layer"])
    return {"ok": True, "exit_layers": exits}


def status(url, cfg):
    """One call; reports its status and body (the test asserts on them)."""
    rng = np.random.default_rng(4)
    if cfg["call"] == "inference":
        response = requests.post(url + "/inference", json=request_body(cfg, rng), timeout=60)
    else:
        response = requests.get(url + cfg["call"], timeout=30)
    return {"ok": True, "status": response.status_code, "body": response.json(), "www_authenticate": response.headers.get("WWW-Authenticate")}


def validation(url, cfg):
    """A1's 422s: FastAPI's {"detail": [{"type", "loc", "msg", ...}]} naming the field."""
    rng = np.random.default_rng(6)
    good = request_body(cfg, rng)
    cases = {
        "missing_instruction": ({k: v for k, v in good.items() if k != "instruction"}, ["body", "instruction"]),
        "instruction_not_str": (dict(good, instruction=5), ["body", "instruction"]),
        "images_not_list": (dict(good, images="abc"), ["body", "images"]),
        "proprio_not_numbers": (dict(good, proprio_data=[["a"]]), ["body", "proprio_data", 0, 0]),
        "proprio_too_wide": (dict(good, proprio_data=[[0.0] * 64]), ["body", "proprio_data", 0]),
        "proprio_outside_the_arm": (dict(good, proprio_data=[[45.0] * cfg["proprio"]]), ["body", "proprio_data", 0, 0]),
        "no_images": (dict(good, images=[]), ["body", "images"]),
        "bad_base64": (dict(good, images=["***"] * cfg["cameras"]), ["body", "images", 0]),
        "not_an_image": (dict(good, images=[base64.b64encode(b"not a png").decode()] * cfg["cameras"]), ["body", "images", 0]),
        "body_not_object": ([1, 2], ["body"]),
    }
    seen = {}
    for name, (body, loc) in cases.items():
        response = requests.post(url + "/inference", json=body, timeout=60)
        check(response.status_code == 422, f"{name}: answered {response.status_code} {response.text[:200]}")
        detail = response.json()["detail"]
        check(isinstance(detail, list) and len(detail) >= 1, f"{name}: detail {detail}")
        check(detail[0]["loc"] == loc, f"{name}: loc {detail[0]['loc']}, expected {loc}")
        check(all(k in detail[0] for k in ("type", "loc", "msg")), f"{name}: {detail[0]}")
        seen[name] = detail[0]["type"]
    broken = requests.post(url + "/inference", data=b"{not json", headers={"Content-Type": "application/json"}, timeout=30)
    check(broken.status_code == 422 and broken.json()["detail"][0]["type"] == "json_invalid", f"invalid JSON answered {broken.status_code} {broken.text[:200]}")
    return {"ok": True, "types": seen}


def estop(url, cfg):
    rng = np.random.default_rng(8)
    body = request_body(cfg, rng)
    check_inference(requests.post(url + "/inference", json=body, timeout=60), cfg, body["instruction"], body)
    print("WAIT estop", flush=True)
    sys.stdin.readline()
    response = requests.post(url + "/inference", json=body, timeout=60)
    check(response.status_code == 503, f"an e-stopped robot answered {response.status_code}: {response.text[:200]}")
    check("e-stopped" in response.json()["detail"], f"detail {response.json()}")
    check("predicted_actions" not in response.json(), "actions sent to an e-stopped robot")
    return {"ok": True, "detail": response.json()["detail"]}


def main():
    scenario, url, cfg = sys.argv[1], sys.argv[2].rstrip("/"), json.loads(sys.argv[3])
    handler = {"serve": serve, "status": status, "validation": validation, "estop": estop}[scenario]
    print(json.dumps(handler(url, cfg)), flush=True)


if __name__ == "__main__":
    main()
