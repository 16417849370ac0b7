"""A stand-in for A1's AffordVLAEarlyExit (ATeam-Research/A1, a1/vla/affordvla_early_exit.py and
a1/vla/action_heads.py), with its module names, call signatures and tensor conventions, small and
randomly initialised. A1's code and weights cannot be installed here (no licence, no network), so
the exporter recipe of docs/model-format.md is tested on this instead. Written from reading A1's code
for structure only; nothing is copied.

What it reproduces:
- `vision_backbone(images, image_masks)`: Molmo-style pre-cut patches [B, crops, patches, 3*p*p]
  (mean/std normalised) -> features [B, crops, patches, d_model], added to the token embeddings
  at `image_input_idx`.
- `transformer.wte`, `transformer.blocks[j](x, attention_bias=, position_ids=, use_cache=True)`
  returning `(x, (k, v))`: OLMo-style blocks with a fused q/k/v projection, RoPE on q and k (the
  cache holds k after RoPE), grouped KV heads, RMSNorm, SwiGLU.
- `proprio_projector(proprio)`: replaces the embedding at `proprio_token_idx`.
- A1's sequence: [BOS] image patches, instruction words, proprio, act-start, chunk*action_dim
  action tokens, act-end; batch padding (-1) at the end; position_ids = cumsum(valid) - 1.
- The forward loop appends the stream to `all_hidden_states` BEFORE each block, then runs it.
- MLP (`l1_regression`): `action_head.predict_action(h[:, start+1:end])`, an MLP-ResNet over
  (chunk, action_dim * d_model); no causal mask in the LM.
- FM (`flow_matching`): causal LM; `action_head` with `time_encoder`, `state_proj`,
  `action_in_proj`, `action_time_in`, `action_time_out`, a Qwen2-style `qwen2.model` (layers with
  q/k/v/o projections, GQA, RoPE at positions pos_offset + i, final `norm`) attending to the LM's
  K/V cache of layers 0..l, and `action_out` (MLP-ResNet) on the last `horizon` tokens.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

IMAGE_MEAN = (0.48145466, 0.4578275, 0.40821073)
IMAGE_STD = (0.26862954, 0.26130258, 0.27577711)
NEG = -1e9


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope(x, position_ids, theta=10000.0):
    """Rotary embedding (rotate-half form) of x [B, H, T, hd] at integer positions [B, T]."""
    hd = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    angles = position_ids.to(torch.float32)[:, None, :, None] * inv[None, None, None, :]
    cos, sin = torch.cos(torch.cat([angles, angles], -1)), torch.sin(torch.cat([angles, angles], -1))
    x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def gqa_attention(q, k, v, bias):
    """q [B, Hq, T, hd]; k, v [B, Hkv, S, hd]; bias broadcastable to [B, Hq, T, S]."""
    hq, hkv, t, hd = q.shape[1], k.shape[1], q.shape[2], q.shape[3]
    # Query head h uses KV head h // (hq / hkv) (repeat_interleave), written with broadcasting so the
    # exported graph keeps a symbolic batch.
    qg = q.reshape(-1, hkv, hq // hkv, t, hd)
    scores = torch.matmul(qg, k[:, :, None].transpose(-1, -2)) / math.sqrt(hd) + bias[:, :, None]
    out = torch.matmul(torch.softmax(scores, -1), v[:, :, None])
    return out.reshape(-1, hq, t, hd)


class OLMoBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        d, hd = c.d_model, c.head_dim
        self.attn_norm = RMSNorm(d)
        self.att_proj = nn.Linear(d, (c.n_heads + 2 * c.n_kv_heads) * hd, bias=True)
        self.attn_out = nn.Linear(c.n_heads * hd, d, bias=False)
        self.ff_norm = RMSNorm(d)
        self.ff_proj = nn.Linear(d, 2 * c.mlp_hidden, bias=False)
        self.ff_out = nn.Linear(c.mlp_hidden, d, bias=False)

    def forward(self, x, attention_bias=None, position_ids=None, drop_mask=None, layer_past=None, use_cache=False):
        c = self.c
        b, t, _ = x.shape
        qkv = self.att_proj(self.attn_norm(x))
        q, k, v = qkv.split([c.n_heads * c.head_dim, c.n_kv_heads * c.head_dim, c.n_kv_heads * c.head_dim], dim=-1)
        q = q.reshape(b, t, c.n_heads, c.head_dim).transpose(1, 2)
        k = k.reshape(b, t, c.n_kv_heads, c.head_dim).transpose(1, 2)
        v = v.reshape(b, t, c.n_kv_heads, c.head_dim).transpose(1, 2)
        q, k = rope(q, position_ids), rope(k, position_ids)
        att = gqa_attention(q, k, v, attention_bias)
        x = x + self.attn_out(att.transpose(1, 2).reshape(b, t, c.n_heads * c.head_dim))
        gate, up = self.ff_proj(self.ff_norm(x)).chunk(2, dim=-1)
        x = x + self.ff_out(F.silu(gate) * up)
        return x, ((k, v) if use_cache else None)


class VisionBackbone(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.image_vit = nn.Linear(3 * c.patch * c.patch, c.vit_dim)
        self.image_projector = nn.Linear(c.vit_dim, c.d_model)

    def forward(self, images, image_masks=None):
        return self.image_projector(F.gelu(self.image_vit(images)))


class ProprioProjector(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc1 = nn.Linear(c.proprio_dim, c.d_model)
        self.fc2 = nn.Linear(c.d_model, c.d_model)

    def forward(self, proprio):
        return self.fc2(F.gelu(self.fc1(proprio)))


class MLPResNet(nn.Module):
    def __init__(self, num_blocks, input_dim, hidden_dim, output_dim):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(input_dim)
        self.fc1 = nn.Linear(input_dim, hidden_dim)
        self.mlp_resnet_blocks = nn.ModuleList(
            [nn.Sequential(nn.LayerNorm(hidden_dim), nn.Linear(hidden_dim, hidden_dim), nn.ReLU()) for _ in range(num_blocks)])
        self.layer_norm2 = nn.LayerNorm(hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, output_dim)

    def forward(self, x):
        x = F.relu(self.fc1(self.layer_norm1(x)))
        for block in self.mlp_resnet_blocks:
            x = x + block(x)
        return self.fc2(self.layer_norm2(x))


class L1RegressionActionHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.model = MLPResNet(2, c.action_dim * c.d_model, c.d_model, c.action_dim)

    def predict_action(self, actions_hidden_states):
        b = actions_hidden_states.shape[0]
        return self.model(actions_hidden_states.reshape(b, self.c.chunk, self.c.action_dim * self.c.d_model))


class SinusoidalPositionalEncoding(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        half = self.dim // 2
        freq = torch.exp(torch.arange(half, dtype=torch.float32) * (-math.log(10000.0) / (half - 1)))
        e = x[:, None] * freq[None, :]
        return torch.cat([e.sin(), e.cos()], -1)


class Qwen2DecoderLayer(nn.Module):
    """Qwen2-style layer attending to a prefix K/V cache (used as given) and causally to itself."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        h, hd = c.expert_hidden, c.head_dim
        self.input_layernorm = RMSNorm(h)
        self.q_proj = nn.Linear(h, c.expert_heads * hd)
        self.k_proj = nn.Linear(h, c.n_kv_heads * hd)
        self.v_proj = nn.Linear(h, c.n_kv_heads * hd)
        self.o_proj = nn.Linear(c.expert_heads * hd, h, bias=False)
        self.post_attention_layernorm = RMSNorm(h)
        self.gate_proj = nn.Linear(h, c.expert_mlp, bias=False)
        self.up_proj = nn.Linear(h, c.expert_mlp, bias=False)
        self.down_proj = nn.Linear(c.expert_mlp, h, bias=False)

    def forward(self, hidden_states, past_key_value, position_ids, prefix_bias):
        """prefix_bias [B, S_prefix] additive (0 attend, very negative masked)."""
        c = self.c
        b, t, _ = hidden_states.shape
        a = self.input_layernorm(hidden_states)
        q = rope(self.q_proj(a).reshape(b, t, c.expert_heads, c.head_dim).transpose(1, 2), position_ids)
        k = rope(self.k_proj(a).reshape(b, t, c.n_kv_heads, c.head_dim).transpose(1, 2), position_ids)
        v = self.v_proj(a).reshape(b, t, c.n_kv_heads, c.head_dim).transpose(1, 2)
        pk, pv = past_key_value
        causal = torch.triu(torch.full((t, t), NEG), diagonal=1)
        bias = torch.cat([prefix_bias[:, None, None, :].expand(b, 1, t, pk.shape[2]), causal[None, None].expand(b, 1, t, t)], -1)
        att = gqa_attention(q, torch.cat([pk, k], 2), torch.cat([pv, v], 2), bias)
        hidden_states = hidden_states + self.o_proj(att.transpose(1, 2).reshape(b, t, c.expert_heads * c.head_dim))
        m = self.post_attention_layernorm(hidden_states)
        return hidden_states + self.down_proj(F.silu(self.gate_proj(m)) * self.up_proj(m))


class FlowMatchingActionHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        h = c.expert_hidden
        self.horizon = c.chunk
        self.time_encoder = SinusoidalPositionalEncoding(h)
        self.state_proj = nn.Linear(c.proprio_dim, h)
        self.action_in_proj = nn.Linear(c.fixed_action_dim, h)
        self.action_time_in = nn.Linear(2 * h, h)
        self.action_time_out = nn.Linear(h, h)
        self.qwen2 = nn.Module()
        self.qwen2.model = nn.Module()
        self.qwen2.model.layers = nn.ModuleList([Qwen2DecoderLayer(c) for _ in range(c.n_layers)])
        self.qwen2.model.norm = RMSNorm(h)
        self.action_out = MLPResNet(2, h, h, c.fixed_action_dim)

    def build_suffix_tokens(self, state, x_t, t):
        b, horizon, _ = x_t.shape
        state_tok = self.state_proj(state)[:, None, :]
        t_tok = self.time_encoder(t)[:, None, :].expand(-1, horizon, -1)
        at = self.action_time_out(F.silu(self.action_time_in(torch.cat([self.action_in_proj(x_t), t_tok], -1))))
        return torch.cat([state_tok, at], 1)

    def predict_vector_field(self, past_key_values, state, x_t, t, pos_offset, prefix_bias):
        """Runs expert layers 0..len(past_key_values)-1 (A1 sets num_hidden_layers to the cache's length)."""
        h = self.build_suffix_tokens(state, x_t, t)
        positions = pos_offset[:, None] + torch.arange(h.shape[1])[None, :]
        for j, kv in enumerate(past_key_values):
            h = self.qwen2.model.layers[j](h, kv, positions, prefix_bias)
        return self.action_out(self.qwen2.model.norm(h)[:, -self.horizon:, :])


