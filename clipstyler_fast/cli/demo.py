"""``clipstyler-fast demo``: a web page on this machine to try the trained styles on photos."""

from __future__ import annotations

import argparse
import signal
import sys

from clipstyler_fast.cli import options, values
from clipstyler_fast.demo.jobs import DEFAULT_MAX_QUEUE
from clipstyler_fast.demo.server import DEFAULT_MAX_REQUESTS

DESCRIPTION = (
    "Serve a web page to stylize photos with the style checkpoints (style.ckpt, and student.ckpt from "
    "distill) found under --ckpt_dir: upload "
    "photos, choose a style, set the strength and colour preservation, compare each photo with its "
    "stylization, and download one result or all of them as a zip. The page is self-contained (it "
    "fetches nothing from the internet). Uploads and results live in a temporary folder that is "
    "removed when the server stops (Ctrl+C). It listens on this machine only (127.0.0.1) unless "
    "--host says otherwise. Under load it answers 503 with Retry-After (the page says to try again) "
    "rather than dropping connections: see --max_requests and --max_queue."
)


def build_parser() -> argparse.ArgumentParser:
    parser = options.parser(
        "demo", DESCRIPTION, ["clipstyler-fast demo", "clipstyler-fast demo --ckpt_dir checkpoints/ --port 8765 --trainer.accelerator cpu"]
    )
    parser.add_argument(
        "--ckpt_dir",
        default="checkpoints",
        help="folder searched recursively for style.ckpt and student.ckpt files and shared style folders (default checkpoints/)",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 opens the page to the network)",
    )
    parser.add_argument("--port", type=values.whole(0, 65535), default=8765, help="port to listen on (default 8765; 0 picks a free one)")
    parser.add_argument("--max_upload_mb", type=values.POSITIVE, default=25, help="largest photo accepted, in megabytes (default 25)")
    parser.add_argument(
        "--data.max_pixels",
        dest="max_pixels",
        type=values.POSITIVE,
        default=4096 * 4096,
        help="largest photo accepted, in pixels (default 4096x4096); larger ones are refused unread",
    )
    parser.add_argument(
        "--max_requests",
        type=values.POSITIVE,
        default=DEFAULT_MAX_REQUESTS,
        help=f"requests handled at once (default {DEFAULT_MAX_REQUESTS}); uploads in memory stay under this times "
        "--max_upload_mb; further requests wait up to a second, then are answered 503 with Retry-After",
    )
    parser.add_argument(
        "--max_queue",
        type=values.POSITIVE,
        default=DEFAULT_MAX_QUEUE,
        help=f"photos waiting to be stylized, all users together (default {DEFAULT_MAX_QUEUE}); "
        "further uploads are answered 503 with Retry-After and the page asks to try again",
    )
    options.add_vgg_weights(parser)
    options.add_device(parser)
    return parser


def main(argv: list[str]) -> int:
    """``clipstyler-fast demo``; serves until Ctrl+C or SIGTERM, then removes its temporary files."""
    args = build_parser().parse_args(argv)
    from clipstyler_fast.demo.server import DemoServer

    server = DemoServer(
        args.ckpt_dir,
        args.host,
        args.port,
        vgg_weights=args.vgg_weights,
        device=options.resolve(args),
        max_upload=args.max_upload_mb * 1024 * 1024,
        max_pixels=args.max_pixels,
        max_requests=args.max_requests,
        max_queue=args.max_queue,
    )

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stops as Ctrl+C does
    styles = server.catalog.scan()
    print(f"{len(styles)} style(s) under {server.catalog.root}", flush=True)
    for problem in server.catalog.problems:
        print(f"warning: skipped {problem}", file=sys.stderr, flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {args.host}: anyone who can reach this machine can use the page", file=sys.stderr, flush=True)
    print(f"serving on {server.url} (Ctrl+C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    print("stopped; temporary files removed", flush=True)
    return 0
