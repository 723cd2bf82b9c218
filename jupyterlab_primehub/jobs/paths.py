"""Where a submitted notebook may live: inside the server root, optionally a group volume."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from primehub_jobs_contract.errors import Forbidden, InvalidRequest

GROUP_VOLUME_MESSAGE = (
    "Now, we only support the notebook under group volume. "
    "Please move your notebook into your group volume."
)


@dataclass(frozen=True)
class NotebookLocation:
    """A checked notebook: its API path (as the user sees it) and its real file."""

    api_path: str
    real_path: Path

    @property
    def api_dir(self) -> str:
        return os.path.dirname(self.api_path)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def resolve_notebook(
    raw: str, root_dir: str, group_volume_root: str | None = None
) -> NotebookLocation:
    """Check ``raw`` (relative to the root, or absolute inside it) and return its location.

    Symlinks may lead into the group volume root (PrimeHub links ``~/<group>`` there) but
    nowhere else outside the server root.
    """
    if "\x00" in raw:
        raise InvalidRequest("'path' must not contain NUL characters.")
    root = os.path.realpath(root_dir)
    root_lexical = os.path.abspath(root_dir)
    candidate = raw if os.path.isabs(raw) else os.path.join(root_lexical, raw.lstrip("/"))
    normalized = os.path.normpath(candidate)
    if not (_inside(normalized, root_lexical) or _inside(normalized, root)):
        raise InvalidRequest(
            f"'{raw}' is outside the server's root folder; give a path relative to it."
        )
    base = root_lexical if _inside(normalized, root_lexical) else root
    api_path = os.path.relpath(normalized, base).replace(os.sep, "/")
    if api_path == ".":
        raise InvalidRequest("'path' must name a notebook file, not the root folder.")
    real = os.path.realpath(normalized)
    allowed = [root]
    volume = os.path.realpath(group_volume_root) if group_volume_root else None
    if volume:
        allowed.append(volume)
    if not any(_inside(real, folder) for folder in allowed):
        raise Forbidden(f"'{api_path}' links to a location outside the server's root folder.")
    if not os.path.exists(real):
        raise InvalidRequest(f"No such notebook: '{api_path}'.")
    if not os.path.isfile(real) or not real.endswith(".ipynb"):
        raise InvalidRequest(f"'{api_path}' is not a notebook (.ipynb file).")
    if volume and not _inside(real, volume):
        raise InvalidRequest(GROUP_VOLUME_MESSAGE)
    return NotebookLocation(api_path=api_path, real_path=Path(real))


def output_location(notebook: NotebookLocation, file_name: str) -> tuple[str, Path]:
    """API path and real path of a file next to the notebook."""
    if "/" in file_name or os.sep in file_name or file_name in ("", ".", ".."):
        raise InvalidRequest(f"Output file name '{file_name}' must be a plain file name.")
    api = f"{notebook.api_dir}/{file_name}" if notebook.api_dir else file_name
    return api, notebook.real_path.parent / file_name


def trusted_folder(real: Path, root_dir: str, group_volume_root: str | None) -> str:
    """The folder below which a job's files next to ``real`` are written without following
    links: the group's volume (``<group volume root>/<group>``, shared with its members) or the
    server's root."""
    if group_volume_root:
        volume = os.path.realpath(group_volume_root)
        if _inside(str(real), volume) and str(real) != volume:
            group = os.path.relpath(real, volume).split(os.sep, 1)[0]
            return os.path.join(volume, group)
    return os.path.realpath(root_dir)