def default_config(head: str):
    return SimpleNamespace(
        head=head, n_layers=4, d_model=32, n_heads=4, n_kv_heads=2, head_dim=8, mlp_hidden=64,
        vit_dim=48, patch=8, image_size=16, chunk=3, action_dim=4, fixed_action_dim=5, valid_action_dim=4,
        proprio_dim=4, expert_hidden=24, expert_heads=4, expert_mlp=48, max_words=8,
        vocabulary=["<pad>", "<unk>", "pick", "up", "the", "red", "blue", "cup", "put", "on", "plate", "<bos>",
                    "<im_patch>", "<act_start>", "<act>", "<act_end>"])


class AffordVLAEarlyExitStandIn(nn.Module):
    """The A1 model's structure in small (see the module docstring)."""

    def __init__(self, c, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.config = c
        self.vision_backbone = VisionBackbone(c)
        self.transformer = nn.Module()
        self.transformer.wte = nn.Embedding(len(c.vocabulary), c.d_model)
        self.transformer.blocks = nn.ModuleList([OLMoBlock(c) for _ in range(c.n_layers)])
        self.proprio_projector = ProprioProjector(c)
        self.action_head = L1RegressionActionHead(c) if c.head == "mlp" else FlowMatchingActionHead(c)
        for p in self.parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, std=0.3 / math.sqrt(p.shape[-1]))
            elif p.dim() == 1 and not isinstance(p, type(None)):
                nn.init.normal_(p, mean=0.0, std=0.05)
        for m in self.modules():
            if isinstance(m, (RMSNorm, nn.LayerNorm)):
                nn.init.normal_(m.weight, mean=1.0, std=0.05)
        self.token = {w: i for i, w in enumerate(c.vocabulary)}

    def patches(self, images):
        """RGB [B, C, 3, H, W] in [0,1] -> Molmo-style crops [B, C, P, 3*p*p], mean/std normalised."""
        c = self.config
        mean = torch.tensor(IMAGE_MEAN)[None, None, :, None, None]
        std = torch.tensor(IMAGE_STD)[None, None, :, None, None]
        x = (images - mean) / std
        b, cams, _, hgt, wid = x.shape
        p = c.patch
        x = x.reshape(b, cams, 3, hgt // p, p, wid // p, p).permute(0, 1, 3, 5, 2, 4, 6)
        return x.reshape(b, cams, (hgt // p) * (wid // p), 3 * p * p)

    def build_inputs(self, word_ids):
        """A1's token sequence for one request (no padding): ids, image_input_idx, proprio index, action span."""
        c = self.config
        patches = (c.image_size // c.patch) ** 2
        t = self.token
        ids = [t["<bos>"]] + [t["<im_patch>"]] * patches + list(word_ids) + [t["<unk>"]]
        if c.head == "mlp":  # FM models carry no action tokens in the LM
            ids += [t["<act_start>"]] + [t["<act>"]] * (c.chunk * c.action_dim) + [t["<act_end>"]]
        proprio_idx = 1 + patches + len(word_ids)
        start_idx = proprio_idx + 1
        end_idx = start_idx + c.chunk * c.action_dim + 1
        return torch.tensor([ids]), torch.arange(1, 1 + patches)[None, None, :], proprio_idx, start_idx, end_idx

    def forward(self, input_ids, images, image_input_idx, action_proprio, proprio_token_idx):
        """A1's loop: returns all_hidden_states (appended BEFORE each block) and the K/V of every block."""
        c = self.config
        mask = input_ids != -1
        x = self.transformer.wte(input_ids * mask)
        x[:, proprio_token_idx, :] = self.proprio_projector(action_proprio)
        feats = self.vision_backbone(images)
        b = x.shape[0]
        x[torch.arange(b)[:, None], image_input_idx.view(b, -1)] += feats.view(b, -1, c.d_model)
        position_ids = torch.clamp(torch.cumsum(mask.to(torch.int64), -1) - 1, min=0)
        bias = (1.0 - mask.float())[:, None, None, :] * NEG
        if c.head == "fm":  # A1's FM models keep the LM causal
            n = input_ids.shape[1]
            bias = bias + torch.triu(torch.full((n, n), NEG), diagonal=1)[None, None]
        all_hidden_states, attn_key_values = [], []
        for block in self.transformer.blocks:
            all_hidden_states.append(x)
            x, cache = block(x, attention_bias=bias, position_ids=position_ids, use_cache=True)
            attn_key_values.append(cache)
        return all_hidden_states, attn_key_values, mask
