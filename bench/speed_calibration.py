"""Predicted vs measured decode speed, the way a user meets them: ``tui-llm fit --json``
says how fast a model will write, then ``tui-llm chat --json`` writes with it.

Each model gets a fresh home: its first prediction is cold (only the memory
probe, measured then), every later one is calibrated from the replies before
it. The chat runs with the threads fit planned (``--threads``), 128 tokens,
greedy. Besides the test model: the same weights requantized to Q8_0 and
Q4_K_M (other bytes per token, other kernels), and any GGUF paths given.
Target: within 25% of the measured speed, cold and calibrated.

Usage: python bench/speed_calibration.py [--rounds 4] [--no-requant] [MODEL.gguf ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT, STORY_PROMPT, footer, header, median, test_model

TARGET = 0.25


def _cli(home: Path, *args: str) -> dict:
    env = {**os.environ, "TUI_LLM_HOME": str(home)}
    env.pop("TUI_LLM_CONFIG", None)
    done = subprocess.run([sys.executable, "-m", "tui_llm", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"tui-llm {' '.join(args)} failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def requantized(source: Path, folder: Path) -> list[Path]:
    """The test model's weights in other quants, made with llama.cpp's own quantizer."""
    code = """
import sys, llama_cpp
params = llama_cpp.llama_model_quantize_default_params()
params.allow_requantize = True
params.ftype = getattr(llama_cpp, sys.argv[3])
params.nthread = 2
sys.exit(llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), params))
"""
    made = []
    for name, ftype in (("Q8_0", "LLAMA_FTYPE_MOSTLY_Q8_0"), ("Q4_K_M", "LLAMA_FTYPE_MOSTLY_Q4_K_M")):
        dest = folder / f"SmolLM2-135M-Instruct.{name}.gguf"
        done = subprocess.run([sys.executable, "-c", code, str(source), str(dest), ftype],
                              capture_output=True, timeout=300)
        if done.returncode == 0 and dest.is_file():
            made.append(dest)
        else:
            print(f"   (could not make {dest.name}: exit {done.returncode})")
    return made


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="*", type=Path)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--no-requant", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tui-llm-speed-"))
    models = [test_model()]
    if not args.no_requant:
        models += requantized(models[0], work)
    models += args.models

    header("speed prediction vs tui-llm chat --json, cold then calibrated",
           f"128 tokens greedy per reply; {args.rounds} replies per model, each model in a fresh home")
    print(f"   {'model':<34} {'#':>2} {'basis':<22} {'thr':>3} {'gpu':>3} {'pred':>7} {'meas':>7}"
          f" {'error':>7}  target ±{TARGET:.0%}")
    cold, calibrated = [], []
    for index, model in enumerate(models):
        home = work / f"home{index}"
        for round_ in range(1, args.rounds + 1):
            fit = _cli(home, "fit", str(model), "--json")
            predicted = fit["speed"]
            chat = _cli(home, "chat", "--model", str(model), "--prompt", STORY_PROMPT, "--max-tokens", "128",
                        "--seed", "1", "--threads", str(predicted["threads"]), "--json")
            measured = chat["decode_tok_s"]
            error = predicted["decode_tok_s"] / measured - 1 if measured else float("nan")
            (cold if round_ == 1 else calibrated).append(abs(error))
            verdict = "ok" if abs(error) <= TARGET else "MISSED"
            print(f"   {model.name[:34]:<34} {round_:>2} {predicted['basis'][:22]:<22} {predicted['threads']:>3}"
                  f" {predicted['gpu_layers']:>3} {predicted['decode_tok_s']:>7.1f} {measured:>7.1f}"
                  f" {error:>+7.0%}  {verdict}")
    print(f"   cold (probe only): median |error| {median(cold):.0%}, worst {max(cold):.0%},"
          f" {sum(e <= TARGET for e in cold)}/{len(cold)} within ±{TARGET:.0%}")
    if calibrated:
        print(f"   calibrated:        median |error| {median(calibrated):.0%}, worst {max(calibrated):.0%},"
              f" {sum(e <= TARGET for e in calibrated)}/{len(calibrated)} within ±{TARGET:.0%}")
    footer()


if __name__ == "__main__":
    main()
