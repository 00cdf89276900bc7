"""Does prompt lookup (guessing the next tokens from the context) win here?

The app's runner on the test model writes the same greedy reply with the
``prompt_lookup`` load setting on and off, for three kinds of prompt:

- copy: the reply repeats a passage from the prompt;
- edit: the reply rewrites a passage with a few words changed;
- story: free writing, where guesses mostly fail.

Runs alternate; each figure is the median of whole-reply time (prompt
reading included) per reply token, since replies may differ in length. It also says whether the replies are the same text and how
many guessed tokens the sampler kept. llama-cpp-python's own drafting
(``draft_model`` passed to ``Llama``, with ``logits_all``) is timed beside it
with ``--library``, with the memory its logits take.

Target for on by default: >= 1.0x on every kind (free writing must not lose).

Usage: python bench/prompt_lookup.py [--runs 3] [--tokens 150] [--threads N] [--library]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from _common import Figure, footer, header, median, show, test_model, use_temporary_home

PASSAGE = ("The keeper climbed the stairs to light the lamp, as he had done for forty years. "
           "The wind pulled at the door and the sea struck the rocks below. ") * 4
PROMPTS = {
    "copy": "Copy this text exactly:\n\n" + PASSAGE + "\n\nCopy:\n",
    "edit": ("Rewrite this text with 'keeper' replaced by 'guard':\n\n" + PASSAGE
             + "\n\nRewritten:\nThe guard climbed the stairs"),
    "story": "Once upon a time, in a small village by the sea, there lived an old lighthouse keeper named",
}
N_CTX = 1024


async def write(runner, prompt: str, sampler) -> tuple[float, str, int, int]:
    """(seconds per reply token, the reply, tokens guessed, tokens kept)."""
    await runner._call(runner._llm.reset)
    pieces = []
    started = time.perf_counter()
    async for piece in runner.stream(prompt, sampler):
        pieces.append(piece)
    seconds = time.perf_counter() - started
    stats = runner.last_stats
    return seconds / max(1, stats.completion_tokens), "".join(pieces), stats.drafted_tokens, stats.draft_kept_tokens


async def app_runs(args: argparse.Namespace) -> list[Figure]:
    from tui_llm.engine.llama import LlamaCppRunner
    from tui_llm.engine.load_settings import LoadSettings
    from tui_llm.engine.sampler import SamplerSettings

    sampler = SamplerSettings(temperature=0.0, dry_multiplier=0.0, max_tokens=args.tokens, seed=1)
    runners = {}
    for lookup in (False, True):
        runner = LlamaCppRunner()
        settings = LoadSettings(n_ctx=N_CTX, n_threads=args.threads, prompt_lookup=lookup)
        await runner.load(test_model(), settings, "chatml")
        runners[lookup] = runner
    figures = []
    for kind, prompt in PROMPTS.items():
        times = {False: [], True: []}
        texts = {}
        drafted = kept = 0
        for run in range(args.runs):
            for lookup in ((False, True) if run % 2 == 0 else (True, False)):
                per_token, text, d, k = await write(runners[lookup], prompt, sampler)
                times[lookup].append(per_token)
                texts[lookup] = text
                if lookup:
                    drafted, kept = d, k
        speedup = median(times[False]) / median(times[True])
        print(f"   {kind:<5}: off {1000 * median(times[False]):.1f} ms/token, on {1000 * median(times[True]):.1f} ms/token, "
              f"same reply: {texts[False] == texts[True]}, guessed {drafted} tokens, kept {kept}")
        figures.append(Figure(f"{kind}: prompt lookup on / off", speedup, "x", ">= 1.0", speedup >= 1.0))
    for runner in runners.values():
        await runner.close()
    return figures


def library_runs(args: argparse.Namespace) -> list[Figure]:
    import llama_cpp
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    def once(prompt: str, draft: bool) -> float:
        llm = llama_cpp.Llama(
            str(test_model()), n_ctx=N_CTX, n_threads=args.threads or 2, verbose=False,
            draft_model=LlamaPromptLookupDecoding(num_pred_tokens=10) if draft else None,
        )
        started = time.perf_counter()
        llm.create_completion(prompt, max_tokens=args.tokens, temperature=0.0)
        seconds = time.perf_counter() - started
        llm.close()
        return seconds

    figures = []
    for kind, prompt in PROMPTS.items():
        plain = [once(prompt, False) for _ in range(args.runs)]
        drafted = [once(prompt, True) for _ in range(args.runs)]
        speedup = median(plain) / median(drafted)
        figures.append(Figure(f"{kind}: llama-cpp-python's drafting / plain", speedup, "x"))
    vocab = llama_cpp.Llama(str(test_model()), n_ctx=16, vocab_only=True, verbose=False).n_vocab()
    print(f"   llama-cpp-python's drafting keeps the logits of every position: {4096 * vocab * 4 / 2**20:,.0f} MiB "
          f"at 4,096 tokens (vocabulary {vocab:,}); the app's asks for a draft batch's only")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=150)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--library", action="store_true")
    args = parser.parse_args()
    use_temporary_home()
    header("prompt_lookup: guessing from the context vs plain decoding, the app's runner, test model",
           f"{args.runs} alternating runs, {args.tokens} greedy tokens")
    figures = asyncio.run(app_runs(args))
    if args.library:
        figures += library_runs(args)
    show(figures)
    footer()


if __name__ == "__main__":
    main()
