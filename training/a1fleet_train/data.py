"""Training data in the sim/train contract (a folder of .npy files plus meta.json, written by C# from
the LeRobot dataset), the engine's tokenizer and normalisation, and action chunks."""
from __future__ import annotations

import json
import os

import numpy as np

FORMAT = "a1fleet-training-v1"
PAD, UNK = "<pad>", "<unk>"
MAX_WORD_CHARS = 64  # WordTokenizer copies at most 64 chars of a word


def words(instruction: str) -> list[str]:
    """WordTokenizer's split: runs of letters/digits, lower-cased (invariant), others separate."""
    out, current = [], []
    for ch in instruction:
        if ch.isalnum():
            current.append(ch)
        elif current:
            out.append("".join(current)[:MAX_WORD_CHARS].lower())
            current = []
    if current:
        out.append("".join(current)[:MAX_WORD_CHARS].lower())
    return out


def build_vocabulary(instructions) -> list[str]:
    """<pad> = 0, <unk> = 1, then every word of the instructions, sorted (stable across runs)."""
    found = sorted({w for text in instructions for w in words(text)})
    return [PAD, UNK] + found


class Tokenizer:
    def __init__(self, vocabulary, max_tokens: int):
        self.vocabulary = list(vocabulary)
        self.max_tokens = max_tokens
        self.ids = {}
        for i, w in enumerate(self.vocabulary):
            self.ids.setdefault(w, i)

    def encode(self, instruction: str) -> tuple[np.ndarray, int]:
        ws = words(instruction)
        if not ws:
            raise ValueError("instruction is empty")
        if len(ws) > self.max_tokens:
            raise ValueError(f"instruction has more than {self.max_tokens} words, the most this model reads")
        ids = np.zeros(self.max_tokens, dtype=np.int64)
        for i, w in enumerate(ws):
            ids[i] = self.ids.get(w, 1)
        return ids, len(ws)


def bounds(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dim q01/q99 (float32), as the manifest stores them."""
    q01 = np.quantile(x.astype(np.float64), 0.01, axis=0).astype(np.float32)
    q99 = np.quantile(x.astype(np.float64), 0.99, axis=0).astype(np.float32)
    return q01, q99


def normalize(x: np.ndarray, q01: np.ndarray, q99: np.ndarray) -> np.ndarray:
    """x' = 2 (x - q01) / (q99 - q01 + 1e-8) - 1, clipped to [-1, 1] (the engine's Normalizer)."""
    y = 2.0 * (x.astype(np.float32) - q01) / (q99 - q01 + np.float32(1e-8)) - 1.0
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def denormalize(y: np.ndarray, q01: np.ndarray, q99: np.ndarray) -> np.ndarray:
    y = np.clip(y, -1.0, 1.0)
    return ((y + 1.0) * 0.5 * (q99 - q01 + np.float32(1e-8)) + q01).astype(np.float32)


class Dataset:
    """The contract's arrays, checked, with chunk indices and normalised tensors ready for batches."""

    def __init__(self, folder: str, chunk: int):
        meta_path = os.path.join(folder, "meta.json")
        with open(meta_path) as f:
            self.meta = json.load(f)
        if self.meta.get("format") != FORMAT:
            raise ValueError(f"{meta_path}: format is '{self.meta.get('format')}', expected '{FORMAT}'")
        m = self.meta
        self.folder = folder
        self.state = np.load(os.path.join(folder, "state.npy"))
        self.action = np.load(os.path.join(folder, "action.npy"))
        self.images = np.load(os.path.join(folder, "images.npy"), mmap_mode="r")
        self.episode = np.load(os.path.join(folder, "episode.npy")).astype(np.int64)
        self.frame = np.load(os.path.join(folder, "frame.npy")).astype(np.int64)
        n = m["frames"]
        expect = {
            "state.npy": (self.state, (n, m["state_dim"]), np.float32),
            "action.npy": (self.action, (n, m["action_dim"]), np.float32),
            "images.npy": (self.images, (n, len(m["cameras"]), m["image_height"], m["image_width"], 3), np.uint8),
        }
        for name, (arr, shape, dtype) in expect.items():
            if arr.shape != shape or arr.dtype != dtype:
                raise ValueError(f"{os.path.join(folder, name)}: {arr.dtype}{list(arr.shape)}, expected {np.dtype(dtype)}{list(shape)}")
        if self.episode.shape != (n,) or self.frame.shape != (n,):
            raise ValueError(f"{folder}: episode.npy/frame.npy must hold {n} entries")
        if len(m["episode_instructions"]) != m["episodes"]:
            raise ValueError(f"{meta_path}: {len(m['episode_instructions'])} instructions for {m['episodes']} episodes")
        self.chunk = chunk
        self.chunk_index = self._chunk_index(chunk)

    def _chunk_index(self, chunk: int) -> np.ndarray:
        """[frames, chunk] row indices of the next `chunk` actions, repeating the episode's last."""
        n = len(self.episode)
        last_of = {}
        for i in range(n):
            last_of[self.episode[i]] = i  # frames of an episode are contiguous and in order
        idx = np.zeros((n, chunk), dtype=np.int64)
        for i in range(n):
            end = last_of[self.episode[i]]
            idx[i] = np.minimum(np.arange(i, i + chunk), end)
        return idx

    @property
    def instructions(self) -> list[str]:
        return list(self.meta["episode_instructions"])

    def episodes(self) -> np.ndarray:
        return np.unique(self.episode)


