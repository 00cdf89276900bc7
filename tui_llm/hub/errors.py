"""Why a hub request or a download did not end in a verified file."""

from __future__ import annotations


class DownloadError(Exception):
    """A download that did not end in a verified file; the message says why."""


class HubUnreachable(DownloadError):
    """The hub could not be connected to at all (offline, DNS, refused)."""

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(f"The hub at {endpoint} cannot be reached: {reason}")
        self.endpoint = endpoint
        self.reason = reason


class RepoUnavailable(DownloadError):
    """The repository does not exist on the hub, or is private or gated."""


class DownloadCancelled(DownloadError):
    """Stopped on request; the bytes so far are kept for a later resume."""


class VerificationError(DownloadError):
    """The bytes do not match the hub's size or SHA-256; they were deleted."""


class NotEnoughSpace(DownloadError):
    pass


class UnsafeFilename(DownloadError, ValueError):
    pass
