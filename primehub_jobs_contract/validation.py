"""PURE rules of a job request, shared by the server's and the hub service's submit handlers.

One wording for every field error: ``'<field>' must ...``, naming what to change.
"""

from __future__ import annotations

import json
import keyword
import math
import re
from collections.abc import Iterable
from typing import Any

from .errors import InvalidRequest

JOB_ID = re.compile(r"^[0-9a-f]{12}$")
MAX_NAME_LENGTH = 200
MAX_TEXT_LENGTH = 1024
MAX_PARAMETERS = 200
MAX_PARAMETER_DEPTH = 20
MAX_PARAMETERS_BYTES = 64 * 1024  # as JSON: they travel in the job's spec and every listing
MAX_SECONDS = 366 * 86400  # a year and a day: longer is a typo
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def new_job_id() -> str:
    """A fresh job id (12 lower-case hex characters, what :data:`JOB_ID` accepts)."""
    import secrets

    return secrets.token_hex(6)


def require_object(body: Any) -> dict[str, Any]:
    """The request body must be a JSON object."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return body


def reject_unknown(body: dict[str, Any], allowed: Iterable[str]) -> None:
    """Unknown fields are refused (a typo must not be silently ignored)."""
    allowed = set(allowed)
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidRequest(
            f"Unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}."
        )


def text(body: dict[str, Any], key: str, limit: int = MAX_TEXT_LENGTH) -> str | None:
    """An optional string field, stripped; "" -> None; no control characters."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"'{key}' must be a string, got {type(value).__name__}.")
    value = value.strip()
    if len(value) > limit:
        raise InvalidRequest(f"'{key}' must be at most {limit} characters.")
    if any(ord(ch) < 32 for ch in value):
        raise InvalidRequest(f"'{key}' must not contain control characters.")
    return value or None


def name(body: dict[str, Any]) -> str | None:
    """The job's display name."""
    return text(body, "name", MAX_NAME_LENGTH)


def job_id(body: dict[str, Any]) -> str | None:
    """A job id chosen by the caller (it names a folder: strictly 12 lower-case hex)."""
    value = text(body, "id", 64)
    if value is not None and not JOB_ID.match(value):
        raise InvalidRequest("'id' must be 12 lower-case hexadecimal characters.")
    return value


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def sha256(body: dict[str, Any], key: str) -> str | None:
    """An optional SHA-256 digest in lower-case hex."""
    value = text(body, key, 64)
    if value is not None and not _SHA256.match(value):
        raise InvalidRequest(f"'{key}' must be a SHA-256 digest (64 lower-case hex characters).")
    return value


def seconds(body: dict[str, Any], key: str, maximum: float = MAX_SECONDS) -> float | None:
    """An optional positive, finite number of seconds up to ``maximum``."""
    value = body.get(key)
    if value is None:
        return None
    # bool is an int subclass: "timeout": true is a mistake, not 1 second.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"'{key}' must be a number of seconds, got {value!r}.")
    if not math.isfinite(value) or value <= 0:
        raise InvalidRequest(f"'{key}' must be a positive number of seconds, got {value!r}.")
    if value > maximum:
        raise InvalidRequest(f"'{key}' must be at most {maximum:g} seconds, got {value!r}.")
    return float(value)


def check_parameter_value(name: str, value: Any, depth: int = 0) -> None:
    """Raise InvalidRequest unless ``value`` is a JSON literal every kernel language can take."""
    if depth > MAX_PARAMETER_DEPTH:
        raise InvalidRequest(f"Parameter '{name}' is nested too deeply.")
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRequest(f"Parameter '{name}' must be a finite number.")
        return
    if isinstance(value, list):
        for item in value:
            check_parameter_value(name, item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidRequest(f"Parameter '{name}' has a non-string key.")
            check_parameter_value(name, item, depth + 1)
        return
    raise InvalidRequest(f"Parameter '{name}' has an unsupported type {type(value).__name__}.")


def parameters(value: Any) -> dict[str, Any]:
    """Parameters: a JSON object of identifier names to JSON literals (None -> {})."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest(
            "'parameters' must be a JSON object such as {\"alpha\": 0.1}, "
            f"got {type(value).__name__}."
        )
    if len(value) > MAX_PARAMETERS:
        raise InvalidRequest(f"At most {MAX_PARAMETERS} parameters are allowed.")
    for key, item in value.items():
        if not _PARAM_NAME.match(key):
            raise InvalidRequest(
                f"Parameter name '{key}' is not a valid variable name "
                "(letters, digits and underscores, not starting with a digit)."
            )
        if keyword.iskeyword(key):  # soft keywords (match, case, _) are valid names
            raise InvalidRequest(
                f"Parameter name '{key}' is a Python keyword; choose another name."
            )
        check_parameter_value(key, item)
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > MAX_PARAMETERS_BYTES:
        raise InvalidRequest(
            f"'parameters' must be at most {MAX_PARAMETERS_BYTES // 1024} KiB as JSON, got "
            f"{size // 1024} KiB; pass large data as a file in the group volume instead."
        )
    return dict(value)
