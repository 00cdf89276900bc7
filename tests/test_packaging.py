"""The built wheel carries the catalog and the presets, and an installed copy reads them.

Slow (builds the wheel, fetching hatchling into pip's isolated build
environment), so it is marked ``packaging``; it still runs in the normal suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parent.parent

# Run by the installed copy, from a folder outside the source tree.
PROBE = """
import json
from pathlib import Path

import tui_llm
from tui_llm import locations
from tui_llm.chat.scenarios import load_scenarios
from tui_llm.engine.sampler import load_sampler_presets
from tui_llm.models.catalog import load_catalog
from tui_llm.models.info import ModelInfo
from tui_llm.prompts.templates import detect_template, load_library

library = load_library()
samplers, sampler_problems = load_sampler_presets()
gemma = ModelInfo(path=Path("gemma-2-2b-it-Q4_K_M.gguf"), name="gemma-2-2b-it-Q4_K_M",
                  architecture="", n_ctx=8192, n_ctx_train=8192, embedded_template=None)
template, reason = detect_template(gemma)
scenarios, scenario_problems = load_scenarios()
print(json.dumps({
    "package": tui_llm.__file__,
    "data": str(locations.package_data()),
    "catalog": len(load_catalog()),
    "templates": sorted(library.templates),
    "template_problems": library.problems,
    "samplers": sorted(samplers),
    "sampler_problems": sampler_problems,
    "gemma": [template.name, reason],
    "scenarios": sorted(s.name for s in scenarios),
    "scenario_problems": scenario_problems,
}))
"""


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
                   check=True, timeout=600)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _pip("wheel", "--no-deps", str(ROOT), "-w", str(out))
    (built,) = out.glob("tui_llm-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> dict:
    target = tmp_path_factory.mktemp("site")
    _pip("install", "--no-deps", "--target", str(target), str(wheel))
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    env = {**os.environ, "PYTHONPATH": str(target),
           "TUI_LLM_HOME": str(elsewhere / "home")}
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return {"target": target, **json.loads(done.stdout)}


def _source_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(ROOT).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_the_wheel_carries_the_catalog_and_every_preset_file(wheel):
    expected = {"catalog.toml": (ROOT / "catalog.toml").read_bytes(), **_source_files(ROOT / "presets")}
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for name, content in expected.items():
            assert f"tui_llm/data/{name}" in names
            assert archive.read(f"tui_llm/data/{name}") == content
        assert "tui_llm/ui/app.tcss" in names


def test_the_installed_copy_reads_its_own_data(installed):
    target = installed["target"]
    assert Path(installed["package"]).is_relative_to(target)
    assert Path(installed["data"]) == target / "tui_llm" / "data"


def test_the_installed_copy_loads_the_whole_catalog(installed):
    from tui_llm.models.catalog import load_catalog

    assert installed["catalog"] == len(load_catalog(ROOT / "catalog.toml")) > 0


def test_the_installed_copy_loads_every_preset(installed):
    from tui_llm.engine.sampler import load_sampler_presets
    from tui_llm.prompts.templates import load_library

    assert installed["template_problems"] == [] and installed["sampler_problems"] == []
    assert len(installed["templates"]) == len(list((ROOT / "presets" / "templates").glob("*.toml")))
    assert len(installed["samplers"]) == len(list((ROOT / "presets" / "samplers").glob("*.toml")))
    assert installed["templates"] == sorted(load_library().templates)
    assert installed["samplers"] == sorted(load_sampler_presets()[0])
    assert installed["scenario_problems"] == []
    assert installed["scenarios"] == sorted(p.stem for p in (ROOT / "presets" / "scenarios").glob("*.toml"))


def test_the_installed_copy_names_gemma_without_an_embedded_template(installed):
    name, reason = installed["gemma"]
    assert name == "gemma"
    assert reason.startswith("guessed from the name")
