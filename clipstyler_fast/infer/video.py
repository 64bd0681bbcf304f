"""``clipstyler-fast video``: stylize a video frame by frame, keeping its timing, size and audio.

Frames are decoded with PyAV (the optional ``video`` extra), stylized in batches and re-encoded;
every frame keeps its own timestamp, so the frame rate (constant or variable) is unchanged. The
audio track, when there is one, is copied packet by packet without re-encoding. The output is
written to a temporary file next to the target and renamed over it only when complete.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clipstyler_fast.errors import VideoError
from clipstyler_fast.infer.stylizer import Stylizer, to_uint8
from clipstyler_fast.infer.temporal import PreviousFrameBlend
from clipstyler_fast.io.atomic import atomic_write_path

INSTALL_HINT = 'pip install "clipstyler-fast[video]"'
# A frame's and a stream's colour description.
COLOUR_TAGS = ("colorspace", "color_range", "color_primaries", "color_trc")


def require_av() -> Any:
    """Import PyAV, or raise a one-line :class:`VideoError` saying how to install it."""
    try:
        import av
    except ImportError:
        raise VideoError(f"video support needs PyAV, which is not installed; install it with {INSTALL_HINT}") from None
    return av


def ffmpeg_reason(error: Exception) -> str:
    """FFmpeg's words for an error, without the internal error code and the repeated path
    (``[Errno 1094995529] Invalid data found when processing input: 'x.mp4'`` -> ``invalid data found ...``)."""
    reason = getattr(error, "strerror", None) or str(error)
    return reason[:1].lower() + reason[1:]


def open_video(av: Any, path: Path) -> Any:
    """``path`` opened for reading, or a one-line :class:`VideoError` when FFmpeg cannot read it or it holds no video."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as error:
        raise VideoError(
            f"{path}: not a video FFmpeg can read ({ffmpeg_reason(error)}); pass a video file such as .mp4, .mkv or .mov"
        ) from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: has no video stream")
    return container


class _Transcoder:
    """One input container to one output container: stylized video, copied audio."""

    def __init__(self, av: Any, source: Path, target: Path, codec: str, crf: int, keep_audio: bool, name: Path) -> None:
        """``name`` is what error messages call the output (``target`` is a temporary file)."""
        self.av = av
        self.input = open_video(av, source)
        self.video_in = self.input.streams.video[0]
        self.video_in.thread_type = "AUTO"
        self.audio_in = self.input.streams.audio[0] if keep_audio and self.input.streams.audio else None
        try:
            self.output = av.open(str(target), mode="w")
        except (av.error.FFmpegError, ValueError) as error:
            self.input.close()
            raise VideoError(
                f"{name}: cannot write this container ({ffmpeg_reason(error)}); use an output name ending in .mp4, .mkv or .mov"
            ) from None
        rate = self.video_in.average_rate or self.video_in.guessed_rate or Fraction(25)
        try:
            self.video_out = self.output.add_stream(codec, rate=rate)
        except (av.error.FFmpegError, ValueError) as error:
            self.close()
            raise VideoError(
                f"cannot encode with codec {codec!r} ({ffmpeg_reason(error)}); pick another `codec`, e.g. libx264 or mpeg4"
            ) from None
        width, height = self.video_in.codec_context.width, self.video_in.codec_context.height
        self.video_out.width, self.video_out.height = width, height
        # 4:2:0 chroma needs even sides; odd-sized videos keep full chroma instead.
        self.video_out.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        # Encoding in the input's time base keeps every frame's timestamp exactly (variable rates too).
        self.video_out.codec_context.time_base = self.video_out.time_base = self.video_in.time_base
        if codec in ("libx264", "h264", "libx265", "hevc"):
            self.video_out.options = {"crf": str(crf)}
        # The output is tagged with the input's colour description, and frames are converted with it.
        for tag in COLOUR_TAGS:
            setattr(self.video_out.codec_context, tag, getattr(self.video_in.codec_context, tag))
        self.audio_out = None
        if self.audio_in is not None:
            try:
                self.audio_out = self.output.add_stream_from_template(self.audio_in)
            except (av.error.FFmpegError, ValueError) as error:
                self.close()
                raise VideoError(
                    f"{name}: the {name.suffix or 'output'} container cannot hold the {self.audio_in.codec_context.name} "
                    f"audio of {source} ({ffmpeg_reason(error)}); use a .mkv output, or drop the sound with `audio` false"
                ) from None

    def frames(self) -> Iterator[tuple[str, Any]]:
        """Decoded video frames and raw audio packets, in file order."""
        streams = [self.video_in] + ([self.audio_in] if self.audio_in is not None else [])
        for packet in self.input.demux(*streams):
            if packet.stream.index == self.video_in.index:
                for frame in packet.decode():
                    yield "video", frame
            elif packet.dts is not None:  # the demuxer's final empty flush packet is not data
                yield "audio", packet

    def mux_audio(self, packet: Any) -> None:
        packet.stream = self.audio_out
        self.output.mux(packet)

    def encode(self, frame: Any | None) -> None:
        for packet in self.video_out.encode(frame):
            self.output.mux(packet)

    def close(self, quiet: bool = False) -> None:
        """Close both files; ``quiet`` when already failing, so the first error is the one reported."""
        self.input.close()
        try:
            self.output.close()
        except self.av.error.FFmpegError:
            if not quiet:
                raise


