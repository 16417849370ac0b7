"""A1Policy: predict, set_budget, get_inference_stats over the fleet's A1-compatible endpoint."""

import base64
import struct
import time
import zlib
from urllib.parse import urlsplit, urlunsplit, unquote

import numpy as np
import requests


class A1FleetError(RuntimeError):
    """The fleet refused or could not serve a request; .status is the HTTP status, .detail the fleet's message,
    .retry_after the seconds its Retry-After header asks to wait before asking again (None when it sent none): a 503
    "not now" under load says when a request has a chance; keep executing the actions held until then."""

    def __init__(self, status, detail, retry_after=None):
        super().__init__(f"A1Fleet answered {status}: {detail}")
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


def _retry_after(response):
    """Retry-After in seconds (the fleet sends delta-seconds), or None."""
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


def _png(image):
    """A PNG file of an RGB uint8 (H, W, 3) array (no imaging library needed)."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"an image must be uint8 (H, W, 3) RGB, got shape {image.shape}")
    h, w, _ = image.shape
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b""))


def _encode(image):
    if isinstance(image, (bytes, bytearray)):
        return base64.b64encode(bytes(image)).decode("ascii")  # already a PNG/JPEG file
    return base64.b64encode(_png(np.asarray(image))).decode("ascii")


class A1Policy:
    """One robot's policy, served by an A1Fleet: its credential selects the robot, the fleet batches and budgets."""

    def __init__(self, url, credential=None, robot_id=None, timeout=30.0, session=None):
        parts = urlsplit(url)
        if parts.username or parts.password:
            robot_id = robot_id or unquote(parts.username or "")
            credential = credential or unquote(parts.password or "")
            netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
            url = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        if not credential:
            raise ValueError("a robot credential (a1r_...) is needed: pass credential=..., or put it in the URL")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._http = session or requests.Session()
        self._http.auth = (robot_id or "robot", credential)
        self._stats = []

    @classmethod
    def from_pretrained(cls, url, credential=None, latency_budget_ms=None, **kwargs):
        """Connects to the fleet (the model is the robot's, configured by its operator) and checks it serves one."""
        policy = cls(url, credential, **kwargs)
        info = policy._call("GET", "/model_info")
        policy.model_id = info.get("model_id")
        if latency_budget_ms is not None:
            policy.set_budget(latency_ms=latency_budget_ms)
        return policy

    connect = from_pretrained

    def predict(self, image, instruction, robot_state):
        """Actions (chunk, len(robot_state)) for one observation: an image (uint8 HWC array, or a PNG/JPEG file's bytes)
        or a list of them in the robot's camera order, the instruction, and the robot's state."""
        images = image if isinstance(image, (list, tuple)) else [image]
        state = np.asarray(robot_state, dtype=np.float64).reshape(-1)
        body = {"instruction": instruction, "images": [_encode(i) for i in images], "proprio_data": [state.tolist()]}
        started = time.perf_counter()
        answer = self._call("POST", "/inference", json=body)
        round_trip_ms = (time.perf_counter() - started) * 1000.0
        stats = dict(answer.get("model_info", {}).get("inference_stats", {}))
        stats["round_trip_ms"] = round_trip_ms
        self._stats.append(stats)
        return np.asarray(answer["predicted_actions"], dtype=np.float32)

    def set_budget(self, latency_ms):
        """Sets this robot's latency budget, within the range its operator allows and above the model's first exit."""
        return self._call("POST", "/a1fleet/budget", json={"latency_ms": float(latency_ms)})["latency_budget_ms"]

    def get_budget(self):
        return self._call("GET", "/a1fleet/budget")

    def get_inference_stats(self):
        """Averages over this client's requests, from the fleet's per-request stats."""
        if not self._stats:
            return {"requests": 0}

        def mean(key):
            values = [s[key] for s in self._stats if key in s]
            return float(np.mean(values)) if values else None

        return {
            "requests": len(self._stats),
            "average_latency_ms": mean("round_trip_ms"),
            "average_fleet_ms": mean("total_ms"),
            "average_queue_ms": mean("queue_ms"),
            "average_compute_ms": mean("engine_ms"),
            "average_exit_layer": mean("exit_layer"),
            "average_layers_used": mean("layers_run"),
            "layers": max((s.get("layers", 0) for s in self._stats), default=None),
            "average_denoising_steps": mean("denoising_steps"),
            "budget_misses": sum(1 for s in self._stats if s.get("budget_missed")),
        }

    def reset_stats(self):
        self._stats.clear()

    def _call(self, method, path, **kwargs):
        response = self._http.request(method, self.url + path, timeout=self.timeout, **kwargs)
        if response.status_code != 200:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text
            if isinstance(detail, list) and detail and isinstance(detail[0], dict):
                detail = "; ".join(d.get("msg", "") for d in detail)
            raise A1FleetError(response.status_code, detail, _retry_after(response))
        return response.json()
