"""Shared fixtures of the spawner unit tests."""

from pathlib import Path

import pytest
import yaml

from primehub_spawner.catalog import Catalog

HERE = Path(__file__).parent


@pytest.fixture
def catalog_dict() -> dict:
    """The test catalog as a fresh dict (tests may modify it)."""
    return yaml.safe_load((HERE / "catalog_fixture.yaml").read_text())


@pytest.fixture
def catalog(catalog_dict) -> Catalog:
    """The test catalog, validated."""
    return Catalog.from_dict(catalog_dict)
