"""Front end: size of our built labextension assets next to jupyter-scheduler's.

jupyter-scheduler's wheel is downloaded into a temporary folder with ``pip download`` (never
installed) and its ``share/jupyter/labextensions/*/static`` measured the same way as ours.
"""

from __future__ import annotations

import argparse
import gzip
import subprocess
import sys
import zipfile
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.report import Row, Section

OURS = Path(__file__).resolve().parent.parent / "jupyterlab_primehub" / "labextension" / "static"
PEER_PACKAGE = "jupyter_scheduler"


def measure(files: dict[str, bytes]) -> dict[str, float]:
    """Raw bytes, gzip bytes (what a browser downloads from a compressing proxy), file count,
    and the JavaScript part alone."""
    js = {n: b for n, b in files.items() if n.endswith(".js")}
    return {
        "files": float(len(files)),
        "bytes": float(sum(len(b) for b in files.values())),
        "gzip_bytes": float(sum(len(gzip.compress(b, 9)) for b in files.values())),
        "js_bytes": float(sum(len(b) for b in js.values())),
    }


def our_files(static: Path = OURS) -> dict[str, bytes]:
    """Our built assets (``pip install -e .`` or ``jlpm build`` writes them)."""
    if not static.is_dir():
        raise FileNotFoundError(f"{static} missing: build the lab extension (make setup)")
    return {str(p.relative_to(static)): p.read_bytes() for p in static.rglob("*") if p.is_file()}


def peer_files(tmp: Path) -> tuple[dict[str, bytes], str]:
    """The static assets inside jupyter-scheduler's wheel, and the wheel's file name."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
         "--quiet", "--dest", str(tmp), PEER_PACKAGE],
        check=True,
    )  # fmt: skip
    wheel = next(tmp.glob("*.whl"))
    files = {}
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            parts = info.filename.split("/")
            if "labextensions" in parts and "static" in parts and not info.is_dir():
                files[info.filename.split("/static/", 1)[1]] = zf.read(info)
    if not files:
        raise RuntimeError(f"{wheel.name} has no labextension static assets")
    return files, wheel.name


def run(args: argparse.Namespace) -> Section:
    """Measure and return the section."""
    ours = measure(our_files())
    with TemporaryDirectory() as tmp:
        files, wheel = peer_files(Path(tmp))
    peer = measure(files)
    name = "jupyter-scheduler"
    section = Section("frontend", "Front end: built labextension assets")
    section.rows = [
        Row("static assets, raw", ours["bytes"], peer["bytes"], "bytes", name),
        Row("static assets, gzip -9", ours["gzip_bytes"], peer["gzip_bytes"], "bytes", name),
        Row("JavaScript only, raw", ours["js_bytes"], peer["js_bytes"], "bytes", name),
        Row("files", ours["files"], peer["files"], "count", name),
    ]
    section.details = {"ours": ours, "peer": peer, "peer_wheel": wheel}
    return section
