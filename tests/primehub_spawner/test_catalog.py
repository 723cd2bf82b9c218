"""Catalog loading, validation errors, and what each user may launch."""

import os
import time

import pytest
import yaml

from primehub_spawner import catalog as catalog_module
from primehub_spawner.catalog import Catalog, CatalogError, CatalogSource

HERE = os.path.dirname(__file__)
# PyYAML's wheels ship libyaml; a PyYAML built without it falls back to the pure loader.
C_LOADER = catalog_module.YAML_LOADER if hasattr(yaml, "CSafeLoader") else None
LOADERS = [
    pytest.param(yaml.SafeLoader, id="pure"),
    pytest.param(
        C_LOADER, id="libyaml", marks=pytest.mark.skipif(C_LOADER is None, reason="no libyaml")
    ),
]


@pytest.fixture(params=LOADERS)
def yaml_loader(request, monkeypatch):
    """Catalog.from_yaml with each loader in turn."""
    monkeypatch.setattr(catalog_module, "YAML_LOADER", request.param)
    return request.param


def test_loads_every_section(catalog):
    assert set(catalog.groups) == {"everyone", "phusers", "Research_Lab", "empty"}
    gpu = catalog.instance_types["gpu-1"]
    assert (gpu.cpu, gpu.memory, gpu.gpu) == (4, 16 * 2**30, 1)
    assert gpu.gpu_resource_name == "nvidia.com/gpu"
    assert dict(gpu.node_selector) == {"gpu": "true"}
    cpu = catalog.instance_types["cpu-1"]
    assert (cpu.cpu_request, cpu.memory_request) == (0.5, 2**30)
    # requests default to the limits
    assert catalog.instance_types["cpu-2"].cpu_request == 2
    assert catalog.instance_types["tiny"].cpu == 0.25
    assert catalog.images["torch"].url_for(1) == "registry.example/torch:cuda"
    assert catalog.images["torch"].url_for(0) == "registry.example/torch:cpu"
    assert catalog.images["base"].url_for(1) == "jupyter/base-notebook:latest"
    assert catalog.groups["phusers"].quota.memory == 32 * 2**30
    assert catalog.groups["Research_Lab"].quota.cpu is None


BAD_FIELDS = [
    (("instanceTypes", "cpu-1", "memory"), "2GB", "instanceTypes.cpu-1.memory: bad quantity"),
    (("instanceTypes", "cpu-1", "memory"), 2, "instanceTypes.cpu-1.memory: bad quantity"),
    (("instanceTypes", "cpu-1", "cpu"), "lots", "instanceTypes.cpu-1.cpu: bad quantity"),
    (("instanceTypes", "cpu-1", "cpu"), None, "instanceTypes.cpu-1.cpu: is required"),
    (("instanceTypes", "cpu-1", "cpu"), 0, "instanceTypes.cpu-1.cpu: must be more than 0"),
    (("instanceTypes", "cpu-1", "cpuRequest"), 3, "instanceTypes.cpu-1.cpuRequest: must not"),
    (("instanceTypes", "cpu-1", "gpu"), 1.5, "instanceTypes.cpu-1.gpu: bad quantity"),
    (("instanceTypes", "cpu-1", "nodeSelector"), {"gpu": True}, "cpu-1.nodeSelector: must map"),
    (
        ("instanceTypes", "cpu-1", "tolerations"),
        [{"kee": "x"}],
        "tolerations[0]: unknown field",
    ),
    (
        ("instanceTypes", "cpu-1", "colour"),
        "red",
        "instanceTypes.cpu-1: unknown field 'colour'",
    ),
    (("images", "torch", "url"), None, "images.torch.url: is required"),
    (("images", "torch", "type"), "tpu", "images.torch.type: must be one of cpu, gpu, both"),
    (("images", "base", "global"), "yes", "images.base.global: must be true or false"),
    (("datasets", "notebooks", "url"), None, "datasets.notebooks.url: is required"),
    (("datasets", "notebooks", "writable"), True, "datasets.notebooks.writable: git datasets"),
    (("datasets", "shared-nfs", "server"), None, "datasets.shared-nfs.server: is required"),
    (("datasets", "scratch", "path"), "srv", "datasets.scratch.path: must be an absolute"),
    (("datasets", "creds", "variables"), None, "datasets.creds.variables: is required"),
    (("datasets", "mnist", "type"), "s3", "datasets.mnist.type: must be one of"),
    (("datasets", "mnist", "capacity"), "lots", "datasets.mnist.capacity: bad quantity"),
    (("groups", "phusers", "instanceTypes"), ["cpu-9"], "unknown instance type 'cpu-9'"),
    (("groups", "phusers", "images"), ["nope"], "groups.phusers.images: unknown image 'nope'"),
    (("groups", "phusers", "datasets"), {"nope": {}}, "groups.phusers.datasets: unknown"),
    (("groups", "phusers", "quota"), {"gpu": -1}, "groups.phusers.quota.gpu: bad quantity"),
    (("groups", "phusers", "projectQuota"), {"ram": 1}, "projectQuota: unknown field 'ram'"),
    (("groups", "phusers", "sharedVolume"), {"homeSymlink": True}, "sharedVolume.capacity"),
    (("groups", "phusers", "members"), "alice", "groups.phusers.members: must be a list"),
    (("groups", "phusers", "culling"), {"serverIdleTimeout": -5}, "culling.serverIdleTimeout"),
]


