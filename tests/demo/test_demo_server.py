"""The demo server through its HTTP API: bad uploads answered with a reason, no path from a client
reaching the disk, separate results for concurrent users, temporary files removed at shutdown."""

from __future__ import annotations

import io
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from demo_support import call, call_json, image, png_bytes, style_folder, wait_for_job
from PIL import Image
from support import style_checkpoint

from clipstyler_fast.demo.server import DemoServer
from clipstyler_fast.infer.stylizer import Stylizer


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return style_folder(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def server(ckpt_dir: Path):
    with DemoServer(ckpt_dir, port=0, max_upload=200_000, max_pixels=256 * 256).start() as demo:
        yield demo


def styles(server: DemoServer) -> dict[str, str]:
    """Prompt -> style id, as the page gets them."""
    status, listing = call_json(server.url, "GET", "/api/styles")
    assert status == 200 and listing["problems"] == []
    return {style["prompt"]: style["id"] for style in listing["styles"]}


def new_job(server: DemoServer, **settings: object) -> str:
    status, answer = call_json(server.url, "POST", "/api/jobs", {"style": styles(server)["Mosaic"], **settings})
    assert status == 200, answer
    return answer["id"]


def test_bad_uploads_are_answered_with_the_reason_and_the_server_keeps_serving(server: DemoServer) -> None:
    job = new_job(server)
    truncated = png_bytes(64, 64, seed=1)[:500]
    bad = {
        "notes.jpg": (b"this is not an image\n", 400, "notes.jpg: not an image"),
        "cut.png": (truncated, 400, "cut.png: unreadable or truncated"),
        "empty.png": (b"", 400, "empty.png: empty file"),
        "huge.png": (png_bytes(300, 300, seed=2), 400, "huge.png: 300x300 exceeds the pixel limit of 65536"),
        "big.bmp": (b"B" * 300_000, 413, "larger than the limit of 0.190735 MB"),
    }
    for name, (data, expected, message) in bad.items():
        status, answer = call_json(server.url, "POST", f"/api/jobs/{job}/images?name={name}", body=data)
        assert status == expected and message in (answer.get("error") or ""), (name, answer)
    cmyk = io.BytesIO()
    image(png_bytes(40, 24, seed=3)).convert("CMYK").save(cmyk, "JPEG")
    status, answer = call_json(server.url, "POST", f"/api/jobs/{job}/images?name=good.jpg", body=cmyk.getvalue())
    assert status == 200, answer
    state = wait_for_job(server.url, job)
    assert [item["state"] for item in state["items"]] == ["failed"] * 4 + ["done"]
    for kind in ("photo", "result"):
        status, data, _ = call(server.url, "GET", f"/api/jobs/{job}/images/4/{kind}")
        assert status == 200 and (image(data).size, image(data).mode) == ((40, 24), "RGB")
    for settings, message in (({"strength": 3}, "strength 3 is outside [0, 1]"), ({"style": "nope"}, "unknown style")):
        status, answer = call_json(server.url, "POST", "/api/jobs", {"style": styles(server)["Mosaic"], **settings})
        assert status == 400 and message in answer["error"]


def test_no_path_from_a_client_reaches_the_disk(server: DemoServer, ckpt_dir: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    job = new_job(server)
    for path in (
        "/../../../../etc/passwd",
        f"/..%2F..%2F..{secret}",
        "/page.html",
        "/api/styles/../../checkpoints/mosaic/style.ckpt",
        f"/api/jobs/{job}/images/..%2F..%2F..%2Fetc%2Fpasswd/result",
        f"/api/jobs/{job}/images/-1/photo",
        "/api/jobs/..%2Fmosaic/zip",
        f"/api/jobs/{job}/..",
        f"/api/jobs/{server.jobs.root}/zip",
    ):
        status, body, _ = call(server.url, "GET", path)
        assert status == 404 and b"do not serve" not in body and b"root:" not in body, path
    for style in ("../checkpoints/mosaic/style.ckpt", str(ckpt_dir / "mosaic" / "style.ckpt"), "mosaic"):
        status, answer = call_json(server.url, "POST", "/api/jobs", {"style": style})
        assert status == 400 and "unknown style" in answer["error"]
    status, answer = call_json(server.url, "POST", f"/api/jobs/{job}/images?name=../../escape.png", body=png_bytes(24, 16, 4))
    assert status == 200 and answer["name"] == "escape.png"
    wait_for_job(server.url, job)
    assert not (server.jobs.root.parent / "escape.png").exists() and not list(server.jobs.root.rglob("escape*"))
    status, _, headers = call(server.url, "GET", f"/api/jobs/{job}/images/0/result?download=1")
    assert status == 200 and headers["Content-Disposition"] == 'attachment; filename="escape-stylized.png"'


def test_two_users_at_once_get_their_own_results(server: DemoServer, ckpt_dir: Path) -> None:
    photos = {"a": png_bytes(48, 32, seed=10), "b": png_bytes(32, 48, seed=11)}
    jobs: dict[str, str] = {}
    strengths = {"a": 1.0, "b": 0.5}

    def user(name: str) -> None:
        job = new_job(server, strength=strengths[name])
        for _ in range(2):  # same upload name in both sessions
            assert call_json(server.url, "POST", f"/api/jobs/{job}/images?name=photo.png", body=photos[name])[0] == 200
        jobs[name] = job

    threads = [threading.Thread(target=user, args=(name,)) for name in photos]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert jobs["a"] != jobs["b"]
    stylizer = Stylizer.from_checkpoint(ckpt_dir / "mosaic" / "style.ckpt")
    for name, job in jobs.items():
        assert [item["state"] for item in wait_for_job(server.url, job)["items"]] == ["done", "done"]
        photo = Image.open(io.BytesIO(photos[name]))
        full = np.asarray(stylizer(photo)).astype(float)
        expected = full if strengths[name] == 1 else (np.asarray(photo) + full) / 2
        status, data, _ = call(server.url, "GET", f"/api/jobs/{job}/zip")
        assert status == 200
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert archive.namelist() == ["photo-stylized.png", "photo-1-stylized.png"]
            for member in archive.namelist():
                result = np.asarray(Image.open(io.BytesIO(archive.read(member)))).astype(float)
                assert result.shape == expected.shape and np.abs(result - expected).max() <= 1, (name, member)


def test_temporary_folder_is_removed_at_shutdown(ckpt_dir: Path) -> None:
    demo = DemoServer(ckpt_dir, port=0).start()
    root = demo.jobs.root
    status, answer = call_json(demo.url, "POST", "/api/jobs", {"style": styles(demo)["Mosaic"]})
    call_json(demo.url, "POST", f"/api/jobs/{answer['id']}/images?name=p.png", body=png_bytes(16, 16, 5))
    wait_for_job(demo.url, answer["id"])
    assert root.is_dir() and any(root.rglob("*.png"))
    demo.close()
    assert not root.exists()


def test_an_any_prompt_checkpoint_stylizes_with_the_typed_prompt(tmp_path: Path, any_prompt_ckpt: Path) -> None:
    folder = tmp_path / "checkpoints" / "any-prompt"
    folder.mkdir(parents=True)
    (folder / "style.ckpt").write_bytes(any_prompt_ckpt.read_bytes())
    with DemoServer(tmp_path / "checkpoints", port=0).start() as demo:
        status, listing = call_json(demo.url, "GET", "/api/styles")
        (style,) = listing["styles"]
        assert status == 200 and style["takes_prompt"] and style["network"] == "conditioned"
        status, answer = call_json(demo.url, "POST", "/api/jobs", {"style": style["id"], "prompt": "  "})
        assert status == 400 and "takes a prompt" in answer["error"]
        results = {}
        for prompt in ("Red", "Mosaic"):
            status, answer = call_json(demo.url, "POST", "/api/jobs", {"style": style["id"], "prompt": prompt})
            assert status == 200, answer
            call_json(demo.url, "POST", f"/api/jobs/{answer['id']}/images?name=p.png", body=png_bytes(40, 32, 5))
            state = wait_for_job(demo.url, answer["id"])
            assert state["items"][0]["state"] == "done", state
            status, raw, _ = call(demo.url, "GET", f"/api/jobs/{answer['id']}/images/0/result")
            results[prompt] = np.asarray(Image.open(io.BytesIO(raw)).convert("RGB")).astype(int)
    expected = Stylizer.from_checkpoint(any_prompt_ckpt, prompt="Red")(Image.open(io.BytesIO(png_bytes(40, 32, 5))))
    assert np.abs(results["Red"] - np.asarray(expected).astype(int)).max() <= 1
    assert np.abs(results["Red"] - results["Mosaic"]).mean() > 0.5


def stylized(url: str, job: str, photo: bytes) -> np.ndarray:
    """The job's stylization of ``photo``, as uploaded through the API and read back."""
    assert call_json(url, "POST", f"/api/jobs/{job}/images?name=p.png", body=photo)[0] == 200
    state = wait_for_job(url, job)
    assert state["items"][-1]["state"] == "done", state
    status, data, _ = call(url, "GET", f"/api/jobs/{job}/images/{len(state['items']) - 1}/result")
    assert status == 200
    return np.asarray(image(data).convert("RGB")).astype(int)


def test_preserve_colors_is_read_strictly_and_the_string_false_means_false(server: DemoServer) -> None:
    for value, expected in (
        (False, False),
        ("false", False),
        ("No", False),
        ("0", False),
        (True, True),
        ("TRUE", True),
        ("yes", True),
        ("1", True),
    ):
        job = new_job(server, preserve_colors=value)
        assert server.jobs.get(job).preserve_colors is expected, value
    for value in ("maybe", "", "falsey", 2, None, ["false"]):
        status, answer = call_json(server.url, "POST", "/api/jobs", {"style": styles(server)["Mosaic"], "preserve_colors": value})
        error = answer.get("error") or ""
        assert status == 400 and "preserve_colors" in error and "\n" not in error, (value, answer)
    photo = png_bytes(40, 32, seed=12)
    as_string = stylized(server.url, new_job(server, preserve_colors="false"), photo)
    plain = stylized(server.url, new_job(server, preserve_colors=False), photo)
    kept = stylized(server.url, new_job(server, preserve_colors=True), photo)
    assert np.array_equal(as_string, plain)
    assert np.abs(kept - plain).mean() > 1


def test_a_distilled_student_is_listed_beside_the_styles_and_stylizes(tmp_path: Path, ckpt_dir: Path) -> None:
    folder = tmp_path / "checkpoints"
    (folder / "mosaic").mkdir(parents=True)
    (folder / "mosaic" / "style.ckpt").write_bytes((ckpt_dir / "mosaic" / "style.ckpt").read_bytes())
    student = style_checkpoint(tmp_path / "made", "Mosaic", 3, student=True)
    (folder / "mosaic-student").mkdir()
    (folder / "mosaic-student" / "student.ckpt").write_bytes(student.read_bytes())
    with DemoServer(folder, port=0).start() as demo:
        status, listing = call_json(demo.url, "GET", "/api/styles")
        assert status == 200 and listing["problems"] == []
        offered = {(style["label"], style["network"], style["prompt"]): style["id"] for style in listing["styles"]}
        assert set(offered) == {("mosaic", "decoder", "Mosaic"), ("mosaic-student (student)", "student", "Mosaic")}
        status, answer = call_json(demo.url, "POST", "/api/jobs", {"style": offered[("mosaic-student (student)", "student", "Mosaic")]})
        assert status == 200, answer
        photo = png_bytes(40, 32, seed=13)
        result = stylized(demo.url, answer["id"], photo)
    expected = np.asarray(Stylizer.from_checkpoint(student)(image(photo))).astype(int)
    assert result.shape == expected.shape and np.abs(result - expected).max() <= 1
