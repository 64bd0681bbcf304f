"""The demo's web server: one self-contained page and a small JSON API, on the standard library's
``ThreadingHTTPServer``.

Routes (nothing else is served; no path from a request ever reaches the file system)::

    GET  /                                  the page (package data: page.html)
    GET  /api/styles                        the styles on offer, the upload limits
    POST /api/jobs                          {"style", "strength", "preserve_colors", "prompt"} -> {"id"}
    POST /api/jobs/<job>/images?name=NAME   one photo as the request body -> its item
    GET  /api/jobs/<job>                    progress: every item's state
    GET  /api/jobs/<job>/images/<i>/photo   the photo as PNG
    GET  /api/jobs/<job>/images/<i>/result  the stylization as PNG (?download=1: as an attachment)
    GET  /api/jobs/<job>/zip                every finished stylization in one zip
"""

from __future__ import annotations

import json
import threading
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from clipstyler_fast.demo.connections import BoundedHandler, BoundedHTTPServer
from clipstyler_fast.demo.jobs import DEFAULT_MAX_PIXELS, DEFAULT_MAX_QUEUE, JobStore
from clipstyler_fast.demo.styles import BusyError, DemoError, StyleCatalog
from clipstyler_fast.errors import ClipstylerError

DEFAULT_MAX_UPLOAD = 25 * 1024 * 1024
# Eight uploads of the largest size in memory at most: 200 MB at the default upload limit.
DEFAULT_MAX_REQUESTS = 8
# The page fetches nothing from elsewhere; the browser is told to refuse it even if asked.
_CSP = "default-src 'self'; img-src 'self' blob: data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'"


class DemoServer:
    """The demo: ``with DemoServer(ckpt_dir, port=0) as server: server.serve_forever()``.

    ``port=0`` picks a free port (see :attr:`url`). :meth:`close` stops serving and removes the
    temporary folder of uploads and results.

    Under load (see :mod:`clipstyler_fast.demo.connections`): ``max_requests`` requests are handled
    at once (so at most ``max_requests * max_upload`` bytes of uploads are in memory) and ``max_queue``
    photos wait to be stylized; beyond either bound a request is answered 503 with ``Retry-After``
    and a JSON ``{"error": ...}``.
    """

    def __init__(
        self,
        ckpt_dir: str | Path,
        host: str = "127.0.0.1",
        port: int = 8765,
        *,
        vgg_weights: str | None = None,
        device: Any = "cpu",
        max_upload: int = DEFAULT_MAX_UPLOAD,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_requests: int = DEFAULT_MAX_REQUESTS,
        max_queue: int = DEFAULT_MAX_QUEUE,
    ) -> None:
        self.catalog = StyleCatalog(ckpt_dir, vgg_weights, device)
        self.catalog.scan()
        self.max_upload = max_upload
        self.jobs = JobStore(self.catalog, max_pixels, max_queue=max_queue)
        self.page = files("clipstyler_fast.demo").joinpath("page.html").read_bytes()
        handler = type("Handler", (_DemoHandler,), {"server_demo": self})
        try:
            self.httpd = BoundedHTTPServer((host, port), handler, max_requests, max_upload)
        except OSError as error:
            self.jobs.close()
            raise DemoError(f"cannot listen on {host}:{port} ({error.strerror or error}); choose another `port`") from None
        except ValueError:  # a bound below 1
            self.jobs.close()
            raise
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> DemoServer:
        """Serve from a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="clipstyler-demo", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
        self.httpd.server_close()
        self.jobs.close()

    def __enter__(self) -> DemoServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def styles(self) -> dict[str, Any]:
        styles = self.catalog.scan()
        limits = {"max_upload": self.max_upload, "max_pixels": self.jobs.max_pixels, "max_images": self.jobs.max_images}
        return {"styles": [s.to_json() for s in styles], "problems": self.catalog.problems, "limits": limits}


class _DemoHandler(BoundedHandler):
    """The routes of the page and its API."""

    server_demo: DemoServer
    server_version = "clipstyler-fast-demo"

    def _file(self, path: Path, download: str | None = None) -> None:
        headers = {"Content-Disposition": f'attachment; filename="{download}"'} if download else None
        self._send(200, path.read_bytes(), "image/png", headers)

    def _route(self) -> tuple[list[str], dict[str, list[str]]]:
        url = urlsplit(self.path)
        return [part for part in url.path.split("/") if part], parse_qs(url.query)

    def _get(self) -> None:
        parts, query = self._route()
        demo = self.server_demo
        try:
            match parts:
                case []:
                    self._send(200, demo.page, "text/html; charset=utf-8", {"Content-Security-Policy": _CSP})
                case ["api", "styles"]:
                    self._json(demo.styles())
                case ["api", "jobs", job]:
                    self._json(demo.jobs.get(job).to_json())
                case ["api", "jobs", job, "zip"]:
                    self._send(
                        200, demo.jobs.archive(job), "application/zip", {"Content-Disposition": 'attachment; filename="stylized.zip"'}
                    )
                case ["api", "jobs", job, "images", index, "photo"]:
                    self._file(demo.jobs.photo(job, index))
                case ["api", "jobs", job, "images", index, "result"]:
                    path, name = demo.jobs.result(job, index)
                    self._file(path, name if query.get("download") == ["1"] else None)
                case _:
                    self._error(404, "not found")
        except DemoError as error:
            self._error(404, str(error))

    def _post(self) -> None:
        parts, query = self._route()
        body = self._body()
        if body is None:
            return
        jobs = self.server_demo.jobs
        try:
            match parts:
                case ["api", "jobs"]:
                    try:
                        settings = json.loads(body or b"{}")
                    except ValueError:
                        settings = None
                    if not isinstance(settings, dict):
                        raise DemoError("the job settings are not a JSON object")
                    job = jobs.create(
                        settings.get("style"), settings.get("strength", 1.0), settings.get("preserve_colors", False), settings.get("prompt")
                    )
                    self._json({"id": job.id})
                case ["api", "jobs", job_id, "images"]:
                    item = jobs.add(job_id, (query.get("name") or ["image"])[0], body)
                    self._json(item.to_json(), 200 if item.state != "failed" else 400)
                case _:
                    self._error(404, "not found")
        except BusyError as error:
            self._busy(str(error))
        except ClipstylerError as error:  # a bad style, strength or job: said on the page
            self._error(400, str(error))