def split_frames(data: "Dataset") -> tuple[np.ndarray, np.ndarray]:
    """(training frames, validation frames): every 10th episode (at least one) is held out; with a
    single episode both are all frames."""
    episodes = data.episodes()
    held = set(episodes[::10].tolist()) if len(episodes) > 1 else set()
    is_held = np.array([e in held for e in data.episode])
    train = np.nonzero(~is_held)[0].astype(np.int64)
    val = np.nonzero(is_held)[0].astype(np.int64)
    return train, (val if len(val) else train)


def write_synthetic(folder: str, episodes: int = 16, frames_per_episode: int = 20, seed: int = 0,
                    cameras=("front", "wrist"), size: int = 32, state_dim: int = 8, action_dim: int = 8) -> None:
    """A dataset in the contract's format whose actions depend on the image (a coloured square's
    position) and on the instruction (which colour), for development and CI when no simulator data
    is at hand. Not a task: the sim worker's exporter writes the real one."""
    rng = np.random.default_rng(seed)
    colours = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (50, 70, 220)}
    names = list(colours)
    n = episodes * frames_per_episode
    images = np.full((n, len(cameras), size, size, 3), 90, dtype=np.uint8)
    state = np.zeros((n, state_dim), dtype=np.float32)
    action = np.zeros((n, action_dim), dtype=np.float32)
    episode = np.zeros(n, dtype=np.int32)
    frame = np.zeros(n, dtype=np.int32)
    instructions = []
    row = 0
    for e in range(episodes):
        target = names[e % len(names)]
        instructions.append(f"touch the {target} block")
        spots = {c: rng.integers(2, size - 8, size=2) for c in names}
        goal = (spots[target] / size - 0.5).astype(np.float32)
        s = rng.uniform(-0.5, 0.5, size=state_dim).astype(np.float32)
        for f in range(frames_per_episode):
            for c, (y, x) in spots.items():
                images[row, :, y:y + 6, x:x + 6] = colours[c]
            cmd = s.copy()
            cmd[:2] += 0.3 * (goal - s[:2])
            cmd[2:] *= 0.9
            state[row], action[row] = s, cmd
            episode[row], frame[row] = e, f
            s = cmd
            row += 1
    os.makedirs(folder, exist_ok=True)
    for name, arr in (("state", state), ("action", action), ("images", images), ("episode", episode), ("frame", frame)):
        np.save(os.path.join(folder, f"{name}.npy"), arr)
    meta = {"format": FORMAT, "fps": 10.0, "state_dim": state_dim, "action_dim": action_dim, "cameras": list(cameras),
            "image_height": size, "image_width": size, "embodiment": "franka", "episodes": episodes, "frames": n,
            "episode_instructions": instructions, "source_dataset": f"synthetic(seed={seed})"}
    with open(os.path.join(folder, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
