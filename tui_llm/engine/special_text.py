"""Control tokens that carry meaning in a reply, kept as text.

llama-cpp-python drops control tokens when it turns generated tokens into
text. Some models mark their reasoning with control tokens (gpt-oss's harmony
``<|channel|>analysis<|message|>``, Command R's ``<|START_THINKING|>``, Gemma
4's ``<|channel>``): without them the reasoning cannot be told from the
answer. When the model's template uses such markers, the runner detokenizes
with the special tokens written out, through llama-cpp-python's own
tokenizer extension point (``Llama(tokenizer=...)``).
"""

from __future__ import annotations

from typing import Any

CONTROL_MARKERS = ("<|channel|>", "<|START_THINKING|>", "<|channel>")


def marks_with_control_tokens(template_source: str) -> bool:
    return any(marker in template_source for marker in CONTROL_MARKERS)


def marker_tokenizer(llm: Any) -> Any:
    """A tokenizer for ``llm`` whose ``markers_as_text`` switch writes control tokens out."""
    from llama_cpp.llama_tokenizer import LlamaTokenizer

    class MarkerTokenizer(LlamaTokenizer):
        markers_as_text = False

        def detokenize(self, tokens, prev_tokens=None, special=False):  # noqa: ANN001, ANN201
            return super().detokenize(
                tokens, prev_tokens=prev_tokens, special=special or self.markers_as_text
            )

    return MarkerTokenizer(llm)
