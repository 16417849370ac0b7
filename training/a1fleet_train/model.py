"""The reference architecture (docs/reference-models.md, "Architecture") in PyTorch, one module per
package graph, so that the exporter can hand each module to torch.onnx.export unchanged.

Engine conventions (A1's, docs/model-format.md): exiting at LM layer l, the MLP head reads the
residual stream entering block l, and the FM expert runs its layers 0..l against the K/V of LM
blocks 0..l. Block l's K/V come from its input, so neither head needs block l's output.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig

MASKED_BIAS = -1e9
LN_EPS = 1e-5


def time_frequencies(dims: int) -> torch.Tensor:
    """2*pi/period for dims/2 periods spaced geometrically from 4e-3 to 4.0 (SuffixConstants)."""
    half = dims // 2
    out = []
    for i in range(half):
        fraction = 0.0 if half == 1 else i / (half - 1)
        period = 4e-3 * math.pow(4.0 / 4e-3, fraction)
        out.append(2.0 * math.pi / period)
    return torch.tensor(out, dtype=torch.float32)


def split_heads(x: torch.Tensor, heads: int, head_dim: int) -> torch.Tensor:
    # [B, T, heads*hd] -> [B, heads, T, hd]; the batch dim stays symbolic in the exported graph.
    return x.reshape(x.shape[0], x.shape[1], heads, head_dim).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


class SwiGlu(nn.Module):
    def __init__(self, dim: int, inner: int):
        super().__init__()
        self.gate = nn.Linear(dim, inner)
        self.up = nn.Linear(dim, inner)
        self.down = nn.Linear(inner, dim)

    def forward(self, x):
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Block(nn.Module):
    """Pre-LN bidirectional block (vision and LM). Returns the output and this block's K/V
    ([B, heads, T, hd], computed from the block's input)."""

    def __init__(self, dim: int, heads: int, ffn: int):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.o = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = SwiGlu(dim, ffn)

    def key_value(self, x):
        a = self.norm1(x)
        return split_heads(self.k(a), self.heads, self.head_dim), split_heads(self.v(a), self.heads, self.head_dim)

    def forward(self, x, attn_bias=None):
        a = self.norm1(x)
        q = split_heads(self.q(a), self.heads, self.head_dim)
        k = split_heads(self.k(a), self.heads, self.head_dim)
        v = split_heads(self.v(a), self.heads, self.head_dim)
        scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.head_dim))
        if attn_bias is not None:
            scores = scores + attn_bias[:, None, None, :]
        context = torch.matmul(torch.softmax(scores, dim=-1), v)
        h = x + self.o(merge_heads(context))
        return h + self.mlp(self.norm2(h)), k, v


