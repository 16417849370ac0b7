"""Trains a multi-exit policy with A1's recipe and exports it as an A1Fleet model package.

    /usr/bin/python3 -m a1fleet_train.train --data DIR --preset smoke|full --head mlp|fm --seed 1 --out DIR

One shared head for all exits; per batch the loss is taken at every exit ("all", the default) or at
one exit drawn uniformly ("random"). MLP head: L1 on normalised action chunks. FM expert: A1's flow
matching, t ~ Beta(1.5, 1) rescaled to [0.001, 1], x_t = t eps + (1 - t) a, target eps - a (MSE).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
from contextlib import contextmanager, nullcontext

import numpy as np
import torch

from .config import ModelConfig, TrainConfig, preset
from .data import Dataset, Tokenizer, bounds, build_vocabulary, normalize, split_frames, words
from .model import Policy, split_heads


_INTEROP_SET = False

# --warm-sigma's default: sigma ~ U(0, this) in normalised action units, wide enough to cover how far an earlier exit's
# chunk (the start of a warm-started exit) lies from the action.
WARM_SIGMA = 0.3


def seed_everything(seed: int, threads: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    global _INTEROP_SET
    if not _INTEROP_SET:
        # Settable once per process, before any parallel work; a second call aborts the process.
        torch.set_num_interop_threads(1)
        _INTEROP_SET = True


def choose_patch(height: int, width: int) -> int:
    """The smallest patch of at least 8 pixels dividing both sides with at most 16 tokens a camera."""
    for p in range(8, min(height, width) + 1):
        if height % p == 0 and width % p == 0 and (height // p) * (width // p) <= 16:
            return p
    raise ValueError(f"no patch size fits images of {height}x{width}")


def model_config_for(data: Dataset, base: ModelConfig) -> ModelConfig:
    m = data.meta
    vocabulary = build_vocabulary(data.instructions)
    longest = max(len(words(t)) for t in data.instructions)
    c = ModelConfig(**{**base.__dict__})
    c.cameras = tuple(m["cameras"])
    c.image_height, c.image_width = m["image_height"], m["image_width"]
    c.patch = choose_patch(c.image_height, c.image_width)
    c.state_dim, c.action_dim = m["state_dim"], m["action_dim"]
    c.max_tokens = max(8, longest + 2)
    c.vocabulary = tuple(vocabulary)
    c.validate()
    return c


class Batches:
    """Normalised tensors of the training frames, sampled with a seeded generator."""

    def __init__(self, data: Dataset, c: ModelConfig, frames: np.ndarray, state_bounds, action_bounds, seed: int):
        self.data, self.c, self.frames = data, c, frames
        self.rng = np.random.default_rng(seed)
        self.state = normalize(data.state, *state_bounds)
        self.action = normalize(data.action, *action_bounds)
        tok = Tokenizer(c.vocabulary, c.max_tokens)
        encoded = [tok.encode(t) for t in data.instructions]
        self.token_ids = np.stack([e[0] for e in encoded])
        self.token_counts = np.array([e[1] for e in encoded], dtype=np.int64)

    def get(self, rows: np.ndarray):
        d = self.data
        images = torch.from_numpy(np.ascontiguousarray(d.images[rows])).float().div_(255.0)
        images = images.permute(0, 1, 4, 2, 3).contiguous()  # [B, C, 3, H, W]
        ep = d.episode[rows]
        return (images,
                torch.from_numpy(self.token_ids[ep]),
                torch.from_numpy(self.token_counts[ep]),
                torch.from_numpy(self.state[rows]),
                torch.from_numpy(self.action[d.chunk_index[rows]]))

    def sample(self, batch: int, early_share: float = 0.0, early_frames: int = 0):
        """`batch` training frames drawn uniformly; with `early_share` > 0 that share of them comes from
        the first `early_frames` frames of the episodes (where the arm has not yet moved towards the
        named block, so only the image and the instruction say where to go)."""
        early = int(round(batch * early_share)) if early_frames > 0 else 0
        rows = self.rng.choice(self.frames, size=batch - early, replace=True)
        if early:
            pool = self.frames[self.data.frame[self.frames] < early_frames]
            rows = np.concatenate([rows, self.rng.choice(pool, size=early, replace=True)])
        self.last_rows = rows
        return self.get(rows)


class TargetProbe(torch.nn.Module):
    """Training-only heads of the auxiliary target loss (`--aux-target`; beyond A1's recipe, not exported):
    (1) which image patch holds the named block, scored as (Wq mean of the instruction tokens) . (Wk patch
    token) on the stream entering LM block 1; (2) the named block's centre (x, y in 0..1) regressed from
    the mean of the tokens the head reads (MLP: the action queries; FM: the instruction tokens) at every
    exit. Both push the colour word to be tied to the image where the actions are read."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        self.q = torch.nn.Linear(c.hidden, c.hidden)
        self.k = torch.nn.Linear(c.hidden, c.hidden)
        self.xy = torch.nn.Linear(c.hidden, 2)
        self.xy_instruction = torch.nn.Linear(c.hidden, 2)
        cols, rows = c.image_width // c.patch, c.image_height // c.patch
        self.cols, self.rows = cols, rows

    def instruction_mean(self, h, counts):
        c = self.c
        mask = (torch.arange(c.max_tokens)[None] < counts[:, None]).float()
        part = h[:, c.first_instruction_token:c.first_instruction_token + c.max_tokens]
        return (part * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)

    def patch_logits(self, h, counts):
        # The first camera's patches (the data's cameras are in model order; the block centres are read from camera 0).
        n = self.c.patches_per_camera
        return torch.einsum("bd,bnd->bn", self.q(self.instruction_mean(h, counts)), self.k(h[:, :n])) / self.c.hidden ** 0.5

    def patch_of(self, xy):
        col = torch.clamp((xy[:, 0] * self.cols).long(), 0, self.cols - 1)
        row = torch.clamp((xy[:, 1] * self.rows).long(), 0, self.rows - 1)
        return row * self.cols + col

    def readout(self, h, counts):
        c = self.c
        if c.query_tokens:
            return h[:, c.sequence_length - c.query_tokens:].mean(1)
        return self.instruction_mean(h, counts)


def block_logits(block, x, attn_bias):
    """A block's attention logits [B, heads, N, N] on its input stream `x` (what Block.forward softmaxes)."""
    a = block.norm1(x)
    q = split_heads(block.q(a), block.heads, block.head_dim)
    k = split_heads(block.k(a), block.heads, block.head_dim)
    return torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(block.head_dim)) + attn_bias[:, None, None, :]


