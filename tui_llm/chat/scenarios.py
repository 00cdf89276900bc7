"""Start scenarios for adventure mode: a title, the Memory that frames the game, the opening text.

The app ships a few in ``presets/scenarios/``; the user's own ``*.toml`` files
in the config dir's ``scenarios/`` folder are offered beside them (one with
the same file name replaces the shipped one). A file that cannot be read is
skipped with its reason, never fatal.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path

from tui_llm import locations
from tui_llm.chat.sessions import Session

KNOWN_KEYS = {"title", "memory", "opening", "authors_note", "game_preamble"}


class ScenarioError(ValueError):
    """A scenario file that cannot be used, worded for the user."""


@dataclass(frozen=True)
class Scenario:
    name: str  # the file name without .toml
    title: str
    memory: str
    opening: str
    authors_note: str = ""
    game_preamble: bool = True
    origin: str = "built-in"

    def start(self, session: Session) -> None:
        """Set an empty session up: Memory, the note, the preamble, and the opening as its first reply."""
        session.memory, session.authors_note = self.memory, self.authors_note
        session.game_preamble = self.game_preamble
        session.title = session.title or self.title
        session.add("assistant", self.opening)


def scenario_from_dict(data: dict, name: str, origin: str = "built-in") -> Scenario:
    unknown = set(data) - KNOWN_KEYS
    if unknown:
        raise ScenarioError(f"unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(KNOWN_KEYS))})")
    values = {}
    for key in ("title", "memory", "opening", "authors_note"):
        value = data.get(key, "")
        if not isinstance(value, str):
            raise ScenarioError(f"'{key}' is not text")
        values[key] = value.strip()
    if not values["title"] or not values["opening"]:
        raise ScenarioError("a scenario needs a title and an opening")
    preamble = data.get("game_preamble", True)
    if not isinstance(preamble, bool):
        raise ScenarioError("'game_preamble' is not true or false")
    return Scenario(name, game_preamble=preamble, origin=origin, **values)


def user_scenarios_dir() -> Path:
    return locations.config_dir() / "scenarios"


def _read(directory: Traversable, origin: str) -> tuple[dict[str, Scenario], list[str]]:
    found: dict[str, Scenario] = {}
    problems: list[str] = []
    for path in locations.toml_files(directory):
        name = path.name.removesuffix(".toml")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            found[name] = scenario_from_dict(data, name, origin)
        except (tomllib.TOMLDecodeError, ScenarioError, OSError, UnicodeDecodeError) as exc:
            problems.append(f"scenario {path.name} skipped: {exc}")
    return found, problems


def load_scenarios(user_dir: Path | None = None) -> tuple[list[Scenario], list[str]]:
    """The shipped scenarios and the user's, by title, with any problems found."""
    scenarios, problems = _read(locations.presets_dir() / "scenarios", "built-in")
    user, user_problems = _read(user_dir or user_scenarios_dir(), "user")
    scenarios.update(user)
    return sorted(scenarios.values(), key=lambda s: s.title.lower()), problems + user_problems
