"""What can go wrong talking to a remote server, each worded for the user."""

from __future__ import annotations

from tui_llm.engine.contract import RunnerError


class RemoteError(RunnerError):
    """A problem talking to a remote server, worded for the user."""


class ServerUnreachableError(RemoteError):
    pass


class ServerTimeoutError(RemoteError):
    pass


class AuthenticationError(RemoteError):
    pass


class ModelNotFoundError(RemoteError):
    pass


class EndpointNotFoundError(RemoteError):
    pass


class RequestRejectedError(RemoteError):
    pass


class ServerError(RemoteError):
    pass


class MalformedResponseError(RemoteError):
    pass


class ConnectionLostError(RemoteError):
    pass
