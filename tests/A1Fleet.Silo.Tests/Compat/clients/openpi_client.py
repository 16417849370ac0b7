"""An openpi-style robot client for the tests (Debian's websockets 10.4 asyncio API, msgpack, numpy).

usage: openpi_client.py SCENARIO URL KEY CONFIG_JSON
CONFIG_JSON: {"state_dim": int, "chunk": int, "action_dim": int, "layout": "libero"|"droid"|"aloha", ...}
Prints one JSON line {"ok": true, ...} on success; exits non-zero with the reason otherwise. Scenarios that need the
test to act in between print a line "WAIT <what>" and read one line from stdin before going on.
"""
import asyncio
import json
import random
import struct
import sys
import urllib.request
import urllib.error

import numpy as np
import websockets

from arm import pose, violation
from openpi_wire import packb, unpackb


def fail(message):
    print(json.dumps({"ok": False, "error": message}), flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def observation(cfg, rng, size=(48, 40), chw=False, prompt="pick up the cube"):
    def image():
        h, w = size
        img = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        return np.ascontiguousarray(img.transpose(2, 0, 1)) if chw else img

    layout = cfg["layout"]
    n = cfg["state_dim"]
    state = pose(cfg, rng, n)
    if layout == "libero":
        obs = {"observation/image": image(), "observation/wrist_image": image(), "observation/state": state}
    elif layout == "droid":
        obs = {"observation/exterior_image_1_left": image(), "observation/wrist_image_left": image(),
               "observation/joint_position": state[:-1].astype(np.float64), "observation/gripper_position": state[-1:]}
    else:
        obs = {"images": {"cam_high": image(), "cam_left_wrist": image(), "cam_right_wrist": image()}, "state": state}
    if prompt is not None:
        obs["prompt"] = prompt
    return obs


async def connect(url, key, **kwargs):
    headers = {"Authorization": f"Api-Key {key}"} if key else {}
    return await websockets.connect(url, extra_headers=headers, compression=None, max_size=None, **kwargs)


async def metadata_of(ws):
    first = await ws.recv()
    check(isinstance(first, bytes), f"the first frame is {type(first).__name__}, not the binary metadata frame")
    return unpackb(first)


def state_of(obs):
    """The state the observation reports, in the order the layouts' profiles concatenate it."""
    if "observation/state" in obs:
        return obs["observation/state"]
    if "state" in obs:
        return obs["state"]
    return np.concatenate([obs["observation/joint_position"], obs["observation/gripper_position"]])


def check_reply(reply, cfg, index, obs=None):
    check(isinstance(reply, bytes), f"reply {index} is a text frame: {reply!r}")
    result = unpackb(reply)
    actions = result["actions"]
    check(isinstance(actions, np.ndarray), f"actions is {type(actions).__name__}")
    check(actions.dtype == np.float32, f"actions dtype {actions.dtype}")
    check(actions.shape == (cfg["chunk"], cfg["action_dim"]), f"actions shape {actions.shape}")
    check(np.all(np.isfinite(actions)), "actions are not finite")
    if obs is not None:
        broken = violation(actions, state_of(obs), cfg)
        check(broken is None, f"reply {index}: the arm would refuse the chunk: {broken}")
    timing = result["server_timing"]
    check(isinstance(timing["infer_ms"], float) and timing["infer_ms"] >= 0, f"server_timing {timing}")
    if index == 0:
        check("prev_total_ms" not in timing, "prev_total_ms on the first request")
    else:
        check(isinstance(timing.get("prev_total_ms"), float), f"no prev_total_ms on request {index}: {timing}")
    policy = result["policy_timing"]
    for key in ("infer_ms", "queue_ms", "engine_ms", "exit_layer", "layers_run", "denoising_steps", "batch_size"):
        check(key in policy, f"policy_timing lacks {key}: {policy}")
    return result


async def expect_error(ws, fragment=None):
    """openpi's failure: one text frame with the message, then close 1011."""
    try:
        message = await asyncio.wait_for(ws.recv(), 30)
    except websockets.ConnectionClosed as closed:
        fail(f"closed ({closed.code}) without an error frame")
    check(isinstance(message, str), f"expected a text error frame, got {len(message)} binary bytes")
    check("Traceback" not in message and "   at " not in message, f"the error has a stack trace: {message}")
    if fragment is not None:
        check(fragment in message, f"the error {message!r} does not say {fragment!r}")
    try:
        await asyncio.wait_for(ws.recv(), 30)
        fail("a frame after the error frame")
    except websockets.ConnectionClosed as closed:
        check(closed.code == 1011, f"close code {closed.code}, not 1011")
    return message


async def serve(url, key, cfg):
    rng = np.random.default_rng(7)
    ws = await connect(url, key)
    metadata = await metadata_of(ws)
    check(metadata == cfg.get("metadata", {}), f"metadata {metadata!r}")
    stats = []
    for i in range(cfg.get("requests", 3)):
        obs = observation(cfg, rng, size=(48 + 16 * i, 40), chw=cfg.get("chw", False))
        await ws.send(packb(obs))
        result = check_reply(await ws.recv(), cfg, i, obs)
        stats.append(result["policy_timing"])
    # A ping answered while connected (the server answers pings at any time).
    pong = await ws.ping()
    await asyncio.wait_for(pong, 30)
    await ws.close()
    return {"ok": True, "requests": len(stats), "exit_layers": [s["exit_layer"] for s in stats]}


async def refused(url, key, cfg):
    try:
        ws = await connect(url, key)
    except websockets.InvalidStatusCode as ex:
        return {"ok": True, "status": ex.status_code}
    await ws.close()
    fail("the handshake was accepted")


async def bad_frame(url, key, cfg):
    ws = await connect(url, key)
    await metadata_of(ws)
    kind = cfg["bad"]
    rng = np.random.default_rng(1)
    if kind == "valid":
        await ws.send(packb(observation(cfg, rng, prompt=cfg.get("prompt", "pick up the cube"))))
    elif kind == "truncated":
        frame = packb(observation(cfg, rng))
        await ws.send(frame[: len(frame) // 2])
    elif kind == "text":
        await ws.send("hello")
    elif kind == "state_dim":
        obs = observation(cfg, rng)
        for k in ("observation/state", "state"):
            if k in obs:
                obs[k] = np.zeros(cfg["state_dim"] + 3, np.float32)
        await ws.send(packb(obs))
    elif kind == "state_out_of_range":
        # A state in other units (degrees for a radian arm): nothing may be sent for the arm to execute.
        obs = observation(cfg, rng)
        for k in ("observation/state", "state"):
            if k in obs:
                obs[k] = np.full(cfg["state_dim"], 45.0, np.float32)
        await ws.send(packb(obs))
    elif kind == "str_keys":
        # A map with *str* "__ndarray__" keys is a plain dict, not an array: the image key is then no image.
        obs = observation(cfg, rng)
        img = obs["observation/image"]
        obs["observation/image"] = {"__ndarray__": True, "data": img.tobytes(), "dtype": img.dtype.str, "shape": list(img.shape)}
        await ws.send(packb(obs))
    else:
        fail(f"unknown bad frame {kind}")
    message = await expect_error(ws, cfg.get("expect"))
    return {"ok": True, "message": message}


async def estop(url, key, cfg):
    rng = np.random.default_rng(3)
    ws = await connect(url, key)
    await metadata_of(ws)
    obs = observation(cfg, rng)
    await ws.send(packb(obs))
    check_reply(await ws.recv(), cfg, 0, obs)
    print("WAIT estop", flush=True)
    sys.stdin.readline()
    await ws.send(packb(observation(cfg, rng)))
    message = await expect_error(ws, cfg.get("expect", "e-stopped"))
    return {"ok": True, "message": message}


def fuzz_frames(cfg, rng, count):
    good = packb(observation(cfg, rng))
    img = np.zeros((8, 8, 3), np.uint8)
    def arr(dtype, shape, data):
        return {b"__ndarray__": True, b"data": data, b"dtype": dtype, b"shape": shape}
    templates = [
        lambda: good[: rng.integers(1, len(good))],                                   # truncated
        lambda: bytes(rng.integers(0, 256, size=rng.integers(1, 200), dtype=np.uint8)),  # garbage
        lambda: packb([1, 2, 3]),                                                       # not a map
        lambda: packb({"observation/image": "a string", "observation/wrist_image": 3, "observation/state": "x"}),
        lambda: packb({"observation/image": arr("<U2", [8, 8, 3], b"\0" * 8 * 8 * 3 * 8), "observation/state": 1.0}),
        lambda: packb({"observation/image": arr("|u1", [100000, 100000, 3], b"\0" * 12), "observation/state": 1.0}),
        lambda: packb({"observation/image": arr("|u1", [-1, 8, 3], b""), "observation/state": 1.0}),
        lambda: packb({"observation/image": arr("<f4", [8, 8, 3], np.zeros((8, 8, 3), np.float32).tobytes())}),
        lambda: packb({"observation/image": arr("|u1", [8, 8, 3], img.tobytes()[:-1])}),
        lambda: packb({"observation/image": arr("|u1", [8, 8, 4], np.zeros((8, 8, 4), np.uint8).tobytes())}),
        lambda: packb({1: 2}),                                                          # int key
        lambda: msgpack_ext(),
        lambda: nested(40),
        lambda: packb({"observation/state": np.zeros(10**6, np.float32)}),
        lambda: good + b"\x00",                                                          # trailing bytes
        lambda: b"\xdf\xff\xff\xff\xff",                                                 # map32 of 4G entries
        lambda: b"\xc6\x7f\xff\xff\xff",                                                 # bin32 of 2G bytes
    ]
    for _ in range(count):
        yield templates[rng.integers(0, len(templates))]()


def msgpack_ext():
    import msgpack
    return msgpack.packb({"x": msgpack.ExtType(5, b"abc")})


def nested(depth):
    value = {}
    for _ in range(depth):
        value = {"a": value}
    return packb(value)


async def fuzz(url, key, cfg):
    """Thousands of bad frames, each answered by an error frame and close 1011, while a good client keeps being served."""
    rng = np.random.default_rng(11)
    frames = list(fuzz_frames(cfg, rng, cfg["count"]))
    errors = 0
    good_served = 0
    stop = asyncio.Event()

    async def good_client():
        nonlocal good_served
        grng = np.random.default_rng(5)
        ws = await connect(url, cfg["good_key"])
        await metadata_of(ws)
        i = 0
        while not stop.is_set() or good_served < 5:
            await ws.send(packb(observation(cfg, grng)))
            check_reply(await ws.recv(), cfg, i)
            i += 1
            good_served += 1
        await ws.close()

    async def bad_worker(chunk):
        nonlocal errors
        for frame in chunk:
            ws = await connect(url, key)
            await metadata_of(ws)
            await ws.send(frame)
            await expect_error(ws)
            errors += 1

    good = asyncio.create_task(good_client())
    workers = cfg.get("workers", 1)
    await asyncio.gather(*(bad_worker(frames[w::workers]) for w in range(workers)))
    stop.set()
    await good
    check(errors == len(frames), f"{errors} of {len(frames)} bad frames answered")
    return {"ok": True, "bad_frames": errors, "good_served": good_served}


def healthz(url, key, cfg):
    http = url.replace("ws://", "http://").rstrip("/") + "/healthz"
    with urllib.request.urlopen(http, timeout=30) as response:
        body = response.read().decode()
        check(response.status == 200 and body == "OK\n", f"/healthz answered {response.status} {body!r}")
    return {"ok": True}


def main():
    scenario, url, key, cfg = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    if scenario == "healthz":
        result = healthz(url, key, cfg)
    else:
        handler = {"serve": serve, "refused": refused, "bad_frame": bad_frame, "estop": estop, "fuzz": fuzz}[scenario]
        result = asyncio.get_event_loop().run_until_complete(handler(url, key or None, cfg))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
