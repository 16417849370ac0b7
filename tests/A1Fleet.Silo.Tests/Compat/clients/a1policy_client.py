"""Drives clients/python/a1fleet (A1Policy) against a running test silo.

usage: a1policy_client.py PACKAGE_DIR URL ROBOT KEY CONFIG_JSON
"""
import json
import sys
import time

import numpy as np


def fail(message):
    print(json.dumps({"ok": False, "error": message}), flush=True)
    sys.exit(1)


def predict(policy, A1FleetError, images, state):
    """As a robot does: a 503 "not now" (the fleet cannot make the budget under the load it has) is asked again after
    its Retry-After, a few times; anything else fails."""
    for attempt in range(5):
        try:
            return policy.predict(image=images, instruction="stack the blocks", robot_state=state)
        except A1FleetError as error:
            if error.status != 503 or error.retry_after is None or attempt == 4:
                raise
            time.sleep(error.retry_after)


def main():
    package, url, robot, key, cfg = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
    sys.path.insert(0, package)
    from a1fleet import A1Policy, A1FleetError
    from arm import pose, violation

    policy = A1Policy.from_pretrained(url, credential=key, robot_id=robot, latency_budget_ms=cfg["budget"])
    rng = np.random.default_rng(1)
    for _ in range(3):
        images = [rng.integers(0, 256, size=(30, 40, 3), dtype=np.uint8) for _ in range(cfg["cameras"])]
        state = pose(cfg, rng, cfg["proprio"])
        actions = predict(policy, A1FleetError, images, state)
        if actions.shape != (cfg["chunk"], cfg["proprio"]) or actions.dtype != np.float32:
            fail(f"actions {actions.shape} {actions.dtype}")
        broken = violation(actions, state, cfg)
        if broken is not None:
            fail(f"the arm would refuse the chunk: {broken}")
    stats = policy.get_inference_stats()
    for key_ in ("average_latency_ms", "average_exit_layer", "average_layers_used", "average_denoising_steps", "average_queue_ms", "average_compute_ms"):
        if stats.get(key_) is None:
            fail(f"stats lack {key_}: {stats}")
    refused = None
    try:
        policy.set_budget(latency_ms=cfg["outside"])
    except A1FleetError as error:
        refused = error.status
    print(json.dumps({"ok": True, "stats": stats, "budget": policy.get_budget()["latency_budget_ms"], "refused": refused}), flush=True)


if __name__ == "__main__":
    main()
