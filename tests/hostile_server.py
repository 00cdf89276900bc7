"""An OpenAI-compatible server on 127.0.0.1 that misbehaves on purpose.

``/v1/models`` answers normally; a completion request gets the behaviour named
by ``mode``:

- ``escapes``: a short streamed reply full of terminal escape sequences
- ``endless``: a streamed reply that ignores ``max_tokens`` and never ends
- ``long_line``: one ``data:`` line that grows without a newline
- ``echo_auth``: 401, with the request's Authorization header in the body
- ``huge_json``: a non-streamed JSON reply that never ends
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ESCAPES = ["Hello", "\x1b[2J", "\x1b]0;owned\x07", " world", "\x1b[31m!"]


def _chunk(text: str) -> bytes:
    body = {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
    return f"data: {json.dumps(body)}\n\n".encode()


class _Handler(BaseHTTPRequestHandler):
    server: "HostileServer._Server"

    def log_message(self, *args) -> None:
        pass

    def _json(self, code: int, payload: object) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": "hostile", "object": "model"}]})
        else:
            self._json(404, {"error": "not here"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.requests.append(json.loads(self.rfile.read(length) or b"{}"))
        mode = self.server.mode
        if mode == "echo_auth":
            self._json(401, {"error": {"message": f"bad key in {self.headers.get('Authorization')}"}})
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json" if mode == "huge_json" else "text/event-stream")
        self.end_headers()
        try:
            if mode == "escapes":
                for piece in ESCAPES:
                    self.wfile.write(_chunk(piece))
                self.wfile.write(b"data: [DONE]\n\n")
            elif mode == "endless":
                while not self.server.stopping.is_set():
                    self.wfile.write(_chunk("again "))
                    self.server.sent += 1
            elif mode in ("long_line", "huge_json"):
                self.wfile.write(b"data: " if mode == "long_line" else b'{"choices": [{"text": "')
                block = b"a" * 65536
                while not self.server.stopping.is_set():
                    self.wfile.write(block)
                    self.server.sent += len(block)
        except (BrokenPipeError, ConnectionResetError):
            pass


class HostileServer:
    class _Server(ThreadingHTTPServer):
        daemon_threads = True
        mode = "escapes"
        sent = 0

    def __init__(self, mode: str) -> None:
        self._server = self._Server(("127.0.0.1", 0), _Handler)
        self._server.mode = mode
        self._server.requests = []
        self._server.stopping = threading.Event()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def sent(self) -> int:
        return self._server.sent

    @property
    def requests(self) -> list:
        return self._server.requests

    def __enter__(self) -> "HostileServer":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
