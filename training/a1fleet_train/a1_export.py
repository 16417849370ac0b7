"""Exports a model with A1's structure (AffordVLAEarlyExit: vision_backbone, transformer.blocks,
proprio_projector, action_head = L1RegressionActionHead or the Qwen2 flow-matching expert with
action_out) as an A1Fleet model package: the recipe of docs/model-format.md, "Exporting an A1
checkpoint". Each wrapper below gives one part the engine's signature; nothing in A1's modules
changes. Tested on a1_standin.AffordVLAEarlyExitStandIn (A1's code cannot be installed here):

    /usr/bin/python3 -m a1fleet_train.a1_export --head mlp|fm --out DIR --reference REF.json

writes the stand-in's package to DIR and, in REF.json, the stand-in's own A1-style forward at every
exit for the package's samples (what tests/A1Fleet.Engine.Tests/Training/A1StandInExportTests.cs
holds the engine to).
"""
from __future__ import annotations

import argparse
import base64
import json
import os

import numpy as np
import torch
from torch import nn

from .a1_standin import NEG, AffordVLAEarlyExitStandIn, default_config
from .data import Tokenizer, denormalize, normalize
from .export import PackageSpec, export_parts
from .reference import gaussian_noise


class Layout:
    """Where A1's tokens sit in the package's fixed prefix. The format's order is: "camera" slots,
    state, instruction (maxTokens), action queries. A1's order is BOS, image patches, instruction,
    proprio, then (MLP models) act-start, action tokens, act-end. The camera entry's `tokens`
    therefore counts every slot that is neither state, instruction nor query: [BOS, patches...] and
    for MLP models act-start and act-end."""

    def __init__(self, patches: int, max_tokens: int, queries: int):
        self.patches, self.max_tokens, self.queries = patches, max_tokens, queries
        self.bos, self.act_start, self.act_end = 0, patches + 1, patches + 2
        self.camera_tokens = patches + (3 if queries else 1)
        self.state = self.camera_tokens
        self.instruction = list(range(self.state + 1, self.state + 1 + max_tokens))
        self.query = list(range(self.instruction[-1] + 1, self.instruction[-1] + 1 + queries))
        self.n = self.instruction[-1] + 1 + queries
        # A1's sequence order, as slot indices: positions are counted along it.
        self.order = [self.bos] + list(range(1, patches + 1)) + self.instruction + [self.state]
        if queries:
            self.order += [self.act_start] + self.query + [self.act_end]
        inverse = [0] * self.n
        for rank, slot in enumerate(self.order):
            inverse[slot] = rank
        self.order_t = torch.tensor(self.order)
        self.inverse_t = torch.tensor(inverse)

    def positions(self, attn_bias):
        """A1's position_ids = cumsum(valid) - 1 along A1's order (padding does not advance), per slot."""
        valid = (attn_bias == 0).to(torch.int64)
        ordered = torch.cumsum(valid[:, self.order_t], dim=1) - 1
        return torch.clamp(ordered, min=0)[:, self.inverse_t]


class A1Prefix(nn.Module):
    def __init__(self, model, layout: Layout, ids: dict):
        super().__init__()
        self.model, self.layout = model, layout
        slot_ids = torch.zeros(layout.n, dtype=torch.int64)
        slot_ids[layout.bos] = ids["<bos>"]
        slot_ids[1:1 + layout.patches] = ids["<im_patch>"]
        if layout.queries:
            slot_ids[layout.act_start] = ids["<act_start>"]
            slot_ids[layout.act_end] = ids["<act_end>"]
            slot_ids[layout.query[0]:layout.query[-1] + 1] = ids["<act>"]
        self.register_buffer("slot_ids", slot_ids, persistent=False)
        self.instruction_start = layout.instruction[0]

    def forward(self, images, token_ids, state):
        m, lay = self.model, self.layout
        b = images.shape[0]
        ids = self.slot_ids[None, :].expand(b, -1)
        ids = torch.cat([ids[:, :self.instruction_start], token_ids, ids[:, self.instruction_start + lay.max_tokens:]], dim=1)
        x = m.transformer.wte(ids)
        feats = m.vision_backbone(m.patches(images)).reshape(b, -1, x.shape[-1])  # [B, C*P, D]
        proprio = m.proprio_projector(state)[:, None, :]
        return torch.cat([x[:, :1], x[:, 1:1 + lay.patches] + feats, x[:, 1 + lay.patches:lay.state], proprio, x[:, lay.state + 1:]], dim=1)


