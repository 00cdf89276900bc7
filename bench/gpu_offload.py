"""The real CUDA path: NVML probe, fit engine's VRAM estimate vs. what llama.cpp
really takes on the GPU, the runner's automatic GPU-layer choice, and decode speed.

Needs a CUDA build of llama-cpp-python and an NVIDIA GPU; on a machine without
one it says so and exits 0. Each case runs in a fresh subprocess so the GPU
memory it takes is measured from NVML's device-wide "used" figure (the CUDA
context of that process included, as the estimate includes it).

Usage: python bench/gpu_offload.py [MODEL.gguf] [--ctx 2048 8192]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

CHILD = r"""
import json, sys, time
import pynvml, llama_cpp
path, n_ctx, layers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pynvml.nvmlInit()
handle = pynvml.nvmlDeviceGetHandleByIndex(0)
used = lambda: pynvml.nvmlDeviceGetMemoryInfo(handle).used
before = used()
llm = llama_cpp.Llama(model_path=path, n_ctx=n_ctx, n_gpu_layers=layers, n_batch=512,
                      n_ubatch=512, verbose=False)
tokens = [(1000 + 7919 * i) % (llm.n_vocab() - 1000) + 1000 for i in range(min(n_ctx - 1, 2047))]
llm.eval(tokens)
loaded = used()
llm.reset()
started = time.perf_counter()
out = llm.create_completion("Once upon a time", max_tokens=128, temperature=0.0)
elapsed = time.perf_counter() - started
n = out["usage"]["completion_tokens"]
print(json.dumps({"before": before, "after": loaded, "tok_s": n / elapsed, "tokens": n}))
"""


def measure(model: Path, n_ctx: int, layers: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(model), str(n_ctx), str(layers)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": (out.stderr or out.stdout).strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    from tui_llm.machine.fit import ModelShape, estimate, suggest_gpu_layers
    from tui_llm.models.gguf import read_gguf
    from tui_llm.machine.hardware import probe

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", type=Path)
    parser.add_argument("--ctx", type=int, nargs="+", default=[2048, 8192])
    args = parser.parse_args(argv)
    if args.model is None:
        from testmodel import fetch_test_model

        args.model = fetch_test_model()
    hardware = probe()
    print("hardware:", json.dumps(hardware.as_dict(), default=str))
    if not hardware.gpus:
        print(f"no GPU ({hardware.gpu_note}): nothing to measure")
        return 0
    import llama_cpp

    print("llama.cpp GPU offload supported:", bool(llama_cpp.llama_supports_gpu_offload()))
    shape = ModelShape.from_gguf(read_gguf(args.model))
    full = shape.n_layers + 1
    print(f"model: {args.model.name}, {shape.n_layers} layers (+ output = {full})")
    print(f"{'n_ctx':>6} {'layers':>6} {'est VRAM MB':>12} {'real MB':>8} {'error':>7} {'tok/s':>7}")
    for n_ctx in args.ctx:
        auto = suggest_gpu_layers(shape, hardware, n_ctx)
        print(f"suggested GPU layers at n_ctx {n_ctx}: {auto} of {full}")
        for layers in (0, full // 2, full):
            need = estimate(shape, n_ctx, layers).vram_bytes
            got = measure(args.model, n_ctx, layers)
            if "error" in got:
                print(f"{n_ctx:>6} {layers:>6} failed: {got['error']}")
                continue
            real = got["after"] - got["before"]
            error = (need - real) / real * 100 if real else float("nan")
            print(f"{n_ctx:>6} {layers:>6} {need / 1e6:>12.1f} {real / 1e6:>8.1f} "
                  f"{error:>6.1f}% {got['tok_s']:>7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
