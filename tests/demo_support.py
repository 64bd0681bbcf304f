"""Shared helpers of the demo tests: a folder of quick style checkpoints, photo bytes, and small
HTTP calls to a running demo."""

from __future__ import annotations

import http.client
import io
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from PIL import Image
from support import make_photo, style_checkpoint


def style_folder(root: Path) -> Path:
    """``root/checkpoints`` holding two quick styles, ``mosaic/style.ckpt`` and ``sketch/style.ckpt``."""
    folder = root / "checkpoints"
    for name, prompt, seed in (("mosaic", "Mosaic", 2), ("sketch", "Sketch with black pencil", 5)):
        source = style_checkpoint(root / "weights", prompt, seed)
        (folder / name).mkdir(parents=True, exist_ok=True)
        (folder / name / "style.ckpt").write_bytes(source.read_bytes())
    return folder


def png_bytes(width: int, height: int, seed: int) -> bytes:
    buffer = io.BytesIO()
    make_photo(width, height, seed).save(buffer, "PNG")
    return buffer.getvalue()


def call(url: str, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes, dict[str, str]]:
    """One request with ``path`` sent exactly as given (no normalisation); ``(status, body, headers)``."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "application/octet-stream"} if body is not None else {})
        response = connection.getresponse()
        return response.status, response.read(), dict(response.headers)
    finally:
        connection.close()


def call_json(url: str, method: str, path: str, payload: Any = None, body: bytes | None = None) -> tuple[int, Any]:
    data = json.dumps(payload).encode() if payload is not None else body
    status, raw, _ = call(url, method, path, data)
    return status, json.loads(raw)


def wait_for_job(url: str, job: str, timeout: float = 60) -> dict[str, Any]:
    """The job's status once every photo is stylized or failed."""
    deadline = time.monotonic() + timeout
    while True:
        status, state = call_json(url, "GET", f"/api/jobs/{job}")
        assert status == 200, state
        if state["finished"] == state["total"]:
            return state
        assert time.monotonic() < deadline, state
        time.sleep(0.1)


def image(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))
