"""Messages that workers post back to the UI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from pathlib import Path

    from tui_llm.chat.sessions import SessionSummary
    from tui_llm.engine.sampler import SamplerPreset
    from tui_llm.hub.downloads import DownloadProgress
    from tui_llm.hub.queue import JobStatus
    from tui_llm.models.local import LocalModel
    from tui_llm.prompts.templates import PromptTemplate, TemplateLibrary


class ModelLoadProgress(Message):
    def __init__(self, stage: str, fraction: float) -> None:
        super().__init__()
        self.stage = stage
        self.fraction = fraction

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ModelLoadProgress)


class StarterLog(Message):
    def __init__(self, line: str) -> None:
        super().__init__()
        self.line = line


class StarterProgress(Message):
    """The starter's bytes so far; a newer one replaces a pending one."""

    def __init__(self, progress: "DownloadProgress") -> None:
        super().__init__()
        self.progress = progress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StarterProgress)


class StarterReady(Message):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path


class DownloadUpdated(Message):
    """A download's latest status; a newer one for the same job replaces a pending one."""

    def __init__(self, status: "JobStatus") -> None:
        super().__init__()
        self.status = status

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, DownloadUpdated) and message.status.id == self.status.id


class LocalModelsFound(Message):
    def __init__(self, models: list["LocalModel"]) -> None:
        super().__init__()
        self.models = models


class ModelFilesFound(Message):
    """The GGUF files in the models folder, and whether the starter model is among them."""

    def __init__(self, paths: list["Path"], has_starter: bool) -> None:
        super().__init__()
        self.paths = paths
        self.has_starter = has_starter


class SessionsListed(Message):
    def __init__(self, summaries: list["SessionSummary"]) -> None:
        super().__init__()
        self.summaries = summaries


class ChoicesRead(Message):
    """The sampler presets and prompt templates the settings screen offers, with any problems reading them."""

    def __init__(self, presets: dict[str, "SamplerPreset"], library: "TemplateLibrary", problems: list[str]) -> None:
        super().__init__()
        self.presets = presets
        self.library = library
        self.problems = problems


class TemplateDetected(Message):
    def __init__(self, template: "PromptTemplate", reason: str) -> None:
        super().__init__()
        self.template = template
        self.reason = reason
