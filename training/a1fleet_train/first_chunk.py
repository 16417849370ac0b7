"""Does a package's first action chunk depend on the instruction? (docs/training.md, "Where the named block is")

    /usr/bin/python3 -m a1fleet_train.first_chunk --data DIR PKG [PKG ...]

For frames 0 and 8 of every episode: the R^2 of a linear fit from the named block's centre (read
from the image, targets.py) to the chunk's last action minus the state, per joint (the expert's
demonstrations and each MLP package at full depth); and, on the held-out episodes, the package's
mean error against the expert's chunk and how far its chunk moves when the colour word is swapped
for another block of the scene (normalised units).
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from .config import preset
from .data import Dataset, Tokenizer, denormalize, normalize, split_frames
from .package_weights import load_policy
from .targets import COLOURS, named_colour, named_targets


def r2(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x = np.hstack([x, np.ones((len(x), 1))])
    w = np.linalg.lstsq(x, y, rcond=None)[0]
    total = ((y - y.mean(0)) ** 2).sum(0)
    return 1 - ((y - x @ w) ** 2).sum(0) / np.maximum(total, 1e-12)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--frames", type=int, nargs="+", default=[0, 8])
    p.add_argument("--preset", default="full", help="the preset the packages were trained with (sizes the manifest does not give)")
    p.add_argument("packages", nargs="+")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    data = Dataset(a.data, 8)
    named, centres = named_targets(data)
    _, val = split_frames(data)
    held = set(data.episode[val].tolist())
    out = {}
    for f0 in a.frames:
        rows = np.nonzero(data.frame == f0)[0]
        delta = data.action[data.chunk_index[rows][:, -1]] - data.state[rows]
        out[f"expert/frame{f0}/r2_per_joint"] = np.round(r2(named[rows], delta), 3).tolist()
    for name in a.packages:
        model, sb, ab = load_policy(name, preset(a.preset, "mlp")[0])
        model.eval()
        c = model.c
        if c.head != "mlp":
            raise ValueError(f"{name}: only MLP packages (one deterministic chunk a request)")
        tok = Tokenizer(c.vocabulary, c.max_tokens)
        chunk_index = data._chunk_index(c.chunk)
        for f0 in a.frames:
            rows = np.nonzero(data.frame == f0)[0]
            images = torch.from_numpy(np.ascontiguousarray(data.images[rows])).float().div_(255).permute(0, 1, 4, 2, 3).contiguous()
            state = torch.from_numpy(normalize(data.state[rows], *sb))
            texts = [data.instructions[e] for e in data.episode[rows]]

            def run(instructions):
                enc = [tok.encode(t) for t in instructions]
                ids = torch.from_numpy(np.stack([e[0] for e in enc]))
                counts = torch.tensor([e[1] for e in enc])
                with torch.no_grad():
                    streams, _, _ = model.backbone(images, ids, state, model.attention_bias(counts), c.layers - 1)
                    return model.mlp_at(streams, c.layers - 1).numpy()

            own = run(texts)
            swapped = []
            for i, r in enumerate(rows):
                others = [k for k in np.nonzero(~np.isnan(centres[r, :, 0]))[0] if list(COLOURS)[k] != named_colour(texts[i])]
                swapped.append(texts[i].replace(named_colour(texts[i]), list(COLOURS)[others[0]]) if others else texts[i])
            other = run(swapped)
            delta = denormalize(own[:, -1], *ab) - data.state[rows]
            h = np.array([e in held for e in data.episode[rows]])
            target = normalize(data.action[chunk_index[rows]], *ab)
            key = name.rstrip("/").split("/")[-1]
            out[f"{key}/frame{f0}/r2_per_joint"] = np.round(r2(named[rows], delta), 3).tolist()
            out[f"{key}/frame{f0}/error_vs_expert_heldout"] = round(float(np.abs(own[h] - target[h]).mean()), 4)
            out[f"{key}/frame{f0}/change_when_colour_swapped_heldout"] = round(float(np.abs(own[h] - other[h]).mean()), 4)
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
