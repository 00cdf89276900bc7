"""What a GGUF header says, as data: tensor types, tensor infos, the header summary, its errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# ggml tensor type id -> (name, elements per block, bytes per block)
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
    40: ("NVFP4", 64, 36),
    41: ("Q1_0", 128, 18),
    42: ("Q2_0", 64, 18),
}


class GGUFError(ValueError):
    """The file is not a GGUF model we can read, or it is damaged."""


class HeaderTruncated(GGUFError):
    """The bytes end before the header does: a file cut short, or only its first bytes read."""


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int
    n_bytes: int

    @property
    def type_name(self) -> str:
        return GGML_TYPES.get(self.ggml_type, (f"type{self.ggml_type}", 1, 1))[0]

    @property
    def n_elements(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count


@dataclass(frozen=True)
class GGUFInfo:
    path: Path
    version: int
    file_size: int
    architecture: str
    name: str
    parameter_count: int
    n_layers: int
    n_embd: int
    n_head: int
    n_head_kv: int
    key_length: int
    value_length: int
    sliding_window: int
    n_ctx_train: int
    n_vocab: int
    n_ff: int
    file_type: int | None
    quant: str
    data_offset: int
    data_end: int
    tensors: tuple[TensorInfo, ...] = field(repr=False)
    chat_template: str | None = field(default=None, repr=False)
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    # n_head_kv per layer when the model varies it (OpenELM, some hybrids); else empty
    n_head_kv_per_layer: tuple[int, ...] = ()
    # True for layers using sliding-window attention
    swa_layers: tuple[bool, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)
    array_lengths: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def tensor_bytes(self) -> dict[str, int]:
        return {t.name: t.n_bytes for t in self.tensors}

    @property
    def weights_bytes(self) -> int:
        return sum(t.n_bytes for t in self.tensors)

    def get(self, key: str, default: Any = None) -> Any:
        """A metadata value; ``.name`` style keys are looked up under the architecture."""
        if key.startswith("."):
            key = f"{self.architecture}{key}"
        return self.metadata.get(key, default)
