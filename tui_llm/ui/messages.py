"""Messages that workers post back to the UI."""

from __future__ import annotations

from textual.message import Message


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


class StarterReady(Message):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
