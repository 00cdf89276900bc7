"""What the memory estimate needs to know about a model, from a GGUF header or a catalog entry."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from tui_llm.models.rope import ModelRope

if TYPE_CHECKING:
    from tui_llm.models.gguf import GGUFInfo

# Bytes per cached element for each KV cache type (q8_0: 34 bytes per 32, q4_0: 18 per 32).
KV_BYTES = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32, "q5_1": 24 / 32,
            "q5_0": 22 / 32, "q4_1": 20 / 32, "q4_0": 18 / 32, "iq4_nl": 18 / 32}
KV_PAD = 256  # llama.cpp rounds the KV cache up to a multiple of this many cells


def pad(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


@dataclass(frozen=True)
class ModelShape:
    """What the estimate needs to know about a model, from a file or a catalog entry."""

    n_layers: int
    n_embd: int
    n_head: int
    n_head_kv: int
    key_length: int
    value_length: int
    n_ctx_train: int
    n_vocab: int
    weights_bytes: int
    layer_bytes: tuple[int, ...] = ()  # per repeating layer; empty = spread evenly
    input_bytes: int = 0  # token embedding (stays in RAM)
    output_bytes: int = 0  # final norm + output head (the "+1" of gpu_layers)
    # The output head reuses the token embedding (tied weights): nothing more in
    # RAM, but offloading the output layer puts a copy of it on the GPU.
    tied_bytes: int = 0
    sliding_window: int = 0
    swa_layers: tuple[bool, ...] = ()
    n_head_kv_per_layer: tuple[int, ...] = ()
    n_ff: int = 0
    n_tensors: int = 0
    n_merges: int = 0  # BPE merge rules in the tokenizer
    architecture: str = ""
    rope: ModelRope = ModelRope()  # the RoPE scaling the file declares
    exact: bool = True  # False when built from a parameter count, not a file

    def __post_init__(self) -> None:
        if self.n_layers <= 0 or self.n_embd <= 0 or self.n_head <= 0:
            raise ValueError(
                "the model shape is incomplete (layer count, embedding size and head count are needed)"
            )
        if self.weights_bytes <= 0:
            raise ValueError("the model has no weights")

    @classmethod
    def from_gguf(cls, info: "GGUFInfo") -> "ModelShape":
        layers = [0] * info.n_layers
        input_bytes = output_bytes = 0
        names = set()
        for tensor in info.tensors:
            names.add(tensor.name)
            parts = tensor.name.split(".")
            if parts[0] == "blk" and len(parts) > 1 and parts[1].isdigit():
                il = int(parts[1])
                if il < len(layers):
                    layers[il] += tensor.n_bytes
                    continue
            if tensor.name.startswith(("output", "cls")):
                output_bytes += tensor.n_bytes
            else:
                input_bytes += tensor.n_bytes
        tied = "output.weight" not in names and "token_embd.weight" in names
        tied_bytes = info.tensor_bytes["token_embd.weight"] if tied else 0
        missing = [name for name, value in (
            ("block_count", info.n_layers), ("embedding_length", info.n_embd),
            ("attention.head_count", info.n_head),
        ) if not value]
        if missing:
            raise ValueError(
                f"{info.path.name} lacks {', '.join(info.architecture + '.' + m for m in missing)}; "
                "its memory cannot be estimated"
            )
        return cls(
            n_layers=info.n_layers,
            n_embd=info.n_embd,
            n_head=info.n_head,
            n_head_kv=info.n_head_kv,
            key_length=info.key_length,
            value_length=info.value_length,
            n_ctx_train=info.n_ctx_train,
            n_vocab=info.n_vocab,
            weights_bytes=info.weights_bytes,
            layer_bytes=tuple(layers),
            input_bytes=input_bytes,
            output_bytes=output_bytes,
            tied_bytes=tied_bytes,
            sliding_window=info.sliding_window,
            swa_layers=info.swa_layers,
            n_head_kv_per_layer=info.n_head_kv_per_layer,
            n_ff=info.n_ff,
            n_tensors=len(info.tensors),
            n_merges=info.array_lengths.get("tokenizer.ggml.merges", 0),
            architecture=info.architecture,
            rope=ModelRope.from_metadata(info.architecture, info.metadata),
        )

    @classmethod
    def approximate(
        cls,
        parameter_count: int,
        weights_bytes: int,
        n_ctx_train: int = 4096,
        n_layers: int | None = None,
        n_embd: int | None = None,
        n_head: int | None = None,
        n_head_kv: int | None = None,
        n_vocab: int = 32000,
        architecture: str = "",
    ) -> "ModelShape":
        """A shape for a model known only by its size, as in a catalog entry.

        Missing dimensions come from the usual proportions of decoder-only
        models (width ~ 128 x layers, head size 128, 4:1 grouped-query
        attention), which keeps the KV cache within a small factor.
        """
        if parameter_count <= 0 or weights_bytes <= 0:
            raise ValueError("parameter count and file size must be positive")
        # params ~ 12 x layers x width^2, and width ~ 128 x layers
        if not n_layers:
            if n_embd:
                n_layers = max(1, round(parameter_count / (12 * n_embd * n_embd)))
            else:
                n_layers = max(4, round((parameter_count / (12 * 128 * 128)) ** (1 / 3)))
        if not n_embd:
            n_embd = max(256, round((parameter_count / (12 * n_layers)) ** 0.5 / 64) * 64)
        n_head = n_head or max(1, n_embd // 128)
        n_head_kv = n_head_kv or max(1, n_head // 4)
        head_dim = n_embd // n_head
        bytes_per_param = weights_bytes / parameter_count
        input_bytes = int(n_vocab * n_embd * bytes_per_param)
        output_bytes = input_bytes
        layer_total = max(weights_bytes - input_bytes - output_bytes, weights_bytes // 2)
        return cls(
            n_layers=n_layers,
            n_embd=n_embd,
            n_head=n_head,
            n_head_kv=n_head_kv,
            key_length=head_dim,
            value_length=head_dim,
            n_ctx_train=n_ctx_train,
            n_vocab=n_vocab,
            weights_bytes=weights_bytes,
            layer_bytes=tuple([layer_total // n_layers] * n_layers),
            input_bytes=weights_bytes - layer_total - min(output_bytes, weights_bytes - layer_total),
            output_bytes=min(output_bytes, weights_bytes - layer_total),
            n_ff=4 * n_embd,
            n_tensors=9 * n_layers + 3,
            n_merges=n_vocab,
            architecture=architecture,
            exact=False,
        )

    # --- derived per-layer figures -------------------------------------------------

    def layer_weight(self, il: int) -> int:
        if self.layer_bytes:
            return self.layer_bytes[il]
        return (self.weights_bytes - self.input_bytes - self.output_bytes) // self.n_layers

    def head_kv(self, il: int) -> int:
        if self.n_head_kv_per_layer and il < len(self.n_head_kv_per_layer):
            return self.n_head_kv_per_layer[il]
        return self.n_head_kv

    def is_swa(self, il: int) -> bool:
        return bool(self.swa_layers) and il < len(self.swa_layers) and self.swa_layers[il]

    def kv_cells(self, il: int, n_ctx: int, n_ubatch: int, swa_full: bool = True) -> int:
        cells = pad(n_ctx, KV_PAD)
        if not swa_full and self.is_swa(il) and self.sliding_window > 0:
            cells = min(cells, pad(self.sliding_window + n_ubatch, KV_PAD))
        return cells

    def kv_layer_bytes(
        self, il: int, n_ctx: int, kv_type: str = "f16", n_ubatch: int = 512, swa_full: bool = True
    ) -> int:
        per_cell = (self.key_length + self.value_length) * self.head_kv(il) * KV_BYTES[kv_type]
        return int(per_cell * self.kv_cells(il, n_ctx, n_ubatch, swa_full))

    # Sums over the last k layers (the ones offloaded first), so that estimate()
    # costs the same for 4 layers or 120: it runs thousands of times per catalog.
    @cached_property
    def _weights_from_end(self) -> tuple[int, ...]:
        return _suffix_sums([self.layer_weight(il) for il in range(self.n_layers)])

    @cached_property
    def _full_heads_from_end(self) -> tuple[int, ...]:
        return _suffix_sums([0 if self.is_swa(il) else self.head_kv(il) for il in range(self.n_layers)])

    @cached_property
    def _swa_heads_from_end(self) -> tuple[int, ...]:
        return _suffix_sums([self.head_kv(il) if self.is_swa(il) else 0 for il in range(self.n_layers)])

    def _split(self, gpu_repeating: int, n_ctx: int, kv_type: str, n_ubatch: int,
               swa_full: bool) -> tuple[int, int, int, int]:
        """(cpu weights, gpu weights, cpu kv, gpu kv) of the repeating layers."""
        full_cells = pad(n_ctx, KV_PAD)
        swa_cells = full_cells
        if not swa_full and self.sliding_window > 0:
            swa_cells = min(full_cells, pad(self.sliding_window + n_ubatch, KV_PAD))
        per_head_cell = (self.key_length + self.value_length) * KV_BYTES[kv_type]

        def kv(full_heads: int, swa_heads: int) -> int:
            return int(per_head_cell * (full_heads * full_cells + swa_heads * swa_cells))

        total_w, gpu_w = self._weights_from_end[self.n_layers], self._weights_from_end[gpu_repeating]
        gpu_kv = kv(self._full_heads_from_end[gpu_repeating], self._swa_heads_from_end[gpu_repeating])
        all_kv = kv(self._full_heads_from_end[self.n_layers], self._swa_heads_from_end[self.n_layers])
        return total_w - gpu_w, gpu_w, all_kv - gpu_kv, gpu_kv


def _suffix_sums(values: list[int]) -> tuple[int, ...]:
    """sums[k] = the sum of the last k values."""
    sums = [0]
    for value in reversed(values):
        sums.append(sums[-1] + value)
    return tuple(sums)



def read_shape(path: Path) -> ModelShape | None:
    """The shape of the GGUF file at ``path``; None when its header cannot be read or lacks a figure."""
    from tui_llm.models import gguf

    try:
        return ModelShape.from_gguf(gguf.read_gguf(path))
    except (OSError, ValueError):  # GGUFError included; the loader reports the file itself
        return None
