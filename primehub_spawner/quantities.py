"""Kubernetes resource quantities (CPU, memory, GPU) as plain numbers, and back to text.

The catalog, the quota check and the pod builder all speak in these numbers, so a
limit written as ``"500m"`` in one place and ``0.5`` in another compare equal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?|\.[0-9]+)(m|Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")


class QuantityError(ValueError):
    """A resource quantity that cannot be understood; the message says what was expected."""


def parse_cpu(value: object) -> float:
    """CPU cores from ``2``, ``0.5``, ``"500m"`` or ``"1.5"``."""
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a CPU amount (use e.g. 1, 0.5 or 500m)")
    if isinstance(value, int | float):
        cores = float(value)
    elif isinstance(value, str) and (m := _QUANTITY.match(value.strip())):
        number, suffix = float(m.group(1)), m.group(2) or ""
        if suffix == "m":
            cores = number / 1000
        elif suffix in _DECIMAL:
            cores = number * _DECIMAL[suffix]
        else:
            raise QuantityError(f"{value!r} is not a CPU amount (use e.g. 1, 0.5 or 500m)")
    else:
        raise QuantityError(f"{value!r} is not a CPU amount (use e.g. 1, 0.5 or 500m)")
    if cores < 0:
        raise QuantityError(f"{value!r} is negative")
    return cores


def parse_memory(value: object) -> int:
    """Bytes from ``"2Gi"``, ``"512Mi"``, ``"1G"``; a bare number is refused (almost always a
    forgotten unit, since Kubernetes would read it as bytes)."""
    text = str(value).strip() if isinstance(value, str | int | float) else None
    if isinstance(value, bool) or text is None:
        raise QuantityError(f"{value!r} is not a memory amount (use e.g. 512Mi or 2Gi)")
    m = _QUANTITY.match(text)
    if not m or m.group(2) in (None, "m"):
        raise QuantityError(f"{value!r} is not a memory amount (use e.g. 512Mi or 2Gi)")
    number, suffix = float(m.group(1)), m.group(2)
    factor = _BINARY.get(suffix) or _DECIMAL[suffix]
    return int(round(number * factor))


def parse_pod_memory(value: object) -> int:
    """Bytes from a memory quantity as the API server writes it (a bare number is bytes)."""
    text = str(value).strip()
    m = _QUANTITY.match(text)
    if not m:
        raise QuantityError(f"{value!r} is not a memory amount")
    suffix = m.group(2) or ""
    if suffix == "m":
        return int(float(m.group(1)) / 1000)
    factor = _BINARY.get(suffix) or _DECIMAL[suffix]
    return int(round(float(m.group(1)) * factor))


def parse_quantity(value: object) -> float:
    """Any Kubernetes quantity as a plain number (``500m`` -> 0.5, ``2Gi`` -> 2147483648,
    ``3`` -> 3.0), as the API server writes them in pods and nodes."""
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a quantity")
    if isinstance(value, int | float):
        return float(value)
    m = _QUANTITY.match(str(value).strip())
    if not m:
        raise QuantityError(f"{value!r} is not a quantity (use e.g. 2, 500m or 2Gi)")
    number, suffix = float(m.group(1)), m.group(2) or ""
    if suffix == "m":
        return number / 1000
    return number * (_BINARY.get(suffix) or _DECIMAL[suffix])


def parse_count(value: object) -> int:
    """A whole, non-negative number such as a GPU count."""
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a whole number")
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise QuantityError(f"{value!r} is not a whole non-negative number")


def format_cpu(cores: float) -> str:
    """CPU cores as a Kubernetes quantity: ``1``, ``0.5`` -> ``500m``."""
    if float(cores).is_integer():
        return str(int(cores))
    return f"{int(round(cores * 1000))}m"


def format_memory(num_bytes: int) -> str:
    """Bytes as the largest exact binary unit: ``2147483648`` -> ``2Gi``."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        factor = _BINARY[suffix]
        if num_bytes and num_bytes % factor == 0:
            return f"{num_bytes // factor}{suffix}"
    return str(num_bytes)


def format_number(value: float) -> str:
    """A number for messages: ``2.0`` -> ``2``, ``0.5`` -> ``0.5``."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class Resources:
    """CPU cores, memory bytes and GPU count; used for limits, usage and quotas alike."""

    cpu: float = 0.0
    memory: int = 0
    gpu: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.cpu + other.cpu, self.memory + other.memory, self.gpu + other.gpu)

    def to_json(self) -> dict:
        """JSON form used by the hub API and the form (memory as a quantity string)."""
        return {"cpu": self.cpu, "memory": format_memory(self.memory), "gpu": self.gpu}


@dataclass(frozen=True)
class Quota:
    """Upper bounds; ``None`` means unlimited for that resource."""

    cpu: float | None = None
    memory: int | None = None
    gpu: int | None = None

    @property
    def unlimited(self) -> bool:
        """True when no resource is bounded."""
        return self.cpu is None and self.memory is None and self.gpu is None

    def to_json(self) -> dict:
        """JSON form (``null`` = unlimited)."""
        return {
            "cpu": self.cpu,
            "memory": None if self.memory is None else format_memory(self.memory),
            "gpu": self.gpu,
        }