def _break(catalog_dict, path, value):
    node = catalog_dict
    for key in path[:-1]:
        node = node[key]
    if value is None:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return catalog_dict


@pytest.mark.parametrize("path, value, message", BAD_FIELDS)
def test_validation_names_entry_and_field(catalog_dict, path, value, message):
    with pytest.raises(CatalogError) as err:
        Catalog.from_dict(_break(catalog_dict, path, value))
    assert message in str(err.value)


def _error(text, loader, monkeypatch):
    monkeypatch.setattr(catalog_module, "YAML_LOADER", loader)
    with pytest.raises(CatalogError) as err:
        Catalog.from_yaml(text, origin="/etc/primehub/catalog.yaml")
    return str(err.value)


@pytest.mark.skipif(C_LOADER is None, reason="no libyaml")
@pytest.mark.parametrize("path, value, message", BAD_FIELDS)
def test_both_loaders_name_the_same_entry_and_field(
    catalog_dict, monkeypatch, path, value, message
):
    """A bad catalog file gets the same message from libyaml's loader and the pure one."""
    text = yaml.safe_dump(_break(catalog_dict, path, value))
    fast = _error(text, C_LOADER, monkeypatch)
    assert message in fast
    assert _error(text, yaml.SafeLoader, monkeypatch) == fast


@pytest.mark.skipif(C_LOADER is None, reason="no libyaml")
@pytest.mark.parametrize(
    "text, where",
    [
        ("groups: [", "line 1, column 10"),
        ("groups:\n  a: b: c\n", "line 2, column 7"),
        ("groups:\n  - x\n images: 1\n", "line 3, column 2"),
        ('images: {a: {url: "x}}', "line 1, column 23"),
        ("groups: {a: &x {}, b: *y}", "found undefined alias 'y'"),
        ("groups: !!python/object:os.system x", "could not determine a constructor"),
        ("- just\n- a list\n", "the top level must be a mapping"),
    ],
)
def test_both_loaders_report_bad_yaml_alike(monkeypatch, text, where):
    """libyaml words syntax errors differently: the pure loader's message (with the line it
    points at) is the one shown, whichever loader is installed."""
    fast = _error(text, C_LOADER, monkeypatch)
    assert fast.startswith("/etc/primehub/catalog.yaml: ")
    assert where in fast
    assert _error(text, yaml.SafeLoader, monkeypatch) == fast


ANCHORS = """
instanceTypes:
  base: &base {cpu: 1, memory: 1Gi, description: "multi\\nline: yes"}
  big: {<<: *base, cpu: "2", memory: 2048Mi, nodeSelector: {zone: "01", ok: "true"}}
images:
  im: {url: "a/b:1", type: both, global: true, displayName: "\u00e9t\u00e9 \U0001f600"}
groups:
  g1: {members: [alice, "123", "null"], instanceTypes: [base, big], quota: {cpu: 0.5}}
"""


