"""Predicted vs measured tokens/s: the speed model (tui_llm/machine/speed.py)
against the real runner, with the settings the app would plan for this machine.

For each model (the test model, plus any GGUF paths given): predict decode and
prompt speed from the header, then load it with LlamaCppRunner, read a prompt
of ~300 tokens and decode 128 tokens greedily, three rounds; figures are
medians. Prompt speed measured = prompt tokens / time to first token.

Usage: python bench/speed_prediction.py [--rounds 3] [--threads N] [--gpu-layers N] [MODEL.gguf ...]
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from _common import STORY_PROMPT, footer, header, median, test_model, use_temporary_home


async def measure(path: Path, settings, rounds: int) -> tuple[float, float]:
    from tui_llm.engine.llama import LlamaCppRunner
    from tui_llm.engine.sampler import SamplerSettings

    runner = LlamaCppRunner()
    await runner.load(path, settings)
    sampler = SamplerSettings(temperature=0.0, max_tokens=128, seed=1)
    prompt = " ".join([STORY_PROMPT] * 16)
    decode, prompt_rates = [], []
    for _ in range(rounds):
        await runner._call(runner._llm.reset)
        async for _piece in runner.stream([{"role": "user", "content": prompt}], sampler):
            pass
        stats = runner.last_stats
        decode.append(stats.tokens_per_second)
        prompt_rates.append(stats.evaluated_prompt_tokens / stats.time_to_first_token)
    await runner.close()
    return median(decode), median(prompt_rates)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="*", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--gpu-layers", type=int, default=None)
    args = parser.parse_args()
    use_temporary_home()
    from tui_llm.engine.load_settings import LoadSettings
    from tui_llm.machine import speed
    from tui_llm.machine.hardware import probe
    from tui_llm.machine.plan import plan_load
    from tui_llm.machine.shape import ModelShape
    from tui_llm.models.gguf import read_gguf

    header("speed prediction vs the real runner", "decode: 128 tokens greedy; prompt: ~300 tokens")
    hardware = probe(measure_bandwidth=True)
    print(f"   {'model':<40} {'threads':>7} {'gpu':>4} {'decode pred':>11} {'meas':>7} {'err':>6}"
          f" {'prompt pred':>11} {'meas':>7} {'err':>6}")
    for path in [test_model(), *args.models]:
        info = read_gguf(path)
        shape = ModelShape.from_gguf(info)
        wanted = LoadSettings(n_ctx=2048, n_threads=args.threads, n_gpu_layers=args.gpu_layers)
        planned = plan_load(shape, wanted, hardware).settings
        predicted = speed.for_gguf(info, shape, hardware, planned.n_threads, planned.n_threads_batch,
                                   planned.n_gpu_layers or 0)
        decode, prompt = await measure(path, planned, args.rounds)
        print(f"   {path.name[:40]:<40} {planned.n_threads:>7} {planned.n_gpu_layers or 0:>4}"
              f" {predicted.decode_tok_s:>11.1f} {decode:>7.1f} {predicted.decode_tok_s / decode - 1:>+6.0%}"
              f" {predicted.prompt_tok_s:>11.1f} {prompt:>7.1f} {predicted.prompt_tok_s / prompt - 1:>+6.0%}")
    footer()


if __name__ == "__main__":
    asyncio.run(main())
