"""Where the instruction's block is, read from the images of the tabletop demonstrations.

The simulator paints blocks in five exact colours (robot-agent Camera/TableScene.cs) that nothing
else in the image uses, so a block's centre in a frame is the centroid of the pixels of its colour
(the gripper can hide it; then the last frame where it was visible counts). These positions are
training signals only (the probe and the auxiliary target loss, docs/training.md); nothing of them
goes into a model package.
"""
from __future__ import annotations

import numpy as np

from .data import words

# TableScene.BlockColours, in BlockColour order.
COLOURS = {"red": (200, 40, 40), "green": (40, 160, 60), "blue": (40, 80, 200), "yellow": (230, 200, 40), "purple": (160, 60, 180)}


def named_colour(instruction: str) -> str:
    for w in words(instruction):
        if w in COLOURS:
            return w
    raise ValueError(f"instruction '{instruction}' names none of the colours {', '.join(COLOURS)}")


def block_centres(images: np.ndarray, episode: np.ndarray, camera: int = 0, chunk: int = 2048) -> np.ndarray:
    """[frames, colours, 2] centres (x, y in 0..1 across and down the image) of each colour's pixels;
    NaN where a colour is in no frame of the episode so far."""
    n, h, w = images.shape[0], images.shape[2], images.shape[3]
    out = np.full((n, len(COLOURS), 2), np.nan, dtype=np.float32)
    ys, xs = np.mgrid[0:h, 0:w]
    xs = (xs.reshape(-1).astype(np.float32) + 0.5) / w
    ys = (ys.reshape(-1).astype(np.float32) + 0.5) / h
    for start in range(0, n, chunk):
        part = np.asarray(images[start:start + chunk, camera]).reshape(-1, h * w, 3).astype(np.int16)
        for k, rgb in enumerate(COLOURS.values()):
            mask = np.all(part == np.array(rgb, dtype=np.int16), axis=-1).astype(np.float32)
            count = mask.sum(axis=1)
            seen = count > 0
            out[start:start + chunk, k, 0] = np.where(seen, mask @ xs / np.maximum(count, 1), np.nan)
            out[start:start + chunk, k, 1] = np.where(seen, mask @ ys / np.maximum(count, 1), np.nan)
    # Carry the last seen centre forward within an episode (the gripper may cover a block).
    for i in range(1, n):
        if episode[i] == episode[i - 1]:
            missing = np.isnan(out[i, :, 0])
            out[i, missing] = out[i - 1, missing]
    return out


def named_targets(data) -> tuple[np.ndarray, np.ndarray]:
    """(named [frames, 2] centre of the instruction's block, centres [frames, colours, 2]) for a Dataset."""
    centres = block_centres(data.images, data.episode)
    colour_index = np.array([list(COLOURS).index(named_colour(t)) for t in data.instructions])
    named = centres[np.arange(len(data.episode)), colour_index[data.episode]]
    return named, centres