class Prefix(nn.Module):
    """images [B,C,3,H,W] in [0,1], token_ids [B,T], state [B,S] normalised -> hidden [B,N,D]."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.c = c
        d = c.hidden
        self.patch_embedding = nn.Linear(3 * c.patch * c.patch, d)
        self.image_position = nn.Parameter(torch.randn(c.image_tokens, d) * 0.02)
        self.vision = nn.ModuleList([Block(d, c.heads, c.ffn) for _ in range(c.vision_layers)])
        self.state_embedding = nn.Linear(c.state_dim, d)
        self.token_embedding = nn.Embedding(len(c.vocabulary), d)
        self.token_position = nn.Parameter(torch.randn(c.max_tokens, d) * 0.02)
        self.action_queries = nn.Parameter(torch.randn(c.query_tokens, d) * 0.02) if c.head == "mlp" else None

    def patchify(self, images):
        c = self.c
        p, rows, cols = c.patch, c.image_height // c.patch, c.image_width // c.patch
        b = images.shape[0]
        x = images.reshape(b, len(c.cameras), 3, rows, p, cols, p)
        x = x.permute(0, 1, 3, 5, 2, 4, 6)  # camera, patch row, patch col, channel, y, x
        return x.reshape(b, c.image_tokens, 3 * p * p)

    def forward(self, images, token_ids, state):
        vision = self.patch_embedding(self.patchify(images)) + self.image_position
        for block in self.vision:
            vision = block(vision)[0]
        parts = [vision, self.state_embedding(state)[:, None, :], self.token_embedding(token_ids) + self.token_position]
        if self.action_queries is not None:
            parts.append(self.action_queries[None].expand(images.shape[0], -1, -1))
        return torch.cat(parts, dim=1)


class MlpHead(nn.Module):
    """hidden [B,N,D] -> actions [B,H,A]: A1's MLP-ResNet on the action-query positions."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.c = c
        width = c.action_dim * c.hidden
        self.input_norm = nn.LayerNorm(width, eps=LN_EPS)
        self.fc_in = nn.Linear(width, c.head_hidden)
        self.residual = nn.ModuleList([nn.Sequential(nn.Linear(c.head_hidden, c.head_hidden), nn.ReLU(), nn.Linear(c.head_hidden, c.head_hidden)) for _ in range(2)])
        self.output_norm = nn.LayerNorm(c.head_hidden, eps=LN_EPS)
        self.fc_out = nn.Linear(c.head_hidden, c.action_dim)

    def forward(self, hidden):
        c = self.c
        queries = hidden[:, c.sequence_length - c.query_tokens:, :].reshape(hidden.shape[0], c.chunk, c.action_dim * c.hidden)
        x = torch.relu(self.fc_in(self.input_norm(queries)))
        for block in self.residual:
            x = x + block(x)
        return self.fc_out(self.output_norm(x))


class ExpertSuffix(nn.Module):
    """noisy_actions [B,H,A], time [B], state [B,S] -> suffix_hidden [B,1+H,De]."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        de = c.expert_hidden
        self.state_embedding = nn.Linear(c.state_dim, de)
        self.action_embedding = nn.Linear(c.action_dim, de)
        self.mix = nn.Linear(2 * de, de)
        self.mix_out = nn.Linear(de, de)
        self.position = nn.Parameter(torch.randn(c.chunk + 1, de) * 0.02)
        self.register_buffer("frequencies", time_frequencies(de), persistent=False)

    def forward(self, noisy_actions, time, state):
        angle = time[:, None] * self.frequencies[None, :]
        temb = torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)
        h = self.action_embedding(noisy_actions)
        temb = temb[:, None, :].expand(-1, h.shape[1], -1)
        tokens = self.mix_out(F.silu(self.mix(torch.cat([h, temb], dim=-1))))
        return torch.cat([self.state_embedding(state)[:, None, :], tokens], dim=1) + self.position


class ExpertLayer(nn.Module):
    """suffix [B,S,De] attending to an LM layer's K/V (padded prefix masked) and causally to itself."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        de, inner = c.expert_hidden, c.heads * c.head_dim
        self.heads, self.head_dim = c.heads, c.head_dim
        self.norm1 = nn.LayerNorm(de, eps=LN_EPS)
        self.q = nn.Linear(de, inner)
        self.k = nn.Linear(de, inner)
        self.v = nn.Linear(de, inner)
        self.o = nn.Linear(inner, de)
        self.norm2 = nn.LayerNorm(de, eps=LN_EPS)
        self.mlp = SwiGlu(de, c.expert_ffn)
        s = c.chunk + 1
        self.register_buffer("causal", torch.triu(torch.full((s, s), MASKED_BIAS), diagonal=1), persistent=False)

    def forward(self, suffix_hidden, prefix_key, prefix_value, attn_bias):
        a = self.norm1(suffix_hidden)
        q = split_heads(self.q(a), self.heads, self.head_dim)
        k = split_heads(self.k(a), self.heads, self.head_dim)
        v = split_heads(self.v(a), self.heads, self.head_dim)
        scale = 1.0 / math.sqrt(self.head_dim)
        prefix_scores = torch.matmul(q, prefix_key.transpose(-1, -2)) * scale + attn_bias[:, None, None, :]
        suffix_scores = torch.matmul(q, k.transpose(-1, -2)) * scale + self.causal
        p = torch.softmax(torch.cat([prefix_scores, suffix_scores], dim=-1), dim=-1)
        n = prefix_key.shape[2]
        context = torch.matmul(p[..., :n], prefix_value) + torch.matmul(p[..., n:], v)
        h = suffix_hidden + self.o(merge_heads(context))
        return h + self.mlp(self.norm2(h))