def test_both_loaders_build_the_same_catalog(yaml_loader, catalog):
    text = open(os.path.join(HERE, "catalog_fixture.yaml"), encoding="utf-8").read()
    assert Catalog.from_yaml(text) == catalog  # the fixture dict comes from yaml.safe_load
    parsed = Catalog.from_yaml(ANCHORS)
    assert parsed.instance_types["big"].cpu == 2
    assert parsed.instance_types["big"].memory == 2 * 2**30
    assert parsed.instance_types["big"].description == "multi\nline: yes"
    assert dict(parsed.instance_types["big"].node_selector) == {"zone": "01", "ok": "true"}
    assert parsed.images["im"].display_name == "\u00e9t\u00e9 \U0001f600"
    assert parsed.groups["g1"].members == {"alice", "123", "null"}
    assert parsed.groups["g1"].quota.cpu == 0.5


def test_unknown_reference_lists_defined_names(catalog_dict):
    catalog_dict["groups"]["phusers"]["instanceTypes"] = ["gpu-9"]
    with pytest.raises(CatalogError, match=r"defined: cpu-1, cpu-2, gpu-1, gpu-2, tiny"):
        Catalog.from_dict(catalog_dict)


def test_groups_whose_volumes_would_collide_or_overflow_are_refused_by_name():
    with pytest.raises(
        CatalogError, match="'Team_A' and 'team.a' would share the volume 'project-team-a'"
    ):
        Catalog.from_dict({"groups": {"Team_A": {}, "team.a": {}}})
    long = "g" * 60  # a valid name of 60 characters; its volume would be 68
    with pytest.raises(CatalogError, match=f"groups.{long}: the name is too long for its volume"):
        Catalog.from_dict({"groups": {long: {}}})
    with pytest.raises(CatalogError, match="'data_1' and 'data-1' would share the volume"):
        Catalog.from_dict(
            {
                "datasets": {
                    "data_1": {"type": "hostPath", "path": "/srv/a"},
                    "data-1": {"type": "hostPath", "path": "/srv/b"},
                }
            }
        )


def test_bad_names_and_top_level():
    with pytest.raises(CatalogError, match="groups.bad name: bad name"):
        Catalog.from_dict({"groups": {"bad name": {}}})
    with pytest.raises(CatalogError, match="catalog: unknown field 'group'"):
        Catalog.from_dict({"group": {}})
    with pytest.raises(CatalogError, match="instanceTypes: must be a mapping"):
        Catalog.from_dict({"instanceTypes": ["cpu-1"]})
    with pytest.raises(CatalogError, match="not valid YAML"):
        Catalog.from_yaml("groups: [")
    assert Catalog.from_dict(None).groups == {}


def test_for_user_merges_everyone_and_globals(catalog):
    view = catalog.for_user("alice", [])
    assert [g.name for g in view.groups] == ["phusers"]  # everyone is not a group of its own
    ph = view.groups[0]
    assert [it.name for it in ph.instance_types] == ["cpu-2", "gpu-1", "cpu-1", "tiny"]
    assert [im.name for im in ph.images] == ["torch", "cuda", "minimal", "base"]
    assert ph.image_scope(catalog.images["torch"]) == "group"
    assert ph.image_scope(catalog.images["base"]) == "global"
    datasets = {g.dataset.name: g.writable for g in ph.datasets}
    assert datasets == {"mnist": True, "creds": False, "notebooks": False, "public": False}


def test_membership_from_hub_groups_and_members(catalog):
    assert [g.name for g in catalog.for_user("dave", ["Research_Lab"]).groups] == ["Research_Lab"]
    both = catalog.for_user("bob", ["Research_Lab", "unrelated"])
    assert [g.name for g in both.groups] == ["phusers", "Research_Lab"]
    assert catalog.for_user("mallory", ["everyone"]).groups == ()
    # a user never sees a group they are not in
    assert catalog.for_user("dave", ["Research_Lab"]).group("phusers") is None


def test_group_without_own_items_still_gets_everyone_and_globals(catalog):
    (empty,) = catalog.for_user("carol").groups
    assert [it.name for it in empty.instance_types] == ["cpu-1", "tiny"]
    assert [im.name for im in empty.images] == ["minimal", "base"]


def test_source_rereads_changed_file(tmp_path, catalog_dict):
    import yaml

    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(catalog_dict))
    source = CatalogSource(path=str(path))
    first = source.get()
    assert source.get() is first  # unchanged file: no re-parse
    catalog_dict["images"]["new"] = {"url": "x/y:1", "global": True}
    path.write_text(yaml.safe_dump(catalog_dict))
    os.utime(path, (time.time() + 5, time.time() + 5))
    assert "new" in source.get().images
    path.write_text("groups: {phusers: {instanceTypes: [missing]}}")
    os.utime(path, (time.time() + 10, time.time() + 10))
    with pytest.raises(CatalogError, match="unknown instance type 'missing'"):
        source.get()