def _matrix(av: Any, colorspace: int) -> Any:
    """The swscale YUV<->RGB matrix for a frame's colour space (FFmpeg's default when unknown)."""
    known = {1: "ITU709", 4: "FCC", 5: "ITU601", 6: "SMPTE170M", 7: "SMPTE240M", 9: "BT2020", 10: "BT2020"}
    name = known.get(int(colorspace))
    return getattr(av.video.reformatter.Colorspace, name) if name else None


def to_rgb(av: Any, frame: Any) -> np.ndarray:
    """A decoded frame as ``(H, W, 3)`` uint8 RGB, converted with the frame's own matrix and range."""
    return frame.to_ndarray(format="rgb24", src_colorspace=_matrix(av, frame.colorspace), src_color_range=frame.color_range or None)


def from_rgb(av: Any, pixels: np.ndarray, like: Any, pix_fmt: str) -> Any:
    """``(H, W, 3)`` uint8 RGB as a frame in ``pix_fmt`` with the colour description and timing of ``like``."""
    frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
    frame = frame.reformat(format=pix_fmt, dst_colorspace=_matrix(av, like.colorspace), dst_color_range=like.color_range or None)
    for tag in COLOUR_TAGS:
        setattr(frame, tag, getattr(like, tag))
    if like.pts is not None:
        frame.pts, frame.time_base = like.pts, like.time_base
    return frame


@torch.no_grad()
def _stylize_frames(
    av: Any, stylizer: Stylizer, frames: list[Any], device: torch.device, blend: PreviousFrameBlend | None = None
) -> list[np.ndarray]:
    array = np.stack([to_rgb(av, f) for f in frames])
    images = torch.from_numpy(array).to(device).permute(0, 3, 1, 2).float().div_(255)
    out = stylizer(images).clamp(0, 1)
    out = blend(images, out) if blend is not None else out
    return list(to_uint8(out).permute(0, 2, 3, 1).cpu().numpy())


def probe_video(path: str | Path) -> None:
    """Fail fast, before any model is loaded, when ``path`` is not a readable video."""
    av = require_av()
    path = Path(path).expanduser()
    if not path.is_file():
        raise VideoError(f"{path}: video not found; check the path")
    open_video(av, path).close()


def _checked_paths(source: str | Path, target: str | Path, batch_size: int) -> tuple[Path, Path]:
    """The input and output paths, once the input exists, differs from the output and the batch is positive."""
    source, target = Path(source).expanduser(), Path(target).expanduser()
    if not source.is_file():
        raise VideoError(f"{source}: video not found; check the path")
    if source.resolve() == target.resolve():
        raise VideoError(f"{target}: the output would overwrite the input; pick another output name")
    if batch_size < 1:
        raise VideoError(f"`batch_size` {batch_size} must be at least 1")
    return source, target


def _frame_bar(stream: Any, source: Path, show: bool) -> Any:
    """A progress bar over the video stream's frames (counted in its header, else estimated), on stderr if ``show``."""
    from tqdm import tqdm

    total = int(stream.frames) if stream.frames else None
    if total is None and stream.duration is not None and stream.time_base is not None and stream.average_rate:
        total = max(1, round(float(stream.duration * stream.time_base * stream.average_rate)))
    return tqdm(total=total, desc=f"stylizing {source.name}", unit="frame", file=sys.stderr, disable=not show)


def stylize_video(
    stylizer: Stylizer,
    source: str | Path,
    target: str | Path,
    batch_size: int = 8,
    codec: str = "libx264",
    crf: int = 18,
    keep_audio: bool = True,
    progress: bool = True,
    temporal_blend: float = 0.0,
) -> Path:
    """Stylize ``source`` into ``target`` (same size, timing and audio); returns ``target``.

    ``temporal_blend`` above 0 blends every frame with the previous output moved by the picture's
    global motion (:class:`~clipstyler_fast.infer.temporal.PreviousFrameBlend`), with that weight.
    ``target`` appears only once complete: the video is written to a temporary file in the same
    folder and renamed over it.
    """
    av = require_av()
    source, target = _checked_paths(source, target, batch_size)
    device = next(stylizer.parameters()).device

    def write(tmp: Path) -> None:
        transcoder = _Transcoder(av, source, tmp, codec, crf, keep_audio, target)
        bar = _frame_bar(transcoder.video_in, source, progress)
        pending: list[Any] = []
        blend = PreviousFrameBlend(temporal_blend) if temporal_blend > 0 else None

        def flush() -> None:
            for frame, pixels in zip(pending, _stylize_frames(av, stylizer, pending, device, blend)):
                transcoder.encode(from_rgb(av, pixels, frame, transcoder.video_out.pix_fmt))
            bar.update(len(pending))
            pending.clear()

        try:
            for kind, item in transcoder.frames():
                if kind == "audio":
                    transcoder.mux_audio(item)
                    continue
                pending.append(item)
                if len(pending) == batch_size:
                    flush()
            if pending:
                flush()
            transcoder.encode(None)
        except BaseException as error:
            transcoder.close(quiet=True)
            if isinstance(error, av.error.FFmpegError):
                raise VideoError(f"{source}: failed while transcoding ({ffmpeg_reason(error)})") from None
            raise
        finally:
            bar.close()
        transcoder.close()

    # The container is chosen from the name, so the temporary keeps the target's suffix.
    atomic_write_path(target, write, suffix=target.suffix or ".mp4")
    return target
