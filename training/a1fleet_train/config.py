"""Model and training configurations. `smoke` runs in seconds (CI); `full` is sized for about an
hour of two CPU cores (see docs/training.md for the measured step time)."""
from __future__ import annotations

import dataclasses
import json


@dataclasses.dataclass
class ModelConfig:
    head: str = "mlp"            # "mlp" or "fm"
    layers: int = 8              # LM layers L
    hidden: int = 128            # D
    heads: int = 4               # KV heads (= query heads); D = heads * head_dim
    ffn: int = 256               # SwiGLU inner size F
    vision_layers: int = 1       # Lv
    patch: int = 16              # P (image sides must be multiples of it)
    chunk: int = 8               # H
    head_hidden: int = 256       # Dh (MLP head)
    expert_hidden: int = 64      # De (FM expert)
    expert_ffn: int = 128        # Fe
    exit_interval: int = 2       # k
    # Filled from the data:
    cameras: tuple = ("front",)
    image_height: int = 64
    image_width: int = 64
    state_dim: int = 8
    action_dim: int = 8
    max_tokens: int = 8
    vocabulary: tuple = ("<pad>", "<unk>")

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def patches_per_camera(self) -> int:
        return (self.image_height // self.patch) * (self.image_width // self.patch)

    @property
    def image_tokens(self) -> int:
        return len(self.cameras) * self.patches_per_camera

    @property
    def query_tokens(self) -> int:
        return self.chunk * self.action_dim if self.head == "mlp" else 0

    @property
    def sequence_length(self) -> int:
        return self.image_tokens + 1 + self.max_tokens + self.query_tokens

    @property
    def first_instruction_token(self) -> int:
        return self.image_tokens + 1

    def exit_layers(self) -> list[int]:
        """1, 1+k, 1+2k, ... below L-1, plus L-1 (the manifest's exits.layers)."""
        layers = list(range(1, self.layers - 1, self.exit_interval))
        return layers + [self.layers - 1]

    def validate(self) -> None:
        problems = []
        if self.head not in ("mlp", "fm"):
            problems.append(f"head '{self.head}' is neither mlp nor fm")
        if self.hidden % self.heads:
            problems.append(f"hidden {self.hidden} is not a multiple of heads {self.heads}")
        if self.image_height % self.patch or self.image_width % self.patch:
            problems.append(f"image {self.image_height}x{self.image_width} is not a multiple of patch {self.patch}")
        if self.layers < 2:
            problems.append("at least 2 LM layers are needed (the first exit compares with the layer before it)")
        if problems:
            raise ValueError("; ".join(problems))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @staticmethod
    def from_dict(d: dict) -> "ModelConfig":
        d = dict(d)
        d["cameras"] = tuple(d["cameras"])
        d["vocabulary"] = tuple(d["vocabulary"])
        return ModelConfig(**d)


@dataclasses.dataclass
class TrainConfig:
    steps: int = 2000
    batch: int = 64
    lr: float = 3e-4
    weight_decay: float = 1e-4
    warmup: int = 100
    grad_clip: float = 1.0
    exit_loss: str = "all"       # "all": loss summed over every exit; "random": one exit drawn per batch
    threads: int = 1
    log_every: int = 50


PRESETS = {
    # Seconds on one core: enough to see the loss fall and to exercise every code path in CI.
    "smoke": (dict(layers=4, hidden=32, heads=2, ffn=64, head_hidden=64, expert_hidden=32, expert_ffn=64, chunk=4),
              dict(steps=30, batch=16, warmup=5, log_every=10)),
    # About an hour of two cores shared with other work: the MLP and FM runs side by side, one
    # thread each (measured CPU per step, one thread, 2 cameras of 64x64: docs/training.md).
    "full": (dict(layers=8, hidden=96, heads=4, ffn=192, head_hidden=256, expert_hidden=64, expert_ffn=128, chunk=8),
             dict(steps=5000, batch=32, warmup=200, log_every=100)),
}


def preset(name: str, head: str) -> tuple[ModelConfig, TrainConfig]:
    if name not in PRESETS:
        raise ValueError(f"unknown preset '{name}' (known: {', '.join(PRESETS)})")
    model, train = PRESETS[name]
    return ModelConfig(head=head, **model), TrainConfig(**train)