class ExpertOut(nn.Module):
    """suffix [B,1+H,De] -> velocity [B,H,A]."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        de = c.expert_hidden
        self.input_norm = nn.LayerNorm(de, eps=LN_EPS)
        self.fc_in = nn.Linear(de, de)
        self.residual = nn.Sequential(nn.Linear(de, de), nn.ReLU(), nn.Linear(de, de))
        self.output_norm = nn.LayerNorm(de, eps=LN_EPS)
        self.fc_out = nn.Linear(de, c.action_dim)

    def forward(self, suffix_hidden):
        x = torch.relu(self.fc_in(self.input_norm(suffix_hidden[:, 1:, :])))
        x = x + self.residual(x)
        return self.fc_out(self.output_norm(x))


class Policy(nn.Module):
    """The whole model: prefix, LM blocks, and either the shared MLP head or the FM expert."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        c.validate()
        self.c = c
        self.prefix = Prefix(c)
        self.blocks = nn.ModuleList([Block(c.hidden, c.heads, c.ffn) for _ in range(c.layers)])
        if c.head == "mlp":
            self.mlp_head = MlpHead(c)
        else:
            self.expert_suffix = ExpertSuffix(c)
            self.expert_layers = nn.ModuleList([ExpertLayer(c) for _ in range(c.layers)])
            self.expert_out = ExpertOut(c)
        self.reset_parameters()

    def reset_parameters(self):
        # GPT-2 style: N(0, 0.02) weights, residual writers scaled by 1/sqrt(2 depth), zero biases.
        depth = {id(b): self.c.layers for b in self.blocks}
        depth.update({id(b): max(1, self.c.vision_layers) for b in self.prefix.vision})
        if self.c.head == "fm":
            depth.update({id(b): self.c.layers for b in self.expert_layers})
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=0.02)
        for module in self.modules():
            if id(module) in depth:
                for writer in (module.o, module.mlp.down):
                    writer.weight.data.mul_(1.0 / math.sqrt(2 * depth[id(module)]))

    def attention_bias(self, token_counts: torch.Tensor) -> torch.Tensor:
        """[B, N]: 0 where attended, -1e9 at padded instruction positions (what the engine builds)."""
        c = self.c
        bias = torch.zeros(token_counts.shape[0], c.sequence_length)
        positions = torch.arange(c.max_tokens)[None, :]
        padded = positions >= token_counts[:, None]
        bias[:, c.first_instruction_token:c.first_instruction_token + c.max_tokens] = padded.float() * MASKED_BIAS
        return bias

    def backbone(self, images, token_ids, state, attn_bias, last_layer: int):
        """Runs LM blocks 0..last_layer. Returns streams[j] = the stream entering block j
        (streams[0] = the prefix embeddings) and the K/V of each block run."""
        hidden = self.prefix(images, token_ids, state)
        streams, keys, values = [hidden], [], []
        for j in range(last_layer + 1):
            hidden, k, v = self.blocks[j](hidden, attn_bias)
            streams.append(hidden)
            keys.append(k)
            values.append(v)
        return streams, keys, values

    def mlp_at(self, streams, layer: int):
        """The MLP head at exit `layer`: the stream ENTERING block `layer` (A1's all_hidden_states[layer])."""
        return self.mlp_head(streams[layer])

    def velocity_at(self, x_t, t, state, keys, values, attn_bias, layer: int):
        """The FM expert at exit `layer`: expert layers 0..layer against LM blocks 0..layer's K/V."""
        s = self.expert_suffix(x_t, t, state)
        for j in range(layer + 1):
            s = self.expert_layers[j](s, keys[j], values[j], attn_bias)
        return self.expert_out(s)
