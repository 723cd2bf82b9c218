"""Papermill-compatible parameters: typed literals per kernel language and cell injection.

The cell tagged ``parameters`` holds the notebook's defaults; the job's values go into a new cell
tagged ``injected-parameters`` right after it (or at the top when no cell is tagged). Re-running an
output notebook replaces the earlier injected cell instead of stacking another one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import nbformat

from primehub_jobs_contract.errors import InvalidRequest

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"


class UnsupportedLanguage(InvalidRequest):
    """Parameters were given for a kernel language without a translator."""


def _python_literal(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return f"float({str(value)!r})"
        return repr(value)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_python_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(
            f"{_python_literal(str(k))}: {_python_literal(v)}" for k, v in value.items()
        )
        return "{" + items + "}"
    raise TypeError(f"cannot translate {type(value).__name__} to Python")


def _r_string(value: str) -> str:
    return json.dumps(value)  # JSON string escapes are valid R string escapes


def _r_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return f"{value}L" if abs(value) < 2**31 else repr(float(value))
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("Inf" if value > 0 else "-Inf")
    if isinstance(value, str):
        return _r_string(value)
    if isinstance(value, list | tuple):
        return "list(" + ", ".join(_r_literal(v) for v in value) + ")"
    if isinstance(value, dict):
        items = ", ".join(f"{_r_string(str(k))} = {_r_literal(v)}" for k, v in value.items())
        return "list(" + items + ")"
    raise TypeError(f"cannot translate {type(value).__name__} to R")


# language (lower case, as in kernel.json) -> (literal translator, comment prefix)
TRANSLATORS: dict[str, tuple[Callable[[Any], str], str]] = {
    "python": (_python_literal, "#"),
    "r": (_r_literal, "#"),
}


def supported_languages() -> list[str]:
    """Kernel languages that accept parameters."""
    return sorted(TRANSLATORS)


def check_language(language: str | None, parameters: dict[str, Any]) -> None:
    """Refuse parameters for a language we cannot write literals for."""
    if not parameters:
        return
    if (language or "").lower() not in TRANSLATORS:
        raise UnsupportedLanguage(
            f"Parameters are not supported for kernel language '{language}'; "
            f"supported languages: {', '.join(supported_languages())}. "
            "Submit without parameters or use a kernel of a supported language."
        )


def translate(parameters: dict[str, Any], language: str) -> str:
    """Source of the injected cell: one ``name = literal`` line per parameter."""
    literal, comment = TRANSLATORS[language.lower()]
    lines = [f"{comment} Parameters"]
    lines += [f"{name} = {literal(value)}" for name, value in parameters.items()]
    return "\n".join(lines) + "\n"


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def inject_parameters(
    nb: nbformat.NotebookNode, parameters: dict[str, Any], language: str
) -> int | None:
    """Insert the injected-parameters cell in place; return its index (None if no parameters).

    Earlier injected cells (from a previous run of an output notebook) are removed first.
    """
    nb.cells = [cell for cell in nb.cells if INJECTED_TAG not in _tags(cell)]
    if not parameters:
        return None
    check_language(language, parameters)
    cell = nbformat.v4.new_code_cell(source=translate(parameters, language))
    cell.metadata["tags"] = [INJECTED_TAG]
    position = 0
    for index, existing in enumerate(nb.cells):
        if PARAMETERS_TAG in _tags(existing):
            position = index + 1
            break
    nb.cells.insert(position, cell)
    return position
