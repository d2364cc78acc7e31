"""A tiny HTTP server on 127.0.0.1 for download tests (no internet)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FileServer:
    """Serves ``files[path] = (bytes, mode)``; mode ``ok``, ``truncated`` (announces the full
    length, sends half) or ``missing`` (404). ``hits[path]`` counts requests."""

    def __init__(self):
        self.files: dict[str, tuple[bytes, str]] = {}
        self.hits: dict[str, int] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                outer.hits[path] = outer.hits.get(path, 0) + 1
                body, mode = outer.files.get(path, (b"", "missing"))
                if mode == "missing":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                name = path.rsplit("/", 1)[-1]
                if path.startswith("/dataPortal/") and not name.endswith(".fits"):
                    name += ".fits"  # ESO's dataPortal serves an ADP id as <id>.fits
                self.send_header("Content-Disposition", f'attachment; filename="{name}"')
                self.end_headers()
                self.wfile.write(body if mode == "ok" else body[: len(body) // 2])
                if mode == "truncated":
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
