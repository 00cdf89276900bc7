"""Contexts past a model's training length: what RoPE scaling the model declares, and what to use.

A model only saw positions up to its training context (``n_ctx_train``).
RoPE scaling squeezes longer contexts into that range: *linear* divides every
position by the factor; *YaRN* stretches only the slow-turning dimensions and
keeps nearby positions as trained, which usually loses less on a model never
tuned for it; raising the RoPE *base* (NTK-aware) is the third way. Some GGUF
files declare the scaling they were tuned with (``{arch}.rope.scaling.*``);
llama.cpp applies that by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

SCALINGS = ("auto", "none", "linear", "yarn")
# llama.cpp's enum llama_rope_scaling_type
LLAMA_SCALING_TYPE = {"none": 0, "linear": 1, "yarn": 2}
MAX_FACTOR = 4  # the largest stretch the fit engine offers; guides report 2-8x, worse past 4


@dataclass(frozen=True)
class ModelRope:
    """The RoPE scaling a GGUF file declares; ``kind`` "" when it declares none."""

    kind: str = ""
    factor: float = 0.0
    original_ctx: int = 0

    @classmethod
    def from_metadata(cls, architecture: str, metadata: Mapping[str, Any]) -> "ModelRope":
        def value(name: str) -> Any:
            for key in (f"{architecture}.rope.scaling.{name}", f"rope.scaling.{name}"):
                if key in metadata:
                    return metadata[key]
            return None

        kind = str(value("type") or "").strip().lower()
        try:
            factor = float(value("factor") or 0.0)
            original = int(float(value("original_context_length") or 0))
        except (TypeError, ValueError):
            factor, original = 0.0, 0
        old_linear = metadata.get(f"{architecture}.rope.scale_linear")
        if not kind and old_linear:
            try:
                kind, factor = "linear", float(old_linear)
            except (TypeError, ValueError):
                pass
        if kind in ("", "none") or factor <= 1.0:
            return cls()
        return cls(kind, factor, original)

    def describe(self) -> str:
        if not self.kind:
            return "none declared"
        base = f" over {self.original_ctx:,} tokens" if self.original_ctx else ""
        return f"{_label(self.kind)} x{self.factor:g}{base}"


@dataclass(frozen=True)
class RopeChoice:
    """What to load with: ``scaling`` "auto" leaves llama.cpp to the model's own values."""

    scaling: str
    freq_base: float
    freq_scale: float
    note: str  # one plain sentence for the user; "" when nothing unusual happens

    @property
    def llama_kwargs(self) -> dict[str, Any]:
        """Arguments of ``llama_cpp.Llama`` for this choice (0 = the model's own value)."""
        kwargs: dict[str, Any] = {}
        if self.scaling in LLAMA_SCALING_TYPE:
            kwargs["rope_scaling_type"] = LLAMA_SCALING_TYPE[self.scaling]
        if self.freq_base:
            kwargs["rope_freq_base"] = self.freq_base
        if self.freq_scale:
            kwargs["rope_freq_scale"] = self.freq_scale
        return kwargs


def _label(kind: str) -> str:
    return {"yarn": "YaRN", "linear": "linear"}.get(kind, kind)


def choose(
    n_ctx: int,
    n_ctx_train: int,
    model: ModelRope = ModelRope(),
    scaling: str = "auto",
    freq_base: float = 0.0,
    freq_scale: float = 0.0,
) -> RopeChoice:
    """The RoPE settings for a context of ``n_ctx`` on a model trained on ``n_ctx_train``.

    ``scaling``, ``freq_base`` and ``freq_scale`` are the user's (0 = not set).
    "auto" within the trained length changes nothing. Past it: the model's own
    declared scaling when it covers ``n_ctx``; the user's RoPE base or scale when
    given; otherwise YaRN with factor ``n_ctx / n_ctx_train``.
    """
    if scaling not in SCALINGS:
        raise ValueError(f"RoPE scaling must be one of {', '.join(SCALINGS)}, got {scaling!r}")
    trained = n_ctx_train or 0
    beyond = bool(trained) and n_ctx > trained
    warn = (f" Quality may drop: the model was trained on {trained:,} tokens." if beyond else "")
    factor = n_ctx / trained if trained else 1.0
    if scaling == "none":
        note = (f"No RoPE scaling at {n_ctx:,} tokens: past {trained:,} the model meets positions "
                "it never saw and usually loses the thread." if beyond else "")
        return RopeChoice("none", freq_base, freq_scale, note)
    if scaling in ("linear", "yarn"):
        scale = freq_scale or (round(1 / factor, 6) if beyond else 0.0)
        shown = f" (scale {scale:g})" if scale else ""
        return RopeChoice(scaling, freq_base, scale,
                          f"{_label(scaling)} RoPE scaling{shown}, as chosen.{warn}".strip())
    if not beyond:
        return RopeChoice("auto", freq_base, freq_scale, "")
    if model.kind and (model.original_ctx or trained) * model.factor >= n_ctx:
        return RopeChoice("auto", freq_base, freq_scale,
                          f"Using the model's own RoPE scaling ({model.describe()}) for "
                          f"{n_ctx:,} tokens.")
    if freq_base or freq_scale:
        parts = [f"base {freq_base:g}" if freq_base else "", f"scale {freq_scale:g}" if freq_scale else ""]
        return RopeChoice("auto", freq_base, freq_scale,
                          f"RoPE {' and '.join(p for p in parts if p)} as set, for {n_ctx:,} tokens.{warn}")
    scale = round(1 / factor, 6)
    return RopeChoice(
        "yarn", 0.0, scale,
        f"{n_ctx:,} tokens is {factor:.3g}x the training length: using YaRN RoPE scaling "
        f"(scale {scale:g}), which keeps nearby positions as trained.{warn}",
    )
