"""Settings that persist: config.toml on real files, per-model overrides, broken files, load settings."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tui_llm import locations
from tui_llm.app_factory import make_app
from tui_llm.config import (
    AppConfig,
    ConfigError,
    ModelOverrides,
    load_config,
    save_config,
)
from tui_llm.engine.load_settings import (
    FIELD_HELP,
    LoadSettings,
    LoadSettingsError,
    changed_fields,
    needs_reload,
    parse_value,
)
from tui_llm.engine.sampler import SamplerSettings, get_sampler_preset


def full_config() -> AppConfig:
    config = AppConfig(
        sampler=SamplerSettings(temperature=0.7, min_p=0.05, stop=("\n\nUser:",)),
        load=LoadSettings(n_ctx=2048, n_gpu_layers=12, flash_attn=True, kv_cache_type="q8_0"),
        models_dir=Path("/data/models"),
        extra_model_dirs=[Path("/mnt/more")],
        keymap={"chat.stop": "ctrl+x"},
        sampler_preset="creative",
    )
    config.set_overrides("a.gguf", ModelOverrides(template="alpaca", sampler_preset="precise", n_ctx=8192))
    config.set_overrides("b.gguf", ModelOverrides(n_gpu_layers=0))
    config.extra["from_a_newer_version"] = {"box": {"url": "http://127.0.0.1:8080"}}
    return config


def test_config_round_trips_through_the_file():
    path = locations.config_file()
    saved = full_config()
    save_config(saved, path)
    loaded = load_config(path)
    assert loaded.problems == [] and not loaded.read_failed
    for name in ("sampler", "load", "models_dir", "extra_model_dirs", "keymap", "sampler_preset", "models"):
        assert getattr(loaded, name) == getattr(saved, name), name
    # Sections this version does not know survive a save.
    assert loaded.extra == {"from_a_newer_version": {"box": {"url": "http://127.0.0.1:8080"}}}
    text = path.read_text(encoding="utf-8")
    assert '[models."a.gguf"]' in text and 'preset = "creative"' in text


def test_config_lives_in_xdg_config_home_unless_tui_llm_config_names_a_file(tmp_path, monkeypatch):
    monkeypatch.delenv("TUI_LLM_HOME")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert locations.config_file() == tmp_path / "xdg" / "tui-llm" / "config.toml"

    custom = tmp_path / "elsewhere" / "mine.toml"
    monkeypatch.setenv("TUI_LLM_CONFIG", str(custom))
    assert locations.config_file() == custom
    save_config(AppConfig(sampler=SamplerSettings(temperature=0.25)))
    assert custom.is_file()
    assert make_app().config.sampler.temperature == 0.25


def test_per_model_overrides_apply_to_that_model_only():
    config = full_config()
    assert config.load_for("/models/a.gguf").n_ctx == 8192
    assert config.load_for("/models/a.gguf").n_gpu_layers == 12
    assert config.load_for("b.gguf").n_gpu_layers == 0
    assert config.load_for("other.gguf") == config.load
    assert config.load_for(None) == config.load
    assert config.sampler_for("a.gguf") == get_sampler_preset("precise").settings
    assert config.sampler_for("b.gguf") == config.sampler
    config.set_overrides("b.gguf", ModelOverrides())
    assert "b.gguf" not in config.models


BROKEN_SYNTAX = """\
[sampler]
temperature = 0.5

