"""PURE: the YAML loader of the catalog: libyaml's parser, with plain documents built fast.

PyYAML's wheels ship libyaml, whose C parser reads a catalog several times faster than the
pure-Python one. PyYAML then composes a node object per value (calling the Python resolver
for every scalar) and constructs the data from the nodes, for generality a catalog rarely
needs (aliases shared or recursive, merge keys, explicit tags, sets, timestamps, ...): for a
large catalog that took five times as long as the parsing itself.

:class:`CatalogLoader` builds a *plain* document (mappings, lists, strings, numbers,
booleans and nulls; no anchors, aliases, tags, merge keys or complex keys) straight from
libyaml's events, with the safe constructor's own functions for the scalars. Anything else
is read again by :class:`NodeLoader`, libyaml's composer with PyYAML's safe constructor (and
its own fast path for plain node trees). Either way the data is what ``yaml.safe_load``
returns (``tests/primehub_spawner/test_catalog_yaml.py`` compares them). Without libyaml,
:data:`YAML_LOADER` is PyYAML's pure ``SafeLoader``.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import (
    DocumentEndEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import ScalarNode

_TAG = "tag:yaml.org,2002:"
_STR, _MAP, _SEQ = _TAG + "str", _TAG + "map", _TAG + "seq"
_PLAIN_SCALARS = frozenset(_TAG + t for t in ("null", "bool", "int", "float"))


class _NotPlain(Exception):
    """The document uses YAML beyond plain mappings, lists and scalars."""


_NO_KEY = object()

if hasattr(yaml, "CSafeLoader"):

    class NodeLoader(yaml.CSafeLoader):  # type: ignore[misc,name-defined]
        """libyaml's safe loader, building plain node trees directly (PyYAML's general
        constructor takes as long again); anything else goes to the safe constructor."""

        def construct_document(self, node: Any) -> Any:
            try:
                return self._plain(node, set())
            except (_NotPlain, RecursionError):
                return super().construct_document(node)

        def _plain(self, node: Any, seen: set[int]) -> Any:
            kind, tag = node.id, node.tag
            if kind == "scalar":
                if tag == _STR:
                    return node.value
                if tag in _PLAIN_SCALARS:
                    return self.yaml_constructors[tag](self, node)
                raise _NotPlain
            if id(node) in seen:  # an alias: leave sharing (and recursion) to PyYAML
                raise _NotPlain
            seen.add(id(node))
            if kind == "mapping" and tag == _MAP:
                out = {}
                for key_node, value_node in node.value:
                    if key_node.id == "scalar" and key_node.tag == _STR:
                        key = key_node.value
                    else:  # numbers, booleans, null; a merge key or a mapping key is not plain
                        key = self._plain(key_node, seen)
                        if isinstance(key, dict | list):
                            raise _NotPlain
                    out[key] = self._plain(value_node, seen)
                return out
            if kind == "sequence" and tag == _SEQ:
                return [self._plain(item, seen) for item in node.value]
            raise _NotPlain

    class CatalogLoader(yaml.CSafeLoader):  # type: ignore[misc,name-defined]
        """libyaml's safe loader building plain documents from its events (see the module
        docstring); other documents are read again by :class:`NodeLoader`."""

        def __init__(self, stream: Any) -> None:
            super().__init__(stream)
            self._source = stream

        def get_single_data(self) -> Any:
            if isinstance(self._source, str | bytes):
                try:
                    return self._from_events()
                except _NotPlain:
                    pass
            again = NodeLoader(self._source)
            try:
                return again.get_single_data()
            finally:
                again.dispose()

        def _scalar(self, value: str, known: dict[str, Any]) -> Any:
            """A plain (unquoted, untagged) scalar's value, as the safe loader resolves it."""
            if value in known:
                return known[value]
            tag = self.resolve(ScalarNode, value, (True, False))
            if tag == _STR:
                result: Any = value
            elif tag in _PLAIN_SCALARS:
                result = self.yaml_constructors[tag](self, ScalarNode(tag, value))
            else:  # timestamps, merge keys, '=' values: PyYAML's constructor decides
                raise _NotPlain
            known[value] = result
            return result

        def _from_events(self) -> Any:
            get_event = self.get_event
            get_event()  # the stream's start
            if isinstance(get_event(), StreamEndEvent):  # empty: as yaml.safe_load, None
                return None
            root: Any = None
            stack: list[Any] = []  # open dicts and lists
            keys: list[Any] = []  # per open dict: its key waiting for a value (or _NO_KEY)
            known: dict[str, Any] = {}  # plain scalar -> value, within this document
            while True:
                event = get_event()
                kind = type(event)
                if kind is ScalarEvent:
                    if event.anchor is not None or event.tag is not None:
                        raise _NotPlain
                    value = self._scalar(event.value, known) if event.implicit[0] else event.value
                elif kind is MappingStartEvent or kind is SequenceStartEvent:
                    if event.anchor is not None or event.tag is not None:
                        raise _NotPlain
                    if stack and keys[-1] is _NO_KEY and type(stack[-1]) is dict:
                        raise _NotPlain  # a mapping or list as a key
                    value = {} if kind is MappingStartEvent else []
                elif kind is MappingEndEvent or kind is SequenceEndEvent:
                    stack.pop()
                    keys.pop()
                    if not stack:
                        break
                    continue
                else:  # an alias (or anything unexpected)
                    raise _NotPlain
                if not stack:
                    root = value
                else:
                    parent = stack[-1]
                    if type(parent) is list:
                        parent.append(value)
                    elif keys[-1] is _NO_KEY:
                        keys[-1] = value
                    else:
                        parent[keys[-1]] = value
                        keys[-1] = _NO_KEY
                if type(value) is dict or type(value) is list:
                    stack.append(value)
                    keys.append(_NO_KEY)
                elif not stack:  # a document of one scalar
                    break
            if not isinstance(get_event(), DocumentEndEvent):
                raise _NotPlain
            if not isinstance(get_event(), StreamEndEvent):  # a second document: PyYAML's error
                raise _NotPlain
            return root

    YAML_LOADER: type = CatalogLoader
else:  # PyYAML built without libyaml
    YAML_LOADER = yaml.SafeLoader
