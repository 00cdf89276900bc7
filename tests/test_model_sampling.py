"""The model's own sampler settings (general.sampling.* in the GGUF header), under the user's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gguf_writer import with_extra_keys
from tui_llm.config import AppConfig
from tui_llm.engine.model_sampling import layered, model_values, sources_line
from tui_llm.engine.sampler import SamplerSettings, get_sampler_preset

OWN = {
    "general.sampling.temp": 0.6,
    "general.sampling.top_k": 20,
    "general.sampling.top_p": 0.95,
    "general.sampling.penalty_repeat": 1.05,
    "general.sampling.sequence": "edkpmt",
}


@pytest.fixture(scope="module")
def model_with_settings(model_path, tmp_path_factory):
    return with_extra_keys(model_path, tmp_path_factory.mktemp("own") / "own-sampling.gguf", OWN)


def test_header_values_become_settings_and_bad_ones_are_named():
    values, problems = model_values({**{k: str(v) for k, v in OWN.items()},
                                     "general.sampling.min_p": "lots", "general.sampling.mirostat": "7"})
    assert values == {"temperature": 0.6, "top_k": 20, "top_p": 0.95, "repeat_penalty": 1.05,
                      "sampler_order": "edkpmt"}
    assert len(problems) == 2 and "min_p" in problems[0] and "mirostat" in problems[1]
    assert model_values({"general.sampling.sequence": "penalties;top_k;temperature"})[0] == {
        "sampler_order": "ekt"}


def test_the_user_wins_then_the_model_then_the_preset():
    preset = get_sampler_preset("min_p").settings
    mine = preset.with_changes(top_k=5)
    sourced = layered(preset, mine, {"general.sampling.temp": 0.25, "general.sampling.top_k": 40})
    assert sourced.settings.temperature == 0.25 and sourced.sources["temperature"] == "model"
    assert sourced.settings.top_k == 5 and sourced.sources["top_k"] == "user"
    assert sourced.settings.min_p == preset.min_p and sourced.sources["min_p"] == "preset"
    assert "from the model: temperature" in sources_line(sourced)
    # A preset the user picked wins over the model.
    picked = layered(preset, mine, {"general.sampling.temp": 0.25}, model_applies=False)
    assert picked.settings.temperature == preset.temperature


def test_config_layers_over_the_default_preset_only():
    config = AppConfig()
    meta = {"general.sampling.temp": "0.300000"}
    assert config.reply_sampler(None, meta).settings.temperature == 0.3
    config.sampler_preset, config.sampler = "precise", get_sampler_preset("precise").settings
    assert config.reply_sampler(None, meta).settings.temperature == 0.5
    assert config.reply_sampler(None, None).settings == config.sampler


def test_cli_json_reports_where_each_value_came_from(model_with_settings, isolated_home):
    done = subprocess.run(
        [sys.executable, "-m", "tui_llm", "chat", "--model", str(model_with_settings), "--ctx", "512",
         "--max-tokens", "8", "--seed", "3", "--json", "--prompt", "Say hi."],
        capture_output=True, text=True, timeout=300, env={**os.environ, "TUI_LLM_HOME": str(isolated_home)},
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["sampler"]["temperature"] == 0.6 and result["sampler_sources"]["temperature"] == "model"
    assert result["sampler"]["sampler_order"] == "edkpmt"
    assert result["sampler_sources"]["seed"] == "user" and result["sampler"]["seed"] == 3
    assert result["sampler_sources"]["min_p"] == "preset"
    assert SamplerSettings(**result["sampler"]).top_k == 20
