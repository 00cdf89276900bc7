"""Models in formats tui-llm cannot run (Transformers, GPTQ, AWQ, EXL2, PyTorch, old GGML): found and explained."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys

import pytest

from model_folders import ggml_bytes, safetensors_bytes, transformers_folder
from test_local_models import by_name, hf_cache_entry, put
from tui_llm.models.formats import gguf_search_hint, identify, identify_file
from tui_llm.models.local import SOURCE_EXTRA, SOURCE_HF, Places, discover


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui_llm", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ})


def test_each_format_is_named_with_what_it_needs_and_the_gguf_way(tmp_path):
    gptq = identify(transformers_folder(tmp_path / "Llama-2-7B-Chat-GPTQ", {"quant_method": "gptq", "bits": 4}))
    assert gptq.kind == "GPTQ" and "NVIDIA GPU" in gptq.needs
    assert gptq.base_name == "Llama-2-7B-Chat"
    assert gptq.gguf_way == f"Get a GGUF of it instead: {gguf_search_hint('Llama-2-7B-Chat')}."
    assert "Llama-2-7B-Chat" in gguf_search_hint("Llama-2-7B-Chat")
    awq = identify(transformers_folder(tmp_path / "Mistral-7B-AWQ", {"quant_method": "awq"}))
    assert awq.kind == "AWQ" and awq.base_name == "Mistral-7B"
    exl2 = identify(transformers_folder(tmp_path / "Qwen2-7B-exl2_4.0bpw", extra=("measurement.json",)))
    assert exl2.kind == "EXL2" and "ExLlamaV2" in exl2.needs and exl2.base_name == "Qwen2-7B"
    plain = identify(transformers_folder(tmp_path / "Phi-3-mini", weights="pytorch_model.bin"))
    assert plain.kind == "Transformers" and "LlamaForCausalLM" in plain.what
    assert "convert_hf_to_gguf.py" in plain.needs

    for magic in (b"ggml", b"ggmf", b"ggjt"):
        old = identify(put(tmp_path / f"old-{magic.decode()}.bin", ggml_bytes(magic)))
        assert old.kind == "GGML" and f"'{magic.decode()}'" in old.what and "cannot load it" in old.needs
    loose = identify(put(tmp_path / "loose" / "adapter.safetensors", safetensors_bytes()))
    assert loose.kind == "safetensors"
    # A weights file inside a Transformers folder stands for the folder.
    assert identify(tmp_path / "Mistral-7B-AWQ" / "model.safetensors").kind == "AWQ"


def test_lookalikes_are_not_taken_for_models(tmp_path):
    assert identify_file(put(tmp_path / "notes.bin", b"just some text")) is None
    assert identify_file(put(tmp_path / "fake.safetensors", struct.pack("<Q", 10**9) + b"{")) is None
    # A GGUF repo that ships a config.json is a GGUF folder, not a Transformers one.
    folder = transformers_folder(tmp_path / "repo")
    put(folder / "model-Q4_K_M.gguf", b"GGUF" + bytes(40))
    assert identify(folder) is None
    put(tmp_path / "bare" / "config.json", b'{"hidden_size": 8}')
    put(tmp_path / "bare" / "weights.safetensors", safetensors_bytes())
    assert identify(tmp_path / "bare").kind == "safetensors"  # not a model config: the file alone


def test_discovery_lists_them_as_not_runnable_with_the_gguf_way(tmp_path):
    extra = tmp_path / "models"
    transformers_folder(extra / "TheBloke" / "Llama-2-7B-GPTQ", {"quant_method": "gptq", "bits": 4})
    transformers_folder(extra / "plain-model")
    put(extra / "llama-7b.ggmlv3.q4_0.bin", ggml_bytes(b"ggjt"))
    put(extra / "readme.txt", b"hello")
    cache = tmp_path / "hf"
    hf_cache_entry(cache, "TheBloke/Mistral-7B-AWQ", "config.json",
                   json.dumps({"model_type": "mistral", "quantization_config": {"quant_method": "awq"}}).encode())
    hf_cache_entry(cache, "TheBloke/Mistral-7B-AWQ", "model.safetensors", safetensors_bytes())

    found = by_name(discover(places=Places(extra_dirs=[extra], hf_caches=[cache])))
    assert set(found) == {"TheBloke/Llama-2-7B-GPTQ", "plain-model", "llama-7b.ggmlv3.q4_0.bin",
                          "TheBloke/Mistral-7B-AWQ"}
    gptq = found["TheBloke/Llama-2-7B-GPTQ"]
    assert not gptq.usable and gptq.format == "GPTQ" and gptq.source == SOURCE_EXTRA
    assert gptq.problem.startswith("not runnable here: GPTQ")
    assert gptq.size == len(safetensors_bytes())
    assert gptq.to_dict()["gguf_way"] == f"Get a GGUF of it instead: {gguf_search_hint('Llama-2-7B')}."
    assert found["llama-7b.ggmlv3.q4_0.bin"].format == "GGML"
    awq = found["TheBloke/Mistral-7B-AWQ"]
    assert awq.source == SOURCE_HF and awq.format == "AWQ" and awq.foreign.base_name == "Mistral-7B"


@pytest.mark.parametrize("command", [["chat", "--prompt", "hi", "--model"], ["fit"], ["--model"]])
def test_a_foreign_model_given_to_the_cli_is_explained_with_exit_code_2(tmp_path, command):
    folder = transformers_folder(tmp_path / "Llama-2-7B-GPTQ", {"quant_method": "gptq"})
    old = put(tmp_path / "llama.bin", ggml_bytes(b"ggmf"))
    for target, words in ((folder, "GPTQ-quantized"), (folder / "model.safetensors", "GPTQ-quantized"),
                          (old, "old GGML file ('ggmf')")):
        done = run_cli(*command, str(target))
        assert done.returncode == 2, done.stderr
        assert words in done.stderr and "not runnable here" in done.stderr
        assert "Get a GGUF of it instead" in done.stderr
        assert "Traceback" not in done.stderr


def test_models_command_prints_the_explanation(tmp_path, isolated_home):
    from tui_llm import locations

    transformers_folder(locations.models_dir() / "Mistral-7B-AWQ", {"quant_method": "awq"})
    done = run_cli("models")
    assert done.returncode == 0, done.stderr
    assert "not runnable here: AWQ-quantized" in done.stdout
    assert "needs an NVIDIA GPU" in done.stdout and "Mistral-7B" in done.stdout
    assert "0 usable model(s), 1 with problems" in done.stdout


def test_the_search_name_drops_the_format_and_quantization():
    from tui_llm.models.formats import ForeignModel

    names = {"llama-7b.ggmlv3.q4_0.bin": "llama-7b", "TheBloke/Llama-2-13B-chat-GPTQ": "Llama-2-13B-chat",
             "Qwen2-7B-exl2_4.0bpw": "Qwen2-7B", "phi-2": "phi-2", "Mistral-7B-v0.1-AWQ": "Mistral-7B-v0.1"}
    assert {n: ForeignModel("x", n, "", "").base_name for n in names} == names


async def test_the_local_models_screen_explains_them_and_does_not_open_them(tmp_path):
    from textual.widgets import OptionList, Static

    from helpers import wait_until
    from tui_llm.app_factory import make_app
    from tui_llm.config import AppConfig
    from tui_llm.ui.screens.local_models import LocalModelsScreen

    extra = tmp_path / "elsewhere"
    folder = transformers_folder(extra / "Llama-2-7B-Chat-GPTQ", {"quant_method": "gptq", "bits": 4})
    app = make_app(config=AppConfig(extra_model_dirs=[extra]))
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_registered("local-models")
        await wait_until(pilot, lambda: isinstance(app.screen, LocalModelsScreen) and app.screen.scanned)
        screen = app.screen
        listing = screen.query_one(OptionList)
        option = listing.get_option(f"foreign:{folder}")
        assert "Llama-2-7B-Chat-GPTQ  (GPTQ, folder" in str(option.prompt)
        assert "not runnable here" in str(option.prompt)
        listing.highlighted = listing.get_option_index(f"foreign:{folder}")
        await pilot.pause()
        detail = screen.query_one("#local-detail", Static)
        assert detail.display
        text = str(detail.render())
        assert "NVIDIA GPU" in text and gguf_search_hint("Llama-2-7B-Chat") in text
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen
        assert "0 usable, 1 that cannot be used" in str(screen.query_one("#local-hint", Static).render())
