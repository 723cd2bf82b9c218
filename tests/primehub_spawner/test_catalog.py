"""Catalog loading, validation errors, and what each user may launch."""

import os
import time

import pytest

from primehub_spawner.catalog import Catalog, CatalogError, CatalogSource


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


@pytest.mark.parametrize(
    "path, value, message",
    [
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
    ],
)
def test_validation_names_entry_and_field(catalog_dict, path, value, message):
    node = catalog_dict
    for key in path[:-1]:
        node = node[key]
    if value is None:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    with pytest.raises(CatalogError) as err:
        Catalog.from_dict(catalog_dict)
    assert message in str(err.value)


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
