"""Writes an A1Fleet model package (docs/model-format.md) from PyTorch modules: one ONNX graph per
part through torch.onnx.export, with exactly the engine's input/output names and shapes, plus
model.json (normalisation bounds, vocabulary, exits) and optional samples.json.

`export_parts` takes any modules with the part signatures (that is how an A1 checkpoint is exported:
see docs/model-format.md and a1_standin.py); `export_package` applies it to this project's Policy.
"""
from __future__ import annotations

import base64
import dataclasses
import json
import os

import numpy as np
import onnx
import torch
from torch import nn

OPSET = 17
MASKED_BIAS = -1e9


@dataclasses.dataclass
class PackageSpec:
    """The manifest's numbers. Bounds are per model dim (padding dims included)."""
    head_kind: str
    layers: int
    hidden: int
    kv_heads: int
    head_dim: int
    cameras: list            # [(name, height, width, tokens)]
    max_tokens: int
    vocabulary: list
    chunk: int
    action_dim: int
    action_q01: list
    action_q99: list
    state_dim: int
    state_q01: list
    state_q99: list
    exit_layers: list
    exit_interval: int = 2
    padding_dims: list = dataclasses.field(default_factory=list)
    expert_hidden: int = 0
    pad_id: int = 0
    unknown_id: int = 1
    metric: str = "cosine"
    denoising_steps: int = 2
    warm_start: bool = True

    @property
    def query_tokens(self) -> int:
        return self.chunk * self.action_dim if self.head_kind == "mlp" else 0

    @property
    def sequence_length(self) -> int:
        return sum(c[3] for c in self.cameras) + 1 + self.max_tokens + self.query_tokens


def _fix_shapes(path: str, shapes: dict) -> None:
    """Declares every graph input/output as [batch, fixed dims...]: the engine checks them, and
    shape inference through dynamic reshapes can leave non-batch dims symbolic."""
    model = onnx.load(path)
    for value in list(model.graph.input) + list(model.graph.output):
        if value.name not in shapes:
            continue
        dims = value.type.tensor_type.shape.dim
        want = shapes[value.name]
        del dims[:]
        for i, d in enumerate(want):
            dim = dims.add()
            if i == 0:
                dim.dim_param = "batch"
            else:
                dim.dim_value = int(d)
    onnx.checker.check_model(model)
    onnx.save(model, path)


def _export(module: nn.Module, args: tuple, inputs: list, outputs: list, shapes: dict, path: str) -> None:
    module.eval()
    with torch.no_grad():
        torch.onnx.export(module, args, path, input_names=inputs, output_names=outputs, opset_version=OPSET,
                          dynamic_axes={n: {0: "batch"} for n in inputs + outputs}, do_constant_folding=True)
    _fix_shapes(path, shapes)


