"""Papermill-compatible parameter translation and injection (pure)."""

from __future__ import annotations

import nbformat
import pytest

from primehub_executor.params import (
    INJECTED_TAG,
    UnsupportedLanguage,
    inject_parameters,
    translate,
)
from primehub_jobs_contract.executor import parse_cli_value


@pytest.mark.parametrize(
    "value, literal",
    [
        (1, "1"),
        (-2.5, "-2.5"),
        (True, "True"),
        (False, "False"),
        (None, "None"),
        ('it\'s "quoted"\n', repr('it\'s "quoted"\n')),
        ([1, "a", None], "[1, 'a', None]"),
        ({"k": [True, {"n": 1.0}]}, "{'k': [True, {'n': 1.0}]}"),
    ],
)
def test_python_literals_round_trip(value, literal):
    source = translate({"x": value}, "python")
    assert source == f"# Parameters\nx = {literal}\n"
    scope: dict = {}
    exec(source, scope)  # the literal evaluates back to the same value
    assert scope["x"] == value


def test_r_literals():
    source = translate({"a": 1, "b": 'x"y', "c": None, "d": [True, 2.5], "e": {"k": 1}}, "R")
    assert source.splitlines()[1:] == [
        "a = 1L",
        'b = "x\\"y"',
        "c = NULL",
        "d = list(TRUE, 2.5)",
        'e = list("k" = 1L)',
    ]


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    for source, tags in cells:
        cell = nbformat.v4.new_code_cell(source)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    return nb


def test_injected_after_the_parameters_cell():
    nb = _nb(("import os", None), ("alpha = 1", ["parameters"]), ("print(alpha)", None))
    position = inject_parameters(nb, {"alpha": 2}, "python")
    assert position == 2
    assert [c.source for c in nb.cells] == [
        "import os",
        "alpha = 1",
        "# Parameters\nalpha = 2\n",
        "print(alpha)",
    ]
    assert nb.cells[2].metadata["tags"] == [INJECTED_TAG]


def test_injected_at_top_without_a_parameters_cell():
    nb = _nb(("print(alpha)", None))
    assert inject_parameters(nb, {"alpha": 2}, "python") == 0
    assert nb.cells[0].source == "# Parameters\nalpha = 2\n"


def test_rerun_replaces_the_earlier_injected_cell():
    nb = _nb(("alpha = 1", ["parameters"]), ("print(alpha)", None))
    inject_parameters(nb, {"alpha": 2}, "python")
    inject_parameters(nb, {"alpha": 3}, "python")
    injected = [c for c in nb.cells if INJECTED_TAG in c.metadata.get("tags", [])]
    assert [c.source for c in injected] == ["# Parameters\nalpha = 3\n"]
    assert len(nb.cells) == 3


def test_no_parameters_removes_stale_injection_and_adds_nothing():
    nb = _nb(("alpha = 1", ["parameters"]))
    inject_parameters(nb, {"alpha": 2}, "python")
    assert inject_parameters(nb, {}, "python") is None
    assert [c.source for c in nb.cells] == ["alpha = 1"]


def test_language_without_translator_is_a_clear_error():
    with pytest.raises(UnsupportedLanguage, match="kernel language 'julia'.*python"):
        inject_parameters(_nb(("x", None)), {"a": 1}, "julia")


@pytest.mark.parametrize(
    "raw, value",
    [
        ("1", 1),
        ("-3", -3),
        ("0.5", 0.5),
        ("1e3", 1000.0),
        ("True", True),
        ("False", False),
        ("None", None),
        ("hello", "hello"),
        ("true", "true"),  # papermill: only Python spellings are typed
        ("nan", "nan"),
        ("", ""),
    ],
)
def test_cli_values_are_typed_like_papermill(raw, value):
    assert parse_cli_value(raw) == value
    assert type(parse_cli_value(raw)) is type(value)