def aux_losses(model: Policy, probe: TargetProbe, streams, batch, target_xy, swapped, xy_rows=None, chain: bool = False,
               attention: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """Patch classification on stream 1 (the real instruction and, with `swapped`, the same images with the
    colour word swapped to another block of the scene) plus the centre regression at every exit stream."""
    images, token_ids, counts, state, _ = batch
    ce = torch.nn.functional.cross_entropy(probe.patch_logits(streams[1], counts), probe.patch_of(target_xy))
    parts = {"patch_ce": ce}
    if swapped is not None:
        ids2, counts2, xy2 = swapped
        bias2 = model.attention_bias(counts2)
        s2, _, _ = model.backbone(images, ids2, state, bias2, 0)
        parts["patch_ce_swapped"] = torch.nn.functional.cross_entropy(probe.patch_logits(s2[1], counts2), probe.patch_of(xy2))
    exits = [l for l in model.c.exit_layers() if l < len(streams)]
    # xy_rows: the samples the centre is regressed on (the first frames: later, the arm's pose alone tells it).
    sel = torch.ones(target_xy.shape[0], dtype=torch.bool) if xy_rows is None else xy_rows
    if attention is not None and len(streams) > 2:
        # Attention supervision (--aux-attention): head 0 of LM block 1 looks from the colour word to the named
        # block's patch, head 0 of block 2 from every action query to the colour word: the lookup the action
        # needs, one step per block, taught on the model's own attention logits.
        colour_pos = attention
        rows = torch.arange(images.shape[0])
        logits1 = block_logits(model.blocks[1], streams[1], model.attention_bias(counts))[:, 0]  # [B, N, N]
        parts["attn_patch_ce"] = torch.nn.functional.cross_entropy(logits1[rows, colour_pos], probe.patch_of(target_xy))
        c = model.c
        if c.query_tokens:
            logits2 = block_logits(model.blocks[2], streams[2], model.attention_bias(counts))[:, 0, c.sequence_length - c.query_tokens:]
            parts["attn_query_ce"] = torch.nn.functional.cross_entropy(logits2.reshape(-1, logits2.shape[-1]),
                                                                       colour_pos.repeat_interleave(c.query_tokens))
    if chain and bool(sel.any()):
        # Step by step (--aux-chain): the instruction tokens carry the named block's centre from stream 2 on (one
        # attention step after the patch classification), the tokens the head reads from stream 3 on (one more).
        instr = [l for l in range(2, len(streams))]
        parts["xy_instruction_l1"] = torch.stack([torch.mean(torch.abs(probe.xy_instruction(probe.instruction_mean(streams[l][sel], counts[sel])) - target_xy[sel]))
                                                  for l in instr]).mean()
    if chain:
        exits = [l for l in exits if l >= 3]
    if bool(sel.any()) and exits:
        parts["xy_l1"] = torch.stack([torch.mean(torch.abs(probe.xy(probe.readout(streams[l][sel], counts[sel])) - target_xy[sel])) for l in exits]).mean()
    return sum(parts.values()), parts


def exit_losses(model: Policy, batch, exits: list[int], generator: torch.Generator, keep_streams: list | None = None,
                weights: torch.Tensor | None = None, warm_share: float = 0.0, warm_sigma: float = WARM_SIGMA) -> list[torch.Tensor]:
    """The loss at each of `exits` (one shared head). With `keep_streams` (a list) the backbone's streams are
    appended to it (for the auxiliary loss); with `weights` ([B]) each sample's loss is weighted (mean weight 1).
    FM only: `warm_share` of the samples start from near the action instead of from noise (see --warm-share)."""
    images, token_ids, counts, state, target = batch
    w = torch.ones(target.shape[0]) if weights is None else weights / weights.mean()
    bias = model.attention_bias(counts)
    if model.c.head == "mlp":
        # The head at exit l reads the stream entering block l: blocks 0..l-1 suffice.
        streams, _, _ = model.backbone(images, token_ids, state, bias, max(max(exits) - 1, 1 if keep_streams is not None else 0))
        if keep_streams is not None:
            keep_streams.extend(streams)
        return [torch.mean(w[:, None, None] * torch.abs(model.mlp_at(streams, l) - target)) for l in exits]
    streams, keys, values = model.backbone(images, token_ids, state, bias, max(exits))
    if keep_streams is not None:
        keep_streams.extend(streams)
    b = target.shape[0]
    beta = torch.distributions.Beta(torch.tensor(1.5), torch.tensor(1.0))
    # Beta sampling draws from the global generator, which seed_everything seeded.
    t = beta.sample((b,)) * 0.999 + 0.001
    eps = torch.randn(target.shape, generator=generator)
    if warm_share > 0:
        # A warm-started exit integrates from t = 1 starting at the previous exit's chunk, a point near the action that
        # Gaussian noise never comes near. The same straight path and target from a source eps = a + sigma n keeps
        # the ideal field unchanged (v = eps - a) and teaches it there; sigma ~ U(0, warm_sigma).
        warm = torch.rand(b, generator=generator) < warm_share
        sigma = warm_sigma * torch.rand(b, generator=generator)
        eps = torch.where(warm[:, None, None], target + sigma[:, None, None] * eps, eps)
    x_t = t[:, None, None] * eps + (1.0 - t[:, None, None]) * target
    goal = eps - target
    return [torch.mean(w[:, None, None] * (model.velocity_at(x_t, t, state, keys, values, bias, l) - goal) ** 2) for l in exits]


def combine_exit_losses(losses: list[torch.Tensor], exits: list[int], all_exits: list[int], first_exit_weight: float = 1.0) -> torch.Tensor:
    """The mean of the exits' losses, the first exit's weighted by `first_exit_weight` (--first-exit-weight: a
    warm-started FM starts every later exit from the first exit's chunk, so a poor first exit costs them all)."""
    w = torch.tensor([first_exit_weight if l == all_exits[0] else 1.0 for l in exits])
    return (torch.stack(losses) * w).sum() / w.sum()


class WeightAverage:
    """An exponential moving average of the model's weights (--ema), the usual companion of flow-matching and
    diffusion training: the sampler integrates the velocity field over many steps, and the average smooths the
    step-to-step noise of small batches out of it. The decay warms up as (1 + n) / (10 + n) so the first updates
    do not keep the starting weights for long."""

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"--ema {decay} must be in (0, 1), e.g. 0.999 (0 turns the average off)")
        self.decay = decay
        self.updates = 0
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def current_decay(self) -> float:
        return min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        d = self.current_decay()
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].mul_(d).add_(v.detach(), alpha=1.0 - d)
            else:
                self.shadow[k].copy_(v)

    @contextmanager
    def applied(self, model: torch.nn.Module):
        """The model holds the averaged weights inside the block and its trained ones again after it."""
        trained = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        try:
            yield model
        finally:
            model.load_state_dict(trained)


