"""The catalog's fast YAML loader returns exactly what ``yaml.safe_load`` returns.

Plain documents are built from libyaml's events; everything else (anchors, aliases, merge
keys, tags, timestamps, complex keys, several documents) is read again the general way. Each
case here is a document a catalog file could hold.
"""

import math

import pytest
import yaml

from primehub_spawner import catalog_yaml
from primehub_spawner.catalog_yaml import YAML_LOADER

pytestmark = pytest.mark.skipif(
    not hasattr(yaml, "CSafeLoader"), reason="PyYAML without libyaml: the pure loader is used"
)

DOCUMENTS = {
    "empty": "",
    "comment only": "# nothing\n",
    "explicit empty document": "---\n",
    "lone scalar": "hello\n",
    "lone number": "42\n",
    "nested": "groups:\n  a:\n    members: [alice, bob]\n    quota: {cpu: 2, gpu: 0}\n",
    "YAML 1.1 scalars": (
        "a: yes\nb: No\nc: on\nd: OFF\ne: ~\nf: null\ng:\nh: 0x1F\ni: 0o17\nj: 017\n"
        "k: 1_000\nl: -3\nm: +4\nn: 1.5e3\no: .inf\np: -.Inf\nq: 6.8523015e+5\nr: 190:20:30\n"
        "s: 0b101\nt: 1.0\nu: '12'\nv: \"true\"\nw: 12Gi\nx: 0.5\n"
    ),
    "keys of every type": "1: int\ntrue: bool\n~: null\n1.5: float\n'2': str\n",
    "duplicate keys": "a: 1\na: 2\n",
    "block scalars": "a: |\n  two\n  lines\nb: >\n  folded\n  text\nc: |-\n  kept\n",
    "quoted and unicode": "a: \"\\u00e9t\\u00e9 \\U0001f600\"\nb: 'it''s'\nc: été\n",
    "flow and block lists": "a: [1, [2, 3], {b: c}]\nd:\n- e\n- - f\n  - g\n- {}\n- []\n",
    "anchors and aliases": "base: &b {cpu: 1}\nbig: *b\nlist: [*b, *b]\n",
    "merge keys": "base: &b {cpu: 1, memory: 1Gi}\nbig: {<<: *b, cpu: 2}\n",
    "explicit tags": "a: !!str 123\nb: !!float 1\nc: !!binary aGVsbG8=\n",
    "timestamps": "a: 2026-11-30\nb: 2026-11-30T01:02:03Z\n",
    "set": "!!set {a, b}\n",
    "NaN": "a: .nan\n",
}


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.mark.parametrize("text", DOCUMENTS.values(), ids=DOCUMENTS.keys())
def test_the_fast_loader_returns_what_safe_load_returns(text):
    assert _same(yaml.load(text, Loader=YAML_LOADER), yaml.safe_load(text))


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\n---\nb: 2\n",
        "a: [1\n",
        "a: *nothing\n",
        "a: b: c\n",
        "a: !!int abc\n",
        "? [a, b]\n: c\n",
        "a: =\n",
    ],
    ids=[
        "two documents",
        "unclosed list",
        "undefined alias",
        "bad mapping",
        "bad tag",
        "list as a key",
        "equals value",
    ],
)
def test_the_fast_loader_refuses_what_safe_load_refuses(text):
    with pytest.raises((yaml.YAMLError, ValueError)) as fast:
        yaml.load(text, Loader=YAML_LOADER)
    with pytest.raises((yaml.YAMLError, ValueError)) as pure:
        yaml.safe_load(text)
    assert type(fast.value) is type(pure.value)


def test_plain_documents_take_the_event_path_and_others_fall_back(monkeypatch):
    """The fallback is only for documents that need it (else the speed-up would be lost)."""
    read_again = []
    original = catalog_yaml.NodeLoader.get_single_data
    monkeypatch.setattr(
        catalog_yaml.NodeLoader,
        "get_single_data",
        lambda self: read_again.append(1) or original(self),
    )
    for plain in ("nested", "YAML 1.1 scalars", "keys of every type", "block scalars"):
        yaml.load(DOCUMENTS[plain], Loader=YAML_LOADER)
    assert read_again == []
    yaml.load(DOCUMENTS["anchors and aliases"], Loader=YAML_LOADER)
    assert read_again == [1]
