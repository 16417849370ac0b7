"""Can the model's inputs say where the named block is? (docs/training.md, "Probe")

    /usr/bin/python3 -m a1fleet_train.probe --data DIR [--package PKG] [--patch 16] [--layers 2] [--steps 400]

On the first frames of the episodes (where the arm has not moved yet, so only the image and the
instruction can tell), (1) with --package: a ridge regression from the package's hidden streams
(the mean of the action-query tokens, or of all tokens for FM, at each exit) to the named block's
centre; (2) a prefix encoder and a few LM layers of the reference architecture trained from scratch
to regress it (mean of all output tokens -> linear). Reported on the held-out episodes: mean
distance to the named block's centre and the share of episodes where the prediction is nearest the
named block among the scene's blocks (chance about 1/3).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch import nn

from .config import ModelConfig, preset
from .data import Dataset, Tokenizer, normalize, split_frames
from .model import Block, Prefix
from .targets import COLOURS, named_colour, named_targets


def swap_colour(text: str, k: int) -> str:
    return text.replace(named_colour(text), list(COLOURS)[k])


def score(pred: np.ndarray, named: np.ndarray, centres: np.ndarray) -> dict:
    d = np.linalg.norm(pred - named, axis=1)
    dist = np.linalg.norm(centres - pred[:, None, :], axis=2)
    dist = np.where(np.isnan(dist), np.inf, dist)
    nearest = dist.argmin(axis=1)
    named_k = np.nanargmin(np.linalg.norm(centres - named[:, None, :], axis=2), axis=1)
    return {"mean_distance": round(float(d.mean()), 4), "nearest_is_named": round(float((nearest == named_k).mean()), 3)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--package")
    p.add_argument("--patch", type=int, default=16)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--first-frames", type=int, default=4)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--any-block", action="store_true", help="scratch probe: name a random block of the scene (colour word swapped)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--patch-ce", action="store_true", help="scratch probe: classify the patch holding the block (instruction tokens . patch tokens)")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    data = Dataset(a.data, 8)
    named, centres = named_targets(data)
    train_frames, val_frames = split_frames(data)
    tr = train_frames[data.frame[train_frames] < a.first_frames] if a.first_frames > 0 else train_frames
    va = val_frames[data.frame[val_frames] == 0]
    results = {"train_frames": int(len(tr)), "val_episodes": int(len(va))}
    # Baselines: the mean position; a random one of the scene's blocks.
    results["baseline_mean_position"] = score(np.repeat(named[tr].mean(0, keepdims=True), len(va), 0), named[va], centres[va])
    rng = np.random.default_rng(0)
    picks = []
    for i in va:
        present = np.nonzero(~np.isnan(centres[i, :, 0]))[0]
        picks.append(centres[i, rng.choice(present)])
    results["baseline_random_block"] = score(np.array(picks), named[va], centres[va])

    def tensors(rows, c, state_bounds, tok, colours=None):
        images = torch.from_numpy(np.ascontiguousarray(data.images[rows])).float().div_(255.0).permute(0, 1, 4, 2, 3).contiguous()
        texts = [data.instructions[e] for e in data.episode[rows]]
        if colours is not None:
            texts = [swap_colour(t, k) for t, k in zip(texts, colours)]
        enc = [tok.encode(t) for t in texts]
        ids = torch.from_numpy(np.stack([e[0] for e in enc]))
        counts = torch.tensor([e[1] for e in enc])
        state = torch.from_numpy(normalize(data.state[rows], *state_bounds))
        return images, ids, counts, state

    if a.package:
        from .package_weights import load_policy
        base, _ = preset("full", "mlp")
        model, state_bounds, _ = load_policy(a.package, base)
        model.eval()
        c = model.c
        tok = Tokenizer(c.vocabulary, c.max_tokens)
        feats = {}
        with torch.no_grad():
            for name, rows in (("train", tr), ("val", va)):
                per_layer = {}
                for s in range(0, len(rows), 128):
                    images, ids, counts, state = tensors(rows[s:s + 128], c, state_bounds, tok)
                    streams, _, _ = model.backbone(images, ids, state, model.attention_bias(counts), c.layers - 1)
                    for l, h in enumerate(streams):
                        x = h[:, c.sequence_length - c.query_tokens:].mean(1) if c.query_tokens else h.mean(1)
                        per_layer.setdefault(l, []).append(x.numpy())
                feats[name] = {l: np.concatenate(v) for l, v in per_layer.items()}
        for l in sorted(feats["train"]):
            x = np.hstack([feats["train"][l], np.ones((len(tr), 1))])
            w = np.linalg.solve(x.T @ x + 1e-2 * np.eye(x.shape[1]), x.T @ named[tr])
            xv = np.hstack([feats["val"][l], np.ones((len(va), 1))])
            results[f"package_linear_probe_stream_{l}"] = score(xv @ w, named[va], centres[va])

    base, _ = preset("full", "mlp")
    c = ModelConfig(**{**base.__dict__})
    c.head, c.patch, c.layers = "fm", a.patch, max(2, a.layers)
    c.image_height, c.image_width, c.cameras = data.meta["image_height"], data.meta["image_width"], tuple(data.meta["cameras"])
    c.state_dim = data.meta["state_dim"]
    from .train import model_config_for
    c.vocabulary = model_config_for(data, base).vocabulary
    c.max_tokens = model_config_for(data, base).max_tokens
    from .data import bounds
    state_bounds = bounds(data.state[train_frames])
    tok = Tokenizer(c.vocabulary, c.max_tokens)
    prefix = Prefix(c)
    blocks = nn.ModuleList([Block(c.hidden, c.heads, c.ffn) for _ in range(a.layers)])
    out = nn.Linear(c.hidden, 2)
    wq, wk = nn.Linear(c.hidden, c.hidden), nn.Linear(c.hidden, c.hidden)
    params = list(prefix.parameters()) + list(blocks.parameters()) + list(out.parameters()) + list(wq.parameters()) + list(wk.parameters())
    cols, rows_ = c.image_width // c.patch, c.image_height // c.patch
    patch_xy = np.stack(np.meshgrid((np.arange(cols) + 0.5) / cols, (np.arange(rows_) + 0.5) / rows_), -1).reshape(-1, 2).astype(np.float32)

    def patch_of(xy):
        return (np.minimum((xy[:, 1] * rows_).astype(int), rows_ - 1) * cols + np.minimum((xy[:, 0] * cols).astype(int), cols - 1))
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-4)

    def forward(rows, colours=None):
        images, ids, counts, state = tensors(rows, c, state_bounds, tok, colours)
        h = prefix(images, ids, state * 0)  # the state says nothing about the block here: left out
        bias = torch.zeros(h.shape[0], h.shape[1])
        bias[:, c.first_instruction_token:c.first_instruction_token + c.max_tokens] = (torch.arange(c.max_tokens)[None] >= counts[:, None]).float() * -1e9
        for b in blocks:
            h = b(h, bias)[0]
        if not a.patch_ce:
            return out(h.mean(1))
        n = c.image_tokens
        mask = (torch.arange(c.max_tokens)[None] < counts[:, None]).float()
        instr = (h[:, c.first_instruction_token:c.first_instruction_token + c.max_tokens] * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return torch.einsum("bd,bnd->bn", wq(instr), wk(h[:, :n])) / c.hidden ** 0.5

    started = time.time()
    prng = np.random.default_rng(a.seed)
    log = []
    for step in range(a.steps):
        rows = prng.choice(tr, 64)
        if a.any_block:
            colours = np.array([prng.choice(np.nonzero(~np.isnan(centres[i, :, 0]))[0]) for i in rows])
            goal = centres[rows, colours]
        else:
            colours, goal = None, named[rows]
        if a.patch_ce:
            loss = nn.functional.cross_entropy(forward(rows, colours), torch.from_numpy(patch_of(goal)))
        else:
            loss = torch.mean(torch.abs(forward(rows, colours) - torch.from_numpy(goal)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == a.steps - 1:
            with torch.no_grad():
                f = forward(va).numpy()
                r = score(patch_xy[f.argmax(1)] if a.patch_ce else f, named[va], centres[va])
            log.append({"step": step, "loss": round(float(loss), 4), **r, "seconds": round(time.time() - started, 1)})
            print(json.dumps(log[-1]), flush=True)
    results[f"scratch_patch{a.patch}_layers{a.layers}"] = log[-1]
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
