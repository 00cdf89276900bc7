"""Does prompt-lookup speculative decoding win here? (llama-cpp-python's ``LlamaPromptLookupDecoding``)

The raw engine writes the same greedy reply with and without drafting from
the prompt, on two kinds of prompt: copying (the reply repeats the prompt, as
in editing a passage) and free story writing. Runs alternate; each figure is
the median. It also says whether the drafted reply is the greedy one.

Drafting needs llama-cpp-python's ``logits_all``, which keeps the logits of
every context position: n_ctx x vocabulary x 4 bytes of RAM more (printed).

Target for turning it on by default: faster on both kinds (>= 1.0x).

Usage: python bench/prompt_lookup.py [--runs 3] [--tokens 150] [--draft 10]
"""

from __future__ import annotations

import argparse
import time

from _common import Figure, footer, header, median, show, test_model

PASSAGE = ("The keeper climbed the stairs to light the lamp, as he had done for forty years. "
           "The wind pulled at the door and the sea struck the rocks below. ") * 4
PROMPTS = {
    "copy": "Copy this text exactly:\n\n" + PASSAGE + "\n\nCopy:\n",
    "story": "Once upon a time, in a small village by the sea, there lived an old lighthouse keeper named",
}
N_CTX = 1024


def write(prompt: str, tokens: int, draft: int) -> tuple[float, str]:
    import llama_cpp
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    llm = llama_cpp.Llama(
        str(test_model()), n_ctx=N_CTX, n_threads=2, verbose=False,
        draft_model=LlamaPromptLookupDecoding(num_pred_tokens=draft) if draft else None,
    )
    started = time.perf_counter()
    out = llm.create_completion(prompt, max_tokens=tokens, temperature=0.0)
    seconds = time.perf_counter() - started
    llm.close()
    return seconds, out["choices"][0]["text"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=150)
    parser.add_argument("--draft", type=int, default=10)
    args = parser.parse_args()
    header("prompt_lookup: drafting from the prompt vs plain decoding, raw engine, test model",
           f"{args.runs} alternating runs, {args.tokens} greedy tokens, up to {args.draft} drafted")
    figures = []
    for kind, prompt in PROMPTS.items():
        plain, drafted, same = [], [], True
        for _ in range(args.runs):
            seconds, text = write(prompt, args.tokens, 0)
            plain.append(seconds)
            seconds, drafted_text = write(prompt, args.tokens, args.draft)
            drafted.append(seconds)
            same = same and drafted_text == text
        speedup = median(plain) / median(drafted)
        print(f"   {kind}: plain {median(plain):.2f} s, drafted {median(drafted):.2f} s, "
              f"same reply: {same}")
        figures.append(Figure(f"{kind}: drafted speed / plain", speedup, "x", ">= 1.0", speedup >= 1.0))
    show(figures)
    from llama_cpp import Llama

    vocab = Llama(str(test_model()), n_ctx=16, vocab_only=True, verbose=False).n_vocab()
    print(f"   logits kept at 4,096 tokens of context: {4096 * vocab * 4 / 2**20:,.0f} MiB "
          f"(vocabulary {vocab:,})")
    footer()


if __name__ == "__main__":
    main()
