"""Reads a Policy back from a model package this trainer exported (its ONNX graphs and manifest),
so that training can continue from a shipped package (DAgger rounds, docs/training.md) without the
original checkpoint.

torch.onnx.export keeps parameter names where an initializer is used as is (biases, norms,
embeddings, Gemm weights); a Linear applied to a 3-D input becomes a MatMul with the transposed
weight under an anonymous name (onnx::MatMul_N, numbered in graph order), and a broadcast
parameter can be folded into a constant. The anonymous ones are matched to the module's remaining
parameters in registration order, submodules' before the module's own (the graph order for these
modules), shape-checked.
"""
from __future__ import annotations

import json
import os
import re

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from .config import ModelConfig
from .model import Policy


def _number(name: str) -> int:
    m = re.search(r"_(\d+)$", name)
    return int(m.group(1)) if m else -1


def load_part(module: nn.Module, path: str, name_prefix: str = "") -> None:
    """Copies the initializers of the graph at `path` into `module`'s parameters."""
    graph = onnx.load(path).graph
    arrays = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    # The exporter stores equal initializers once and names the others through Identity nodes.
    aliases = {n.output[0]: arrays[n.input[0]] for n in graph.node if n.op_type == "Identity" and n.input[0] in arrays}
    arrays.update(aliases)
    params = dict(module.named_parameters())
    loaded, used = set(), set()
    for name, array in arrays.items():
        key = name[len(name_prefix):] if name.startswith(name_prefix) else None
        if key in params:
            if tuple(array.shape) != tuple(params[key].shape):
                raise ValueError(f"{path}: {name} is {list(array.shape)}, the model's {key} is {list(params[key].shape)}")
            params[key].data.copy_(torch.from_numpy(array.copy()))
            loaded.add(key)
            used.add(name)
    anonymous = sorted((n for n in arrays if n not in used and n not in aliases and all(a is not arrays[n] for a in aliases.values())), key=_number)
    # named_parameters lists a module's own parameters before its submodules'; in these forwards the
    # own ones (action queries) are used after the submodules, so they go last.
    missing = [k for k in params if k not in loaded and "." in k] + [k for k in params if k not in loaded and "." not in k]
    if len(anonymous) != len(missing):
        raise ValueError(f"{path}: {len(anonymous)} unnamed initializers for {len(missing)} parameters ({', '.join(missing)})")
    for key, name in zip(missing, anonymous):
        p, array = params[key], arrays[name]
        if p.dim() == 2 and key.endswith("weight") and tuple(array.shape) == (p.shape[1], p.shape[0]):
            p.data.copy_(torch.from_numpy(array.T.copy()))
        elif array.size == p.numel():
            p.data.copy_(torch.from_numpy(array.reshape(tuple(p.shape)).copy()))
        else:
            raise ValueError(f"{path}: {name} {list(array.shape)} does not fit {key} {list(p.shape)}")


def load_policy(package: str, base: ModelConfig) -> tuple[Policy, tuple, tuple]:
    """(policy, state bounds, action bounds) from a package. `base` gives what the manifest does not
    store (FFN sizes, head widths, patch); the manifest's shapes, vocabulary and bounds win."""
    with open(os.path.join(package, "model.json")) as f:
        m = json.load(f)
    c = ModelConfig(**{**base.__dict__})
    c.head = m["headKind"]
    lm = m["languageModel"]
    c.layers, c.hidden, c.heads = lm["layers"], lm["hidden"], lm["kvHeads"]
    c.chunk, c.action_dim, c.state_dim = m["action"]["chunk"], m["action"]["dim"], m["state"]["dim"]
    cams = m["cameras"]
    c.cameras = tuple(cam["name"] for cam in cams)
    c.image_height, c.image_width = cams[0]["height"], cams[0]["width"]
    c.patch = int(round((c.image_height * c.image_width / cams[0]["tokens"]) ** 0.5))
    c.max_tokens = m["tokenizer"]["maxTokens"]
    c.vocabulary = tuple(m["tokenizer"]["vocabulary"])
    c.exit_interval = m["exits"]["interval"]
    if c.exit_layers() != list(m["exits"]["layers"]):
        raise ValueError(f"{package}: exits {m['exits']['layers']} are not the trainer's {c.exit_layers()}")
    if m.get("flowMatching"):
        c.expert_hidden = m["flowMatching"].get("expertHidden", c.expert_hidden)
    model = Policy(c)
    files = m["files"]
    load_part(model.prefix, os.path.join(package, files["prefix"]), "prefix.")
    for block, name in zip(model.blocks, files["languageModelLayers"]):
        load_part(block, os.path.join(package, name), "block.")
    if c.head == "mlp":
        load_part(model.mlp_head, os.path.join(package, files["mlpHead"]))
    else:
        load_part(model.expert_suffix, os.path.join(package, files["expertSuffix"]))
        for layer, name in zip(model.expert_layers, files["expertLayers"]):
            load_part(layer, os.path.join(package, name))
        load_part(model.expert_out, os.path.join(package, files["expertOutput"]))
    f32 = lambda xs: np.array(xs, dtype=np.float32)
    state_bounds = (f32(m["state"]["q01"]), f32(m["state"]["q99"]))
    action_bounds = (f32(m["action"]["q01"]), f32(m["action"]["q99"]))
    return model, state_bounds, action_bounds


def load_backbone(model: Policy, package: str, base: ModelConfig, state_bounds: tuple) -> None:
    """Copies the prefix encoder and LM blocks of the package at `package` into `model`, whatever its head.
    An MLP package's action queries have no place in an FM model and are left out; every other
    parameter must match in name and shape, and the state bounds must be the model's."""
    donor, donor_state_bounds, _ = load_policy(package, base)
    c, d = model.c, donor.c
    mismatch = [f"{name} {getattr(d, name)} (model: {getattr(c, name)})"
                for name in ("layers", "hidden", "heads", "vocabulary", "max_tokens", "cameras", "image_height", "image_width", "patch", "state_dim")
                if getattr(d, name) != getattr(c, name)]
    if mismatch:
        raise ValueError(f"{package}: its backbone does not fit this model: {'; '.join(mismatch)}")
    for which, (mine, theirs) in zip(("q01", "q99"), zip(state_bounds, donor_state_bounds)):
        if not np.allclose(np.asarray(mine), np.asarray(theirs)):
            raise ValueError(f"{package}: state {which} {np.asarray(theirs).tolist()} differs from the model's {np.asarray(mine).tolist()}")
    prefix = {k: v for k, v in donor.prefix.state_dict().items() if not k.startswith("action_queries")}
    own = {k for k in model.prefix.state_dict() if not k.startswith("action_queries")}
    if set(prefix) != own:
        raise ValueError(f"{package}: prefix parameters {sorted(set(prefix) ^ own)} are not in both models")
    model.prefix.load_state_dict({**model.prefix.state_dict(), **prefix})
    model.blocks.load_state_dict(donor.blocks.state_dict())
