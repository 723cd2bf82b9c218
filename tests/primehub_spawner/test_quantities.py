"""Quantity parsing and formatting."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from primehub_spawner.quantities import (
    QuantityError,
    format_cpu,
    format_memory,
    parse_cpu,
    parse_memory,
    parse_pod_memory,
    parse_quantity,
)


@pytest.mark.parametrize(
    "text, cores", [(1, 1.0), (0.5, 0.5), ("500m", 0.5), ("2", 2.0), ("1.5", 1.5)]
)
def test_cpu(text, cores):
    assert parse_cpu(text) == cores


@pytest.mark.parametrize(
    "text, num_bytes", [("2Gi", 2**31), ("512Mi", 2**29), ("1G", 10**9), ("1.5Gi", 3 * 2**29)]
)
def test_memory(text, num_bytes):
    assert parse_memory(text) == num_bytes


@pytest.mark.parametrize("bad", [2, "2", "2GB", "lots", True, None, "-1Gi", "500m"])
def test_memory_refuses(bad):
    with pytest.raises(QuantityError):
        parse_memory(bad)


def test_pod_memory_accepts_bytes():
    assert parse_pod_memory("1073741824") == 2**30
    assert parse_pod_memory("1Gi") == 2**30


@pytest.mark.parametrize(
    "text, number", [("500m", 0.5), ("2Gi", 2 * 2**30), (3, 3.0), ("1k", 1000.0), ("1", 1.0)]
)
def test_any_quantity_as_the_api_server_writes_it(text, number):
    # localk8s's node reads resourceFieldRef values with it too
    assert parse_quantity(text) == number


@pytest.mark.parametrize("bad", ["2GB", "", True, "-1"])
def test_any_quantity_refuses(bad):
    with pytest.raises(QuantityError):
        parse_quantity(bad)


@given(st.integers(min_value=1, max_value=2**20))
def test_memory_round_trip(mebibytes):
    assert parse_memory(format_memory(mebibytes * 2**20)) == mebibytes * 2**20


@given(st.integers(min_value=1, max_value=64000))
def test_cpu_round_trip(millicores):
    assert parse_cpu(format_cpu(millicores / 1000)) == pytest.approx(millicores / 1000)