[load]
n_ctx = = 4096
"""


def test_corrupt_file_is_reported_with_its_line_and_never_overwritten():
    path = locations.config_file()
    path.parent.mkdir(parents=True)
    path.write_text(BROKEN_SYNTAX, encoding="utf-8")

    config = load_config(path)
    assert config == AppConfig(source=path, problems=config.problems, read_failed=True)  # all defaults
    assert len(config.problems) == 1
    assert f"{path}, line 5:" in config.problems[0]
    assert "using defaults" in config.problems[0]

    config.sampler = SamplerSettings(temperature=0.9)
    with pytest.raises(ConfigError, match="kept as it is"):
        save_config(config, path)
    assert path.read_text(encoding="utf-8") == BROKEN_SYNTAX

    # Saving on purpose keeps the broken file next to the new one.
    save_config(config, path, replace_broken=True)
    assert (path.parent / "config.toml.broken").read_text(encoding="utf-8") == BROKEN_SYNTAX
    assert load_config(path).sampler.temperature == 0.9


def test_bad_value_names_its_line_and_keeps_the_good_sections():
    path = locations.config_file()
    path.parent.mkdir(parents=True)
    path.write_text(
        textwrap.dedent(
            """\
            # tuned by hand
            [load]
            n_ctx = 2048

            [sampler]
            temperature = 0.8
            min_p = 3

            [models."x.gguf"]
            template = "chatml"
            n_gpu_layers = -7
            """
        ),
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.load.n_ctx == 2048
    assert config.sampler == SamplerSettings()
    assert config.models == {}
    assert len(config.problems) == 2
    assert "line 7: [sampler] min_p must be between 0 and 1, got 3" in config.problems[0]
    assert "line 11: [models] x.gguf: GPU layers" in config.problems[1]
    assert config.read_failed


def test_text_that_is_not_utf8_is_reported_with_its_line():
    path = locations.config_file()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"[sampler]\ntemperature = 0.5\n# \xff\xfe\n")
    config = load_config(path)
    assert "line 3: not UTF-8" in config.problems[0]


def test_wrong_types_are_problems_not_crashes():
    path = locations.config_file()
    path.parent.mkdir(parents=True)
    path.write_text('sampler = 3\nkeymap = {a = 1}\n[paths]\nmodels_dir = 5\n', encoding="utf-8")
    config = load_config(path)
    assert len(config.problems) == 3
    assert [p.split(": [")[0].rsplit(", ", 1)[1] for p in config.problems] == ["line 1", "line 2", "line 4"]


def test_a_failed_write_leaves_the_old_file_whole(tmp_path):
    """A disk that fills up mid-save: the old config survives, no temp file is left."""
    path = tmp_path / "config.toml"
    save_config(AppConfig(sampler=SamplerSettings(temperature=0.3)), path)
    before = path.read_bytes()
    child = textwrap.dedent(
        f"""
        import resource, signal, sys
        from pathlib import Path
        from tui_llm.config import AppConfig, save_config
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        config = AppConfig(keymap={{f"action.{{i}}": "ctrl+x" for i in range(5000)}})
        try:
            save_config(config, Path({str(path)!r}))
        except OSError as exc:
            print("refused:", exc)
            sys.exit(0)
        sys.exit("the oversized write succeeded")
        """
    )
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "refused" in result.stdout
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]


# -- load settings -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n_ctx": 8}, "context size"),
        ({"n_gpu_layers": -2}, "GPU layers"),
        ({"n_threads": 0}, "threads"),
        ({"n_batch": 0}, "batch size"),
        ({"kv_cache_type": "q2"}, "KV cache type must be one of"),
        ({"kv_cache_type": "q8_0"}, "needs flash attention"),
        ({"rope_freq_scale": -1.0}, "rope_freq_scale"),
        ({"flash_attn": "yes"}, "flash_attn must be true or false"),
    ],
)
def test_bad_load_settings_are_refused(changes, message):
    with pytest.raises(LoadSettingsError, match=message):
        LoadSettings().with_changes(**changes)


def test_load_settings_parse_auto_and_report_what_needs_a_reload():
    assert parse_value("n_gpu_layers", "auto") is None
    assert parse_value("n_threads", "") is None
    assert parse_value("flash_attn", "on") is True
    assert parse_value("rope_freq_scale", "0.5") == 0.5
    assert set(FIELD_HELP) == set(LoadSettings.__dataclass_fields__)
    old = LoadSettings()
    assert not needs_reload(old, LoadSettings())
    assert not needs_reload(None, old)  # nothing loaded: nothing to reload
    new = old.with_changes(n_ctx=8192, rope_freq_base=20000.0)
    assert needs_reload(old, new)
    assert changed_fields(old, new) == ["n_ctx", "rope_freq_base"]


@pytest.mark.model
def test_quantized_kv_cache_rule_matches_llama_cpp(model_path):
    """llama.cpp itself refuses a quantized V cache without flash attention; with it, it loads."""
    import llama_cpp

    with pytest.raises(ValueError):
        llama_cpp.Llama(str(model_path), n_ctx=256, type_k=8, type_v=8, flash_attn=False, verbose=False)
    llm = llama_cpp.Llama(str(model_path), n_ctx=256, type_k=8, type_v=8, flash_attn=True, verbose=False)
    llm.close()
    LoadSettings(kv_cache_type="q8_0", flash_attn=True)  # and our rule accepts it
