"""The domain never imports Textual, and importing it loads no engine."""

import subprocess
import sys

CORE_MODULES = [
    "tui_llm.cli",
    "tui_llm.config",
    "tui_llm.locations",
    "tui_llm.engine.llama",
    "tui_llm.engine.sampler",
    "tui_llm.engine.load_settings",
    "tui_llm.prompts.templates",
    "tui_llm.hub.starter",
    "tui_llm.app_factory",
]


def _imported_after(modules: list[str]) -> set[str]:
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + "print('\\n'.join(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_core_modules_do_not_import_textual():
    import pkgutil

    import tui_llm
    import tui_llm.commands

    modules = list(CORE_MODULES)
    for info in pkgutil.iter_modules(tui_llm.__path__):
        if info.name not in {"ui", "__main__"}:
            modules.append(f"tui_llm.{info.name}")
    for info in pkgutil.iter_modules(tui_llm.commands.__path__):
        modules.append(f"tui_llm.commands.{info.name}")
    loaded = _imported_after(sorted(set(modules)))
    assert "textual" not in loaded
    assert "llama_cpp" not in loaded, "llama_cpp must be imported lazily"


def test_ui_does_import_textual():
    # The check above can fail: importing the UI does pull Textual in.
    assert "textual" in _imported_after(["tui_llm.ui.app"])