def learning_rate(step: int, tc: TrainConfig, time_progress: float = 0.0) -> float:
    """Linear warm-up, then cosine to 10 %. With a time limit the cosine follows whichever of steps
    and time is further along, so a run cut short by the clock still ends annealed."""
    if step < tc.warmup:
        return tc.lr * (step + 1) / tc.warmup
    progress = max((step - tc.warmup) / max(1, tc.steps - tc.warmup), time_progress)
    return tc.lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))


@torch.no_grad()
def evaluate(model: Policy, batches: Batches, frames: np.ndarray, exits: list[int], seed: int, limit: int = 512) -> dict:
    model.eval()
    rows = frames[:limit]
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    totals = np.zeros(len(exits))
    count = 0
    for start in range(0, len(rows), 64):
        part = rows[start:start + 64]
        losses = exit_losses(model, batches.get(part), exits, gen)
        totals += np.array([float(x) for x in losses]) * len(part)
        count += len(part)
    model.train()
    return {str(l): round(float(v / max(1, count)), 6) for l, v in zip(exits, totals)}


def train(data_dir: str, preset_name: str, head: str, seed: int, out: str, steps: int | None = None,
          threads: int | None = None, exit_loss: str | None = None, max_seconds: float | None = None,
          export: bool = True, samples: int = 96, init: str | None = None, lr: float | None = None,
          warmup: int | None = None, early_share: float = 0.0, early_frames: int = 8, state_noise: float = 0.0,
          aux_target: float = 0.0, early_weight: float = 1.0, aux_xy_early: bool = False,
          export_every: int = 0, aux_chain: bool = False, aux_attention: bool = False, position_scale: float = 1.0,
          init_backbone: str | None = None, first_exit_weight: float = 1.0, ema: float = 0.0,
          warm_share: float = 0.0, warm_sigma: float = WARM_SIGMA) -> dict:
    base, tc = preset(preset_name, head)
    if steps is not None:
        tc.steps = steps
    if lr is not None:
        tc.lr = lr
    if warmup is not None:
        tc.warmup = warmup
    if threads is not None:
        tc.threads = threads
    if exit_loss is not None:
        tc.exit_loss = exit_loss
    if tc.exit_loss not in ("all", "random"):
        raise ValueError(f"exit loss '{tc.exit_loss}' is neither all nor random")
    if not first_exit_weight > 0:
        raise ValueError(f"--first-exit-weight {first_exit_weight} must be > 0 (1 weights every exit alike)")
    if not 0.0 <= warm_share <= 1.0:
        raise ValueError(f"--warm-share {warm_share} must be within 0..1")
    if warm_share > 0 and (head != "fm" or not warm_sigma > 0):
        raise ValueError(f"--warm-share needs --head fm and --warm-sigma > 0 (got head {head}, warm sigma {warm_sigma})")
    seed_everything(seed, tc.threads)
    data = Dataset(data_dir, base.chunk)
    c = model_config_for(data, base)
    train_frames, val_frames = split_frames(data)
    episodes = data.episodes()
    held = set(data.episode[val_frames].tolist()) if len(episodes) > 1 else set()
    if init is None:
        state_bounds = bounds(data.state[train_frames])
        action_bounds = bounds(data.action[train_frames])
        model = Policy(c)
    else:
        # Continue from a package: its weights, and its bounds and vocabulary (the engine's view of the model).
        from .package_weights import load_policy
        model, state_bounds, action_bounds = load_policy(init, base)
        if model.c.head != head or model.c.vocabulary != c.vocabulary or model.c.image_height != c.image_height:
            raise ValueError(f"{init}: a {model.c.head} model of vocabulary {model.c.vocabulary} does not fit --head {head} on this data "
                             f"(vocabulary {c.vocabulary})")
        c = model.c
    if init_backbone is not None:
        # The prefix encoder and LM blocks of another package (for example the MLP's, trained further), under this
        # model's head; the bounds must agree because the prefix reads the normalised state.
        from .package_weights import load_backbone
        load_backbone(model, init_backbone, base, state_bounds)
    if position_scale != 1.0:
        # The patches' position embedding scaled (--position-scale): trained for the copycat it stays ~1 % of a patch
        # token's norm, so an attention head that finds the named block's patch passes on almost nothing of where it is.
        with torch.no_grad():
            model.prefix.image_position.mul_(position_scale)
    batches = Batches(data, c, train_frames, state_bounds, action_bounds, seed)
    exits = c.exit_layers()
    probe = None
    if aux_target > 0:
        from .targets import COLOURS, named_colour, named_targets
        named_xy, centres = named_targets(data)
        probe = TargetProbe(c)
        tok = Tokenizer(c.vocabulary, c.max_tokens)
        colour_names = list(COLOURS)
        swapped_ids = {}  # (episode, colour) -> (ids, count)
        colour_ids = torch.tensor([tok.ids[name] for name in colour_names if name in tok.ids], dtype=torch.int64)
        aux_rng = np.random.default_rng(seed + 4)

        def swapped_for(rows):
            ids, counts, xy = [], [], []
            for r in rows:
                present = np.nonzero(~np.isnan(centres[r, :, 0]))[0]
                k = int(aux_rng.choice(present))
                key = (int(data.episode[r]), k)
                if key not in swapped_ids:
                    text = data.instructions[key[0]]
                    swapped_ids[key] = tok.encode(text.replace(named_colour(text), colour_names[k]))
                ids.append(swapped_ids[key][0])
                counts.append(swapped_ids[key][1])
                xy.append(centres[r, k])
            return torch.from_numpy(np.stack(ids)), torch.tensor(counts, dtype=torch.int64), torch.from_numpy(np.stack(xy))
    aux_log = []
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "position" not in n and "queries" not in n]
    other = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "position" not in n and "queries" not in n)]
    groups = [{"params": decay, "weight_decay": tc.weight_decay}, {"params": other, "weight_decay": 0.0}]
    if probe is not None:
        groups.append({"params": list(probe.parameters()), "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups, lr=tc.lr)
    average = WeightAverage(model, ema) if ema != 0.0 else None
    gen = torch.Generator().manual_seed(seed + 1)
    exit_rng = np.random.default_rng(seed + 2)
    log, started = [], time.time()
    os.makedirs(out, exist_ok=True)
    steps_done, stopped_early = 0, False
    for step in range(tc.steps):
        if max_seconds is not None and time.time() - started > max_seconds:
            stopped_early = True
            break
        time_progress = (time.time() - started) / max_seconds if max_seconds else 0.0
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, tc, time_progress)
        chosen = exits if tc.exit_loss == "all" else [int(exit_rng.choice(exits))]
        batch = batches.sample(tc.batch, early_share, early_frames)
        rows = batches.last_rows
        if state_noise > 0:
            # Noise on the state input only (the targets stay exact): the joints no longer say precisely
            # where the arm is heading, so the image and the instruction have to.
            images, token_ids, counts, state, target = batch
            batch = (images, token_ids, counts, state + state_noise * torch.randn(state.shape, generator=gen), target)
        streams = [] if probe is not None else None
        weights = None
        if early_weight != 1.0:
            weights = torch.from_numpy(np.where(data.frame[rows] < early_frames, early_weight, 1.0).astype(np.float32))
        losses = exit_losses(model, batch, chosen, gen, streams, weights, warm_share, warm_sigma)
        loss = combine_exit_losses(losses, chosen, exits, first_exit_weight)
        if probe is not None:
            xy_rows = torch.from_numpy(data.frame[rows] < early_frames) if aux_xy_early else None
            colour_pos = None
            if aux_attention:
                token_ids = batch[1]
                is_colour = torch.isin(token_ids, colour_ids)
                colour_pos = c.first_instruction_token + torch.argmax(is_colour.to(torch.int64), dim=1)
            aux, parts = aux_losses(model, probe, streams, batch, torch.from_numpy(named_xy[rows]), swapped_for(rows), xy_rows, aux_chain,
                                    colour_pos)
            loss = loss + aux_target * aux
            if step % tc.log_every == 0:
                aux_log.append({"step": step, **{k: round(float(v), 4) for k, v in parts.items()}})
                print(json.dumps(aux_log[-1]), flush=True)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        opt.step()
        if average is not None:
            average.update(model)
        steps_done = step + 1
        if export and export_every > 0 and steps_done % export_every == 0 and steps_done < tc.steps:
            # A package of the weights so far (the run goes on), for closed-loop checks while it trains.
            from .export import export_package
            with average.applied(model) if average is not None else nullcontext():
                export_package(model, os.path.join(out, f"package-step-{steps_done}"), state_bounds, action_bounds,
                               model_id=f"a1fleet-{head}-{preset_name}", model_version=f"seed-{seed}-steps-{steps_done}",
                               provenance={"trainer": "training/a1fleet_train", "seed": str(seed), "preset": preset_name,
                                           "steps": str(steps_done), "data": data.meta.get("source_dataset", data_dir),
                                           "exitLoss": tc.exit_loss, "ema": str(ema), "intermediate": "true"},
                               samples=[])
            model.train()
        if step % tc.log_every == 0 or step == tc.steps - 1:
            entry = {"step": step, "loss": round(float(torch.stack(losses).mean()), 6), "seconds": round(time.time() - started, 1)}
            log.append(entry)
            print(json.dumps(entry), flush=True)
    wall = time.time() - started
    if average is not None:
        # From here on the model is the average: it is what is evaluated, saved and exported.
        model.load_state_dict(average.shadow)
    val = evaluate(model, batches, val_frames, exits, seed + 3)
    summary = {
        "data": os.path.abspath(data_dir), "source_dataset": data.meta.get("source_dataset", ""),
        "preset": preset_name, "head": head, "seed": seed, "steps": steps_done, "planned_steps": tc.steps,
        "stopped_at_time_limit": stopped_early, "time_limit_seconds": max_seconds, "batch": tc.batch, "exit_loss": tc.exit_loss,
        "threads": tc.threads, "wall_seconds": round(wall, 1), "initialised_from": init, "backbone_from": init_backbone, "first_exit_weight": first_exit_weight, "ema": ema, "warm_share": warm_share, "warm_sigma": warm_sigma, "lr": tc.lr, "warmup": tc.warmup,
        "early_share": early_share, "early_frames": early_frames, "state_noise": state_noise,
        "aux_target": aux_target, "aux_chain": aux_chain, "aux_attention": aux_attention, "position_scale": position_scale, "aux_log": aux_log, "early_weight": early_weight, "aux_xy_early": aux_xy_early,
        "seconds_per_step": round(wall / max(1, steps_done), 4),
        "final_train_loss": log[-1]["loss"] if log else None, "validation_loss_per_exit": val,
        "train_episodes": int(len(episodes) - len(held)), "validation_episodes": int(len(held)),
        "frames": int(len(data.episode)), "parameters": int(sum(p.numel() for p in model.parameters())),
        "loss_log": log,
    }
    torch.save({"config": json.loads(c.to_json()), "state_dict": model.state_dict(),
                "state_bounds": [b.tolist() for b in state_bounds], "action_bounds": [b.tolist() for b in action_bounds]},
               os.path.join(out, "checkpoint.pt"))
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump(summary, f, indent=1)
    if export:
        from .export import export_package, samples_from
        export_package(model, os.path.join(out, "package"), state_bounds, action_bounds,
                       model_id=f"a1fleet-{head}-{preset_name}", model_version=f"seed-{seed}-steps-{steps_done}",
                       provenance={"trainer": "training/a1fleet_train", "seed": str(seed), "preset": preset_name,
                                   "steps": str(steps_done), "data": data.meta.get("source_dataset", data_dir),
                                   "exitLoss": tc.exit_loss, "ema": str(ema)},
                       samples=samples_from(data, val_frames, samples))
    return summary


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="folder in the a1fleet-training-v1 format")
    p.add_argument("--preset", default="smoke", choices=["smoke", "full"])
    p.add_argument("--head", default="mlp", choices=["mlp", "fm"])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int)
    p.add_argument("--threads", type=int)
    p.add_argument("--exit-loss", choices=["all", "random"])
    p.add_argument("--max-seconds", type=float, help="stop at this wall time and anneal the learning rate by it "
                   "(the run is then no longer reproducible step for step; training.json says so)")
    p.add_argument("--samples", type=int, default=96, help="held-out frames written to the package's samples.json")
    p.add_argument("--no-export", action="store_true")
    p.add_argument("--init", help="continue from this model package's weights, bounds and vocabulary (fine-tuning, DAgger rounds)")
    p.add_argument("--init-backbone", help="then take the prefix encoder and LM blocks from this package (same shapes, "
                   "vocabulary and state bounds; its head, and an MLP package's action queries, are left out), e.g. to start "
                   "an FM from the MLP's backbone")
    p.add_argument("--first-exit-weight", type=float, default=1.0, help="weight of the first exit's loss against the "
                   "others' 1 (a warm-started FM begins every later exit from the first exit's chunk)")
    p.add_argument("--ema", type=float, default=0.0, help="keep an exponential moving average of the weights with this "
                   "decay (e.g. 0.999) and evaluate, save and export the average (0: off)")
    p.add_argument("--warm-share", type=float, default=0.0, help="FM: share of the samples whose flow starts near the action "
                   "(eps = a + sigma n) instead of from noise, as a warm-started exit's does (training-only; 0: A1's recipe alone)")
    p.add_argument("--warm-sigma", type=float, default=WARM_SIGMA, help="with --warm-share: sigma ~ U(0, this), in normalised action units")
    p.add_argument("--lr", type=float, help="peak learning rate (default: the preset's)")
    p.add_argument("--warmup", type=int, help="warm-up steps (default: the preset's)")
    p.add_argument("--early-share", type=float, default=0.0, help="share of each batch drawn from the first --early-frames frames of the episodes")
    p.add_argument("--early-frames", type=int, default=8)
    p.add_argument("--state-noise", type=float, default=0.0, help="std of Gaussian noise on the normalised state input during training")
    p.add_argument("--aux-target", type=float, default=0.0, help="weight of the auxiliary target loss (where the named block "
                   "is; beyond A1's recipe, training-only heads, the package is unchanged in format)")
    p.add_argument("--early-weight", type=float, default=1.0, help="loss weight of the samples from the first --early-frames frames "
                   "(their target-dependent motion is small next to the rest of the chunk)")
    p.add_argument("--aux-xy-early", action="store_true", help="regress the named block's centre on the first --early-frames frames only")
    p.add_argument("--aux-chain", action="store_true", help="with --aux-target: regress the named block's centre from the "
                   "instruction tokens at streams 2.. and from the head's tokens at exits 3.. (one attention step at a time)")
    p.add_argument("--aux-attention", action="store_true", help="with --aux-target: teach head 0 of LM block 1 to look from the "
                   "colour word to the named block's patch and head 0 of block 2 from the action queries to the colour word")
    p.add_argument("--position-scale", type=float, default=1.0, help="multiply the image patches' position embedding by this "
                   "before training (e.g. when continuing from a package whose position embedding is tiny next to the patch content)")
    p.add_argument("--export-every", type=int, default=0, help="also export a package of the weights so far every N steps "
                   "(OUT/package-step-N, without samples), to check a long run in closed loop while it goes on")
    a = p.parse_args(argv)
    summary = train(a.data, a.preset, a.head, a.seed, a.out, a.steps, a.threads, a.exit_loss, a.max_seconds,
                    export=not a.no_export, samples=a.samples, init=a.init, lr=a.lr, warmup=a.warmup,
                    early_share=a.early_share, early_frames=a.early_frames, state_noise=a.state_noise,
                    aux_target=a.aux_target, early_weight=a.early_weight,
                    aux_xy_early=a.aux_xy_early, export_every=a.export_every, aux_chain=a.aux_chain, aux_attention=a.aux_attention, position_scale=a.position_scale,
                    init_backbone=a.init_backbone, first_exit_weight=a.first_exit_weight, ema=a.ema,
                    warm_share=a.warm_share, warm_sigma=a.warm_sigma)
    print(json.dumps({k: v for k, v in summary.items() if k != "loss_log"}, indent=1))


if __name__ == "__main__":
    main()
