"""The demo page in a real browser: headless Chromium, driven by Playwright, against
``python -m clipstyler_fast demo`` started as a user would.

Needs Chromium from the system's packages (``apt-get install -y chromium`` on Debian and Ubuntu;
``.ci/run`` installs it) and Playwright (``pip install -e ".[dev]"``). Playwright's own browser
downloads are not used. ``CHROMIUM=/path/to/chrome`` picks another Chromium-based browser.

``DEMO_SCREENSHOT=docs/demo.png`` also stylizes two of the bundled sample photos and saves a
screenshot of the page there (the one in the README).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from demo_support import style_folder
from PIL import Image
from support import make_photo, start_cli, style_checkpoint

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
INSTALL_CHROMIUM = (
    "this test drives a real browser and needs Chromium: install it with `apt-get install -y chromium` "
    "(Debian/Ubuntu; with sudo when not root), or point CHROMIUM at a Chromium or Chrome executable"
)


def chromium() -> str:
    """The system's Chromium, or a test failure saying how to install it."""
    found = os.environ.get("CHROMIUM") or next(
        (path for name in ("chromium", "chromium-browser", "google-chrome") if (path := shutil.which(name))), None
    )
    if not found or not Path(found).exists():
        pytest.fail(f"Chromium not found: {INSTALL_CHROMIUM}", pytrace=False)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_demo(ckpt_dir: Path) -> tuple[subprocess.Popen[str], str]:
    """``python -m clipstyler_fast demo`` on a free port, once it says it is serving."""
    options = ["--port", str(free_port()), "--ckpt_dir", str(ckpt_dir), "--trainer.accelerator", "cpu"]
    process = start_cli("demo", *options, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        lines.append(line)
        if line.startswith("serving on "):
            return process, line.split()[2]
        if not line and process.poll() is not None:
            break
    process.kill()
    pytest.fail(f"the demo did not start:\n{''.join(lines)}")


def stop_demo(process: subprocess.Popen[str]) -> str:
    process.terminate()
    out, _ = process.communicate(timeout=30)
    return out


def save_screenshot(png: bytes, target: Path) -> None:
    """The page at 80% scale in 256 colours: small enough for the README."""
    import io

    with Image.open(io.BytesIO(png)) as shot:
        small = shot.convert("RGB").resize((shot.width * 4 // 5, shot.height * 4 // 5), Image.LANCZOS)
    small.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(target, optimize=True)


def test_the_demo_page_stylizes_downloads_and_reports_a_bad_upload(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path
) -> None:
    executable = chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail('Playwright is not installed: pip install -e ".[dev]"', pytrace=False)
    root = tmp_path_factory.mktemp("demo-browser")
    ckpt_dir = style_folder(root)
    style_checkpoint(root, "Watercolor", trained=(clip_path, vgg_path, content_dir))  # a checkpoint made by `fit`, beside two written ones
    photo = tmp_path / "photo.png"
    make_photo(72, 40, seed=3).save(photo)
    (tmp_path / "notes.jpg").write_text("this is not an image\n")
    process, url = start_demo(ckpt_dir)
    outside: list[str] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
            page = browser.new_page(accept_downloads=True, viewport={"width": 1100, "height": 760})
            # Anything the page asks of another host (fonts, scripts, analytics) is recorded and refused.
            page.route(
                "**/*",
                lambda route: (
                    route.continue_() if route.request.url.startswith(url) else (outside.append(route.request.url), route.abort())
                ),
            )
            page.goto(url)
            page.wait_for_selector("#style option", state="attached")
            assert page.locator("#prompt-row").is_hidden(), "no prompt box for a one-prompt style"
            page.select_option("#style", label="Watercolor (watercolor)")
            page.set_input_files("#files", [str(photo), str(tmp_path / "notes.jpg")])
            page.click("#run")
            page.wait_for_function(
                "() => { const img = document.querySelector('img.styled'); return img && img.complete && img.naturalWidth > 0; }"
            )
            assert page.eval_on_selector("img.styled", "img => [img.naturalWidth, img.naturalHeight]") == [72, 40]
            page.wait_for_selector(".card.error")
            assert "notes.jpg: not an image" in page.inner_text(".card.error")
            page.wait_for_function("() => document.getElementById('progress-text').textContent === '2 of 2 done'")
            with page.expect_download() as download:
                page.click("a.download")
            assert download.value.suggested_filename == "photo-stylized.png"
            with Image.open(download.value.path()) as result:
                assert result.size == (72, 40)
            if os.environ.get("DEMO_SCREENSHOT"):
                samples = [str(ROOT / "data" / "samples" / name) for name in ("coffee.jpg", "astronaut.jpg")]
                page.set_input_files("#files", [*samples, str(tmp_path / "notes.jpg")])
                page.fill("#strength", "0.8")
                page.click("#run")
                page.wait_for_function("() => document.getElementById('progress-text').textContent === '3 of 3 done'", timeout=120_000)
                page.wait_for_function("() => [...document.querySelectorAll('.pair img')].every(i => i.complete && i.naturalWidth)")
                save_screenshot(page.screenshot(full_page=True), Path(os.environ["DEMO_SCREENSHOT"]))
            browser.close()
    finally:
        log = stop_demo(process)
    assert outside == [], "the page must work offline"
    assert "stopped; temporary files removed" in log, log