def export_parts(out: str, spec: PackageSpec, prefix: nn.Module, lm_layers: list, *, mlp_head: nn.Module | None = None,
                 expert_suffix: nn.Module | None = None, expert_layers: list | None = None, expert_out: nn.Module | None = None,
                 model_id: str, model_version: str, provenance: dict | None = None, samples: list | None = None) -> dict:
    """Exports each part with batch-2 example inputs and writes model.json. Part signatures:
    prefix(images [B,C,3,H,W], token_ids int64 [B,T], state [B,S]) -> hidden [B,N,D];
    lm_layers[j](hidden, attn_bias [B,N]) -> (hidden_out, key, value [B,Hkv,N,hd]);
    mlp_head(hidden) -> actions [B,H,A];
    expert_suffix(noisy_actions [B,H,A], time [B], state) -> suffix_hidden [B,1+H,De];
    expert_layers[j](suffix_hidden, prefix_key, prefix_value, attn_bias) -> suffix_hidden_out;
    expert_out(suffix_hidden) -> velocity [B,H,A]."""
    if len(lm_layers) != spec.layers:
        raise ValueError(f"{len(lm_layers)} LM layer modules for {spec.layers} layers")
    os.makedirs(out, exist_ok=True)
    b, n, d = 2, spec.sequence_length, spec.hidden
    h, w = spec.cameras[0][1], spec.cameras[0][2]
    if any((c[1], c[2]) != (h, w) for c in spec.cameras):
        raise ValueError("format version 1 needs one image size for all cameras")
    g = torch.Generator().manual_seed(0)
    images = torch.rand(b, len(spec.cameras), 3, h, w, generator=g)
    token_ids = torch.zeros(b, spec.max_tokens, dtype=torch.int64)
    token_ids[:, :2] = 1
    state = torch.rand(b, spec.state_dim, generator=g) * 2 - 1
    hidden = torch.randn(b, n, d, generator=g)
    bias = torch.zeros(b, n)
    kv = (b, spec.kv_heads, n, spec.head_dim)
    files = {"prefix": "prefix.onnx", "languageModelLayers": [f"lm_layer_{j:02d}.onnx" for j in range(spec.layers)]}
    _export(prefix, (images, token_ids, state), ["images", "token_ids", "state"], ["hidden"],
            {"images": images.shape, "token_ids": token_ids.shape, "state": state.shape, "hidden": (b, n, d)},
            os.path.join(out, files["prefix"]))
    for j, layer in enumerate(lm_layers):
        _export(layer, (hidden, bias), ["hidden", "attn_bias"], ["hidden_out", "key", "value"],
                {"hidden": (b, n, d), "attn_bias": (b, n), "hidden_out": (b, n, d), "key": kv, "value": kv},
                os.path.join(out, files["languageModelLayers"][j]))
    actions = (b, spec.chunk, spec.action_dim)
    if spec.head_kind == "mlp":
        if mlp_head is None:
            raise ValueError("an mlp package needs mlp_head")
        files["mlpHead"] = "mlp_head.onnx"
        _export(mlp_head, (hidden,), ["hidden"], ["actions"], {"hidden": (b, n, d), "actions": actions},
                os.path.join(out, files["mlpHead"]))
    else:
        if expert_suffix is None or expert_out is None or expert_layers is None or len(expert_layers) != spec.layers:
            raise ValueError("an fm package needs expert_suffix, expert_out and one expert layer per LM layer")
        s = (b, spec.chunk + 1, spec.expert_hidden)
        noisy = torch.randn(*actions, generator=g)
        time = torch.rand(b, generator=g)
        suffix = torch.randn(*s, generator=g)
        key, value = torch.randn(*kv, generator=g), torch.randn(*kv, generator=g)
        files["expertSuffix"] = "expert_suffix.onnx"
        files["expertLayers"] = [f"expert_layer_{j:02d}.onnx" for j in range(spec.layers)]
        files["expertOutput"] = "expert_out.onnx"
        _export(expert_suffix, (noisy, time, state), ["noisy_actions", "time", "state"], ["suffix_hidden"],
                {"noisy_actions": actions, "time": (b,), "state": state.shape, "suffix_hidden": s},
                os.path.join(out, files["expertSuffix"]))
        for j, layer in enumerate(expert_layers):
            _export(layer, (suffix, key, value, bias), ["suffix_hidden", "prefix_key", "prefix_value", "attn_bias"],
                    ["suffix_hidden_out"], {"suffix_hidden": s, "prefix_key": kv, "prefix_value": kv, "attn_bias": (b, n), "suffix_hidden_out": s},
                    os.path.join(out, files["expertLayers"][j]))
        _export(expert_out, (suffix,), ["suffix_hidden"], ["velocity"], {"suffix_hidden": s, "velocity": actions},
                os.path.join(out, files["expertOutput"]))
    manifest = {
        "format": "a1fleet-model", "formatVersion": 1, "modelId": model_id, "modelVersion": model_version,
        "headKind": spec.head_kind,
        "languageModel": {"layers": spec.layers, "hidden": spec.hidden, "kvHeads": spec.kv_heads, "headDim": spec.head_dim,
                          "sequenceLength": spec.sequence_length},
        "exits": {"interval": spec.exit_interval, "layers": list(spec.exit_layers)},
        "action": {"chunk": spec.chunk, "dim": spec.action_dim, "paddingDims": list(spec.padding_dims),
                   "q01": [float(x) for x in spec.action_q01], "q99": [float(x) for x in spec.action_q99]},
        "state": {"dim": spec.state_dim, "q01": [float(x) for x in spec.state_q01], "q99": [float(x) for x in spec.state_q99]},
        "cameras": [{"name": c[0], "height": c[1], "width": c[2], "tokens": c[3]} for c in spec.cameras],
        "tokenizer": {"kind": "word-vocab", "maxTokens": spec.max_tokens, "padId": spec.pad_id, "unknownId": spec.unknown_id,
                      "vocabulary": list(spec.vocabulary)},
        "defaults": {"metric": spec.metric, "denoisingSteps": spec.denoising_steps, "warmStart": spec.warm_start},
        "files": files,
        "thresholdSets": [],
        "provenance": {k: str(v) for k, v in (provenance or {}).items()},
    }
    if spec.head_kind == "mlp":
        manifest["mlpHead"] = {"queryTokens": spec.query_tokens, "reads": "block-input"}
    else:
        manifest["flowMatching"] = {"expertLayers": spec.layers, "expertHidden": spec.expert_hidden, "suffixTokens": spec.chunk + 1}
    if samples:
        manifest["sampleData"] = "samples.json"
        with open(os.path.join(out, "samples.json"), "w") as f:
            json.dump(samples, f)
    with open(os.path.join(out, "model.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    return manifest


class _PrefixGraph(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.prefix = model.prefix

    def forward(self, images, token_ids, state):
        return self.prefix(images, token_ids, state)


class _LmLayerGraph(nn.Module):
    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, hidden, attn_bias):
        return self.block(hidden, attn_bias)


def spec_of(model, state_bounds, action_bounds) -> PackageSpec:
    c = model.c
    return PackageSpec(
        head_kind=c.head, layers=c.layers, hidden=c.hidden, kv_heads=c.heads, head_dim=c.head_dim,
        cameras=[(name, c.image_height, c.image_width, c.patches_per_camera) for name in c.cameras],
        max_tokens=c.max_tokens, vocabulary=list(c.vocabulary), chunk=c.chunk, action_dim=c.action_dim,
        action_q01=list(action_bounds[0]), action_q99=list(action_bounds[1]), state_dim=c.state_dim,
        state_q01=list(state_bounds[0]), state_q99=list(state_bounds[1]), exit_layers=c.exit_layers(),
        exit_interval=c.exit_interval, expert_hidden=c.expert_hidden if c.head == "fm" else 0,
        denoising_steps=2 if c.head == "fm" else 1, warm_start=c.head == "fm")


def export_package(model, out: str, state_bounds, action_bounds, *, model_id: str, model_version: str,
                   provenance: dict | None = None, samples: list | None = None) -> dict:
    """Exports this project's Policy (a1fleet_train.model) as a package."""
    model.eval()
    spec = spec_of(model, state_bounds, action_bounds)
    provenance = dict(provenance or {})
    provenance.setdefault("exporter", "training/a1fleet_train/export.py")
    provenance["modelConfig"] = model.c.to_json()
    kwargs = {}
    if model.c.head == "mlp":
        kwargs["mlp_head"] = model.mlp_head
    else:
        kwargs.update(expert_suffix=model.expert_suffix, expert_layers=list(model.expert_layers), expert_out=model.expert_out)
    return export_parts(out, spec, _PrefixGraph(model), [_LmLayerGraph(b) for b in model.blocks], model_id=model_id,
                        model_version=model_version, provenance=provenance, samples=samples, **kwargs)


def samples_from(data, frames: np.ndarray, count: int) -> list:
    """ObservationSample records (camelCase, images base64 RGB8 HWC) of `count` evenly spaced frames."""
    if count <= 0 or len(frames) == 0:
        return []
    picks = frames[np.linspace(0, len(frames) - 1, num=min(count, len(frames))).astype(np.int64)]
    out = []
    for i in picks:
        chunk = data.action[data.chunk_index[i]]
        out.append({
            "instruction": data.instructions[int(data.episode[i])],
            "state": [float(x) for x in data.state[i]],
            "images": [base64.b64encode(np.ascontiguousarray(data.images[i, c]).tobytes()).decode("ascii")
                       for c in range(data.images.shape[1])],
            "actions": [float(x) for x in chunk.reshape(-1)],
            "episode": int(data.episode[i]),
        })
    return out


def main(argv=None) -> None:
    """Re-exports a checkpoint written by train.py, e.g. with samples from the training episodes
    (what threshold calibration on the training demonstrations reads):

        /usr/bin/python3 -m a1fleet_train.export --checkpoint RUN/checkpoint.pt --data DATA --out PKG \
            --model-id franka-tabletop-mlp --samples 160 --samples-from train
    """
    import argparse

    from .data import Dataset, split_frames
    from .reference import TorchPolicy

    p = argparse.ArgumentParser(description=main.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True, help="the dataset the checkpoint was trained on (for samples)")
    p.add_argument("--out", required=True)
    p.add_argument("--model-id", required=True)
    p.add_argument("--model-version")
    p.add_argument("--samples", type=int, default=160)
    p.add_argument("--samples-from", choices=["train", "validation"], default="train")
    p.add_argument("--provenance", action="append", default=[], help="KEY=VALUE, repeatable")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    policy = TorchPolicy(a.checkpoint)
    data = Dataset(a.data, policy.config.chunk)
    train_frames, val_frames = split_frames(data)
    frames = train_frames if a.samples_from == "train" else val_frames
    provenance = dict(kv.split("=", 1) for kv in a.provenance)
    provenance["samples"] = f"{a.samples} frames of the {a.samples_from} episodes of {data.meta.get('source_dataset', a.data)}"
    export_package(policy.model, a.out, policy.state_bounds, policy.action_bounds, model_id=a.model_id,
                   model_version=a.model_version or os.path.basename(os.path.dirname(os.path.abspath(a.checkpoint))),
                   provenance=provenance, samples=samples_from(data, frames, a.samples))


if __name__ == "__main__":
    main()
