"""The engine's adaptive inference (docs/engine.md) written plainly in PyTorch on a trained Policy:
what the parity test holds the engine to, and what training-side evaluation uses."""
from __future__ import annotations

import base64
import math

import numpy as np
import torch

from .config import ModelConfig
from .data import Tokenizer, denormalize, normalize
from .model import Policy

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def gaussian_noise(count: int, seed: int, layer: int) -> np.ndarray:
    """The engine's GaussianNoise.Fill: SplitMix64 seeded by (seed, layer) feeding Box-Muller."""
    state = _mix((seed ^ _mix((layer + GOLDEN) & MASK64)) & MASK64)
    out = np.zeros(count, dtype=np.float32)
    for i in range(0, count, 2):
        state = (state + GOLDEN) & MASK64
        u1 = ((_mix(state) >> 11) + 1) * (1.0 / 9007199254740992.0)
        state = (state + GOLDEN) & MASK64
        u2 = (_mix(state) >> 11) * (1.0 / 9007199254740992.0)
        radius = math.sqrt(-2.0 * math.log(u1))
        angle = 2.0 * math.pi * u2
        out[i] = np.float32(radius * math.cos(angle))
        if i + 1 < count:
            out[i + 1] = np.float32(radius * math.sin(angle))
    return out


def chunk_discrepancy(metric: str, a: np.ndarray, b: np.ndarray, valid: list) -> float:
    """DiscrepancyMetrics.ChunkDiscrepancy over the valid dims, averaged over chunk steps."""
    a = a[:, valid].astype(np.float64)
    b = b[:, valid].astype(np.float64)
    if metric == "cosine":
        na = np.maximum(np.linalg.norm(a, axis=1), 1e-5)
        nb = np.maximum(np.linalg.norm(b, axis=1), 1e-5)
        per = 1.0 - np.sum(a * b, axis=1) / (na * nb)
    elif metric == "l2":
        per = np.sqrt(np.mean((a - b) ** 2, axis=1))
    elif metric == "mean":
        per = np.mean(np.abs(a - b), axis=1)
    elif metric == "max":
        per = np.max(np.abs(a - b), axis=1)
    else:
        raise ValueError(f"unknown metric '{metric}'")
    return float(np.mean(per))


class TorchPolicy:
    """A checkpoint written by train.py, with its bounds and tokenizer."""

    def __init__(self, checkpoint: str):
        blob = torch.load(checkpoint, map_location="cpu")
        self.config = ModelConfig.from_dict(blob["config"])
        self.model = Policy(self.config)
        self.model.load_state_dict(blob["state_dict"])
        self.model.eval()
        self.state_bounds = [np.array(b, dtype=np.float32) for b in blob["state_bounds"]]
        self.action_bounds = [np.array(b, dtype=np.float32) for b in blob["action_bounds"]]
        self.tokenizer = Tokenizer(self.config.vocabulary, self.config.max_tokens)

    def inputs(self, sample: dict):
        """(images [1,C,3,H,W], token_ids [1,T], state [1,S] normalised, attn_bias [1,N]) as the engine builds them."""
        c = self.config
        cams = [np.frombuffer(base64.b64decode(im), dtype=np.uint8).reshape(c.image_height, c.image_width, 3) for im in sample["images"]]
        images = torch.from_numpy(np.stack(cams).astype(np.float32) / np.float32(255.0)).permute(0, 3, 1, 2)[None].contiguous()
        ids, count = self.tokenizer.encode(sample["instruction"])
        state = normalize(np.array(sample["state"], dtype=np.float32)[None], *self.state_bounds)
        bias = self.model.attention_bias(torch.tensor([count]))
        return images, torch.from_numpy(ids)[None], torch.from_numpy(state), bias

    @torch.no_grad()
    def run(self, sample: dict, early_exit: bool, steps: int, warm: bool, seed: int, thresholds=None, metric: str = "cosine") -> dict:
        """One request through the engine's algorithm; returns exit layer, actions (robot units, H x A), discrepancies."""
        c, m = self.config, self.model
        exits = c.exit_layers()
        final = exits[-1]
        images, ids, state, bias = self.inputs(sample)
        hidden = m.prefix(images, ids, state)
        streams, keys, values = [hidden], [], []
        previous, discrepancies, heads = None, [], 0
        valid = list(range(c.action_dim))
        for layer in range(final + 1):
            hidden, k, v = m.blocks[layer](hidden, bias)
            streams.append(hidden)
            keys.append(k)
            values.append(v)
            reference = early_exit and layer == exits[0] - 1
            if not (reference or (early_exit and layer in exits) or layer == final):
                continue
            heads += 1
            if c.head == "mlp":
                action = m.mlp_at(streams, layer)[0].numpy()
            else:
                if warm and previous is not None:
                    x = torch.from_numpy(previous.copy())[None]
                else:
                    x = torch.from_numpy(gaussian_noise(c.chunk * c.action_dim, seed, layer).reshape(1, c.chunk, c.action_dim))
                for step in range(steps):
                    t = torch.tensor([np.float32(1.0) - np.float32(step) / np.float32(steps)], dtype=torch.float32)
                    vel = m.velocity_at(x, t, state, keys, values, bias, layer)
                    x = x + np.float32(-1.0 / steps) * vel
                action = x[0].numpy()
            if reference:
                previous = action
                continue
            done = not early_exit or layer == final
            if early_exit and not done:
                d = chunk_discrepancy(metric, action, previous, valid)
                discrepancies.append(d)
                done = d <= thresholds[exits.index(layer)]
            previous = action
            if done:
                return {"exitLayer": layer, "headCalls": heads,
                        "actions": denormalize(action, *self.action_bounds).reshape(-1).tolist(),
                        "normalizedActions": action.reshape(-1).tolist(), "discrepancies": discrepancies}
        raise AssertionError("unreachable: the last exit always finishes")