class A1LmLayer(nn.Module):
    def __init__(self, model, block, layout: Layout, causal: bool):
        super().__init__()
        self.block, self.layout, self.causal = block, layout, causal

    def forward(self, hidden, attn_bias):
        positions = self.layout.positions(attn_bias)
        bias = attn_bias[:, None, None, :]
        if self.causal:
            later = positions[:, None, :] > positions[:, :, None]
            bias = bias + later.to(hidden.dtype)[:, None] * NEG
        out, (k, v) = self.block(hidden, attention_bias=bias, position_ids=positions, use_cache=True)
        return out, k, v


class A1MlpHead(nn.Module):
    def __init__(self, model, layout: Layout):
        super().__init__()
        self.head, self.start = model.action_head, layout.query[0]

    def forward(self, hidden):
        return self.head.predict_action(hidden[:, self.start:, :])


class A1ExpertSuffix(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.head = model.action_head

    def forward(self, noisy_actions, time, state):
        return self.head.build_suffix_tokens(state, noisy_actions, time)


class A1ExpertLayer(nn.Module):
    def __init__(self, model, j: int):
        super().__init__()
        self.layer = model.action_head.qwen2.model.layers[j]

    def forward(self, suffix_hidden, prefix_key, prefix_value, attn_bias):
        # A1's pos_offset: the count of valid prefix tokens; the suffix continues from there.
        offset = (attn_bias == 0).to(torch.int64).sum(dim=1)
        positions = offset[:, None] + torch.arange(suffix_hidden.shape[1])[None, :]
        return self.layer(suffix_hidden, (prefix_key, prefix_value), positions, attn_bias)


class A1ExpertOut(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.head = model.action_head

    def forward(self, suffix_hidden):
        # Qwen2's final norm belongs to the expert's output, as in A1 (last_hidden_state is normed).
        return self.head.action_out(self.head.qwen2.model.norm(suffix_hidden)[:, -self.head.horizon:, :])


def export_a1(model, out: str, *, state_bounds, action_bounds, padding_dims, cameras, model_id, model_version,
              samples=None, max_tokens: int) -> dict:
    """Applies the recipe to an A1-structured model; returns the manifest."""
    c = model.config
    patches = (c.image_size // c.patch) ** 2
    queries = c.chunk * c.action_dim if c.head == "mlp" else 0
    layout = Layout(patches * len(cameras), max_tokens, queries)
    ids = {w: i for i, w in enumerate(c.vocabulary)}
    action_dim = c.action_dim if c.head == "mlp" else c.fixed_action_dim
    spec = PackageSpec(
        head_kind=c.head, layers=c.n_layers, hidden=c.d_model, kv_heads=c.n_kv_heads, head_dim=c.head_dim,
        cameras=[(name, c.image_size, c.image_size, layout.camera_tokens) for name in cameras], max_tokens=max_tokens,
        vocabulary=list(c.vocabulary), chunk=c.chunk, action_dim=action_dim, padding_dims=list(padding_dims),
        action_q01=list(action_bounds[0]), action_q99=list(action_bounds[1]), state_dim=c.proprio_dim,
        state_q01=list(state_bounds[0]), state_q99=list(state_bounds[1]),
        exit_layers=list(range(1, c.n_layers - 1, 2)) + [c.n_layers - 1], expert_hidden=getattr(c, "expert_hidden", 0),
        denoising_steps=10 if c.head == "fm" else 1, warm_start=c.head == "fm")
    kwargs = {}
    if c.head == "mlp":
        kwargs["mlp_head"] = A1MlpHead(model, layout)
    else:
        kwargs.update(expert_suffix=A1ExpertSuffix(model), expert_layers=[A1ExpertLayer(model, j) for j in range(c.n_layers)],
                      expert_out=A1ExpertOut(model))
    return export_parts(out, spec, A1Prefix(model, layout, ids),
                        [A1LmLayer(model, b, layout, causal=c.head == "fm") for b in model.transformer.blocks],
                        model_id=model_id, model_version=model_version, samples=samples,
                        provenance={"exporter": "training/a1fleet_train/a1_export.py", "source": "a1_standin (A1's structure, random weights)"},
                        **kwargs)


@torch.no_grad()
def native_actions(model, sample, tokenizer, state_bounds, action_bounds, valid_dims, layer, seed, steps):
    """The stand-in's own A1-style computation at exit `layer` (batch 1, no padding)."""
    c = model.config
    ids, count = tokenizer.encode(sample["instruction"])
    input_ids, image_idx, proprio_idx, start, end = model.build_inputs(ids[:count].tolist())
    img = np.frombuffer(base64.b64decode(sample["images"][0]), dtype=np.uint8).reshape(c.image_size, c.image_size, 3)
    images = torch.from_numpy(img.astype(np.float32) / np.float32(255.0)).permute(2, 0, 1)[None, None]
    state = torch.from_numpy(normalize(np.array(sample["state"], np.float32)[None], *state_bounds))
    hidden, kv, mask = model(input_ids, model.patches(images), image_idx, state, proprio_idx)
    if c.head == "mlp":
        action = model.action_head.predict_action(hidden[layer][:, start + 1:end])[0].numpy()
    else:
        x = torch.from_numpy(gaussian_noise(c.chunk * c.fixed_action_dim, seed, layer).reshape(1, c.chunk, c.fixed_action_dim))
        offset = mask.to(torch.int64).sum(dim=1)
        for step in range(steps):
            t = torch.tensor([np.float32(1.0) - np.float32(step) / np.float32(steps)])
            v = model.action_head.predict_vector_field(kv[:layer + 1], state, x, t, offset, torch.zeros(1, input_ids.shape[1]))
            x = x + np.float32(-1.0 / steps) * v
        action = x[0].numpy()
    return denormalize(action, *action_bounds)[:, valid_dims].reshape(-1).tolist()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--head", choices=["mlp", "fm"], required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--reference", required=True)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    c = default_config(a.head)
    model = AffordVLAEarlyExitStandIn(c, seed=7).eval()
    dim = c.action_dim if a.head == "mlp" else c.fixed_action_dim
    padding = [] if a.head == "mlp" else list(range(c.valid_action_dim, c.fixed_action_dim))
    valid = [d for d in range(dim) if d not in padding]
    state_bounds = (np.full(c.proprio_dim, -2.0, np.float32), np.full(c.proprio_dim, 2.0, np.float32))
    action_bounds = (np.linspace(-1.0, -0.5, dim).astype(np.float32), np.linspace(0.5, 1.5, dim).astype(np.float32))
    rng = np.random.default_rng(3)
    words = ["pick up the red cup", "put the blue cup on the plate", "pick the cup", "put it on the red plate"]
    samples = [{"instruction": w,
                "state": rng.uniform(-1.5, 1.5, c.proprio_dim).astype(np.float32).tolist(),
                "images": [base64.b64encode(rng.integers(0, 256, (c.image_size, c.image_size, 3), dtype=np.uint8).tobytes()).decode()],
                "episode": i} for i, w in enumerate(words)]
    manifest = export_a1(model, a.out, state_bounds=state_bounds, action_bounds=action_bounds, padding_dims=padding,
                         cameras=["front"], model_id=f"a1-standin-{a.head}", model_version="seed-7", samples=samples,
                         max_tokens=c.max_words)
    tokenizer = Tokenizer(c.vocabulary, c.max_words)
    steps = 10 if a.head == "fm" else 1
    exits = []
    for i, s in enumerate(samples):
        for layer in manifest["exits"]["layers"]:
            exits.append({"sample": i, "layer": layer, "seed": 50 + i, "steps": steps,
                          "actions": native_actions(model, s, tokenizer, state_bounds, action_bounds, valid, layer, 50 + i, steps)})
    with open(a.reference, "w") as f:
        json.dump({"exits": exits}, f)


if __name__ == "__main__":
    main()