def test_source_missing_file(tmp_path):
    with pytest.raises(CatalogError, match="catalog file .*nope.yaml"):
        CatalogSource(path=str(tmp_path / "nope.yaml")).get()


def test_no_garbage_collection_while_loading_and_back_after(monkeypatch, catalog_dict):
    import gc

    seen = []
    parse = catalog_module._parse_catalog

    def spy(data):
        seen.append(gc.isenabled())
        return parse(data)

    monkeypatch.setattr(catalog_module, "_parse_catalog", spy)
    text = yaml.safe_dump(catalog_dict)
    assert gc.isenabled()
    Catalog.from_yaml(text)
    assert seen == [False] and gc.isenabled()
    with pytest.raises(CatalogError):
        Catalog.from_yaml("groups: [")
    with pytest.raises(CatalogError):
        Catalog.from_yaml("groups: {a: {instanceTypes: [nope]}}")
    assert gc.isenabled()  # back on after errors too
    gc.disable()  # someone else turned it off: it stays off
    try:
        Catalog.from_yaml(text)
        assert not gc.isenabled()
    finally:
        gc.enable()


TRICKY_YAML = [
    "",
    "a: 1",
    "{a: 1, 2: b, 3.5: c, true: d, null: e, ~: f, 0x1F: g, 0o17: h, 1_000: i, 1:30: j}",
    "a: [yes, No, on, OFF, y, n, .inf, -.Inf, .nan, 1e3, 6.8523015e+5, 0b101, -0, +12]",
    "a: ['1', \"2\", !!str 3, !!int '4', !!float '5', !!bool 'true', !!null '']",
    "a: 2001-12-14t21:59:43.10-05:00\nb: 2002-12-14\nc: !!binary aGVsbG8=",
    "base: &b {x: 1, y: [1, 2]}\nuse: *b\nmerged: {<<: *b, y: 3}",
    "list: &l [1, 2]\nagain: [*l, *l]",
    "? [a, b]\n: c",
    "? {a: 1}\n: c",
    "a: !!set {x, y}\nb: !!omap [{x: 1}, {y: 2}]\nc: !!pairs [{x: 1}, {x: 2}]",
    "a: 1\na: 2\nb: {c: 1, c: 3}",
    "a: !!str [1]",
    "a: !!map [1]",
    "a: !!seq {b: 1}",
    "a: !custom x",
    "a: &r [*r]",
    "a: |\n  multi\n  line\nb: >-\n  folded\n  text\nc: 'it''s'\nd: \"\\u00e9\\t\"",
    "- [[[[[[[[[[1]]]]]]]]]]\n- {a: {b: {c: {d: []}}}}",
    "a: !!int abc",
    "a: !!bool maybe",
]


@pytest.mark.skipif(C_LOADER is None, reason="no libyaml")
@pytest.mark.parametrize("text", TRICKY_YAML)
def test_fast_loader_builds_what_safe_load_builds(text):
    """The libyaml loader's shortcut for plain documents gives yaml.safe_load's data, or the
    same exception, for plain and not-so-plain YAML (aliases, merges, tags, odd keys)."""

    def load(loader):
        try:
            return "ok", yaml.load(text, Loader=loader)  # noqa: S506 (safe loaders)
        except Exception as e:  # compare what each loader raises
            return "error", type(e).__name__

    fast, pure = load(C_LOADER), load(yaml.SafeLoader)
    if fast[0] == "ok" and pure[0] == "ok" and "&r" in text:
        assert fast[1]["a"][0] is fast[1]["a"]  # recursive alias built as PyYAML builds it
    else:
        assert fast == pure
    if "use: *b" in text:
        data = fast[1]
        assert data["use"] is data["base"]  # aliases stay shared, as with yaml.safe_load


def test_tagged_value_errors_are_catalog_errors(yaml_loader):
    with pytest.raises(
        CatalogError, match=r"catalog: not valid YAML: a value with an explicit tag"
    ):
        Catalog.from_yaml("groups: {g: {quota: {cpu: !!int abc}}}")
    with pytest.raises(CatalogError, match=r"cannot be read \(KeyError: 'maybe'\)"):
        Catalog.from_yaml("images: {i: {url: x, global: !!bool maybe}}")
