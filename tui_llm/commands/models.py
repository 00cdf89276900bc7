"""``tui-llm models``: the GGUF models already on this machine, from every known place."""

from __future__ import annotations

import argparse
import json

NAME = "models"
HELP = ("list GGUF models on disk (tui-llm, huggingface cache, LM Studio, Ollama, extra folders), "
        "and models in other formats with the way to a GGUF of them")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the list as JSON")
    parser.add_argument("--check", action="store_true", help="also read each header to find truncated files")


def run(args: argparse.Namespace) -> int:
    from tui_llm import locations
    from tui_llm.config import load_config
    from tui_llm.units import human_size
    from tui_llm.models.local import default_places, discover

    config = load_config(locations.config_file())
    places = default_places(config)
    models = discover(places=places, check=args.check)
    if args.json:
        print(json.dumps([m.to_dict() for m in models], indent=1))
        return 0
    if not models:
        searched = (
            places.models_dirs + places.extra_dirs + places.hf_caches
            + places.lmstudio_dirs + places.ollama_dirs
        )
        print("No GGUF models found. Looked in:")
        for folder in searched:
            print(f"  {folder}")
        return 0
    for model in models:
        mark = " " if model.usable else "!"
        print(f"{mark} {model.source:<12} {human_size(model.size):>9}  {model.name}")
        print(f"    {model.path}")
        if model.foreign:
            print(f"    not runnable here: {model.foreign.what}")
            print(f"    {model.foreign.needs}.")
            print(f"    {model.foreign.gguf_way}")
        elif model.problem:
            print(f"    cannot be used: {model.problem}")
    usable = sum(m.usable for m in models)
    print(f"{usable} usable model(s), {len(models) - usable} with problems")
    return 0
