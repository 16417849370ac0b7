"""PyTorch side of the engine parity test (tests/A1Fleet.Engine.Tests/Parity/TorchParityTests.cs).

    /usr/bin/python3 -m a1fleet_train.parity --checkpoint C --package P --requests R.json --out O.json

Writes, for the package's first two samples as one batch, every part's inputs and PyTorch outputs
(so the test runs each exported graph on the same tensors), and for each request of R.json the
end-to-end result of the engine's algorithm in PyTorch (reference.TorchPolicy.run).
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
import torch

from .reference import TorchPolicy, gaussian_noise


def _t(x: torch.Tensor) -> dict:
    x = x.detach().cpu()
    return {"shape": list(x.shape), "data": x.reshape(-1).tolist()}


def part_cases(policy: TorchPolicy, samples: list) -> list:
    c, m = policy.config, policy.model
    batch = [policy.inputs(s) for s in samples[:2]]
    images = torch.cat([b[0] for b in batch])
    ids = torch.cat([b[1] for b in batch])
    state = torch.cat([b[2] for b in batch])
    bias = torch.cat([b[3] for b in batch])
    cases = []
    with torch.no_grad():
        hidden = m.prefix(images, ids, state)
        cases.append({"file": "prefix.onnx", "inputs": {"images": _t(images), "token_ids": _t(ids), "state": _t(state)},
                      "outputs": {"hidden": _t(hidden)}})
        keys, values = [], []
        for j, block in enumerate(m.blocks):
            out, k, v = block(hidden, bias)
            cases.append({"file": f"lm_layer_{j:02d}.onnx", "inputs": {"hidden": _t(hidden), "attn_bias": _t(bias)},
                          "outputs": {"hidden_out": _t(out), "key": _t(k), "value": _t(v)}})
            if c.head == "mlp":
                cases.append({"file": "mlp_head.onnx", "inputs": {"hidden": _t(hidden)}, "outputs": {"actions": _t(m.mlp_head(hidden))}})
            keys.append(k)
            values.append(v)
            hidden = out
        if c.head == "fm":
            noisy = torch.from_numpy(gaussian_noise(2 * c.chunk * c.action_dim, 11, 0).reshape(2, c.chunk, c.action_dim))
            time = torch.tensor([0.7, 0.3])
            suffix = m.expert_suffix(noisy, time, state)
            cases.append({"file": "expert_suffix.onnx", "inputs": {"noisy_actions": _t(noisy), "time": _t(time), "state": _t(state)},
                          "outputs": {"suffix_hidden": _t(suffix)}})
            for j, layer in enumerate(m.expert_layers):
                out = layer(suffix, keys[j], values[j], bias)
                cases.append({"file": f"expert_layer_{j:02d}.onnx",
                              "inputs": {"suffix_hidden": _t(suffix), "prefix_key": _t(keys[j]), "prefix_value": _t(values[j]), "attn_bias": _t(bias)},
                              "outputs": {"suffix_hidden_out": _t(out)}})
                suffix = out
            cases.append({"file": "expert_out.onnx", "inputs": {"suffix_hidden": _t(suffix)}, "outputs": {"velocity": _t(m.expert_out(suffix))}})
    return cases


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--package", required=True)
    p.add_argument("--requests", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    policy = TorchPolicy(a.checkpoint)
    with open(os.path.join(a.package, "samples.json")) as f:
        samples = json.load(f)
    with open(a.requests) as f:
        requests = json.load(f)["requests"]
    results = []
    for r in requests:
        thresholds = [float(x) for x in r.get("thresholds") or []]
        results.append(policy.run(samples[r["sample"]], r["earlyExit"], r["steps"], r["warm"], int(r["seed"]),
                                  thresholds, r.get("metric", "cosine")))
    noise = gaussian_noise(16, 42, 3)
    with open(a.out, "w") as f:
        json.dump({"parts": part_cases(policy, samples), "results": results,
                   "noise": {"seed": 42, "layer": 3, "values": noise.tolist()}}, f)


if __name__ == "__main__":
    main()
