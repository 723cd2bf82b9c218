"""Catalog at scale: 500 groups, 1,000 images, 200 instance types, a user in 50 groups.

Ours: catalog (re)load from YAML, the user's view + form render, user_options validation.
Peer: KubeSpawner rendering its profile form for the same choices (one profile per group with
an instance-type and an image option), and validating/applying the same selection.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import yaml

from bench.report import Row, Section, median, time_calls

USER = "bench-user"
GROUPS, IMAGES, INSTANCE_TYPES, USER_GROUPS = 500, 1000, 200, 50
ITS_PER_GROUP, IMAGES_PER_GROUP = 8, 30


def generate_catalog(seed: int = 7) -> dict[str, Any]:
    """A deterministic large catalog; ``USER`` is a member of ``USER_GROUPS`` groups."""
    rng = random.Random(seed)
    its = {}
    for i in range(INSTANCE_TYPES):
        gpu = 1 if i % 10 == 0 else 0
        its[f"it-{i}"] = {
            "displayName": f"Instance {i}",
            "cpu": 1 + i % 8,
            "memory": f"{2 + i % 16}Gi",
            "cpuRequest": 0.5,
            "memoryRequest": "1Gi",
            "gpu": gpu,
            **({"nodeSelector": {"gpu": "true"}} if gpu else {}),
        }
    images = {}
    for i in range(IMAGES):
        images[f"img-{i}"] = {
            "displayName": f"Image {i}",
            "url": f"registry.example/team/img-{i}:cpu",
            "urlForGpu": f"registry.example/team/img-{i}:cuda",
            "type": "both",
        }
    member_groups = set(rng.sample(range(GROUPS), USER_GROUPS))
    groups = {}
    for g in range(GROUPS):
        members = [f"user-{g}-{k}" for k in range(5)]
        if g in member_groups:
            members.append(USER)
        groups[f"group-{g}"] = {
            "displayName": f"Group {g}",
            "members": members,
            "quota": {"cpu": 16, "memory": "64Gi", "gpu": 2},
            "projectQuota": {"cpu": 64, "memory": "256Gi", "gpu": 4},
            "instanceTypes": rng.sample(sorted(its), ITS_PER_GROUP),
            "images": rng.sample(sorted(images), IMAGES_PER_GROUP),
        }
    return {"instanceTypes": its, "images": images, "groups": groups}


def equivalent_profile_list(catalog_data: dict[str, Any], user: str) -> list[dict[str, Any]]:
    """What an admin writes for KubeSpawner to offer ``user`` the same choices: one profile per
    group, with an instance-type option (resource overrides) and an image option."""
    its, images = catalog_data["instanceTypes"], catalog_data["images"]
    profiles = []
    for name, group in catalog_data["groups"].items():
        if user not in group["members"]:
            continue
        it_choices = {}
        for it_name in group["instanceTypes"]:
            it = its[it_name]
            override: dict[str, Any] = {
                "cpu_limit": float(it["cpu"]),
                "cpu_guarantee": float(it["cpuRequest"]),
                # JupyterHub's "G" is 2**30 bytes, the same as Kubernetes' "Gi"
                "mem_limit": it["memory"].replace("Gi", "G"),
                "mem_guarantee": it["memoryRequest"].replace("Gi", "G"),
            }
            if it["gpu"]:
                override["extra_resource_limits"] = {"nvidia.com/gpu": str(it["gpu"])}
                override["node_selector"] = it["nodeSelector"]
            it_choices[it_name] = {
                "display_name": f"{it['displayName']} ({it['cpu']} CPU, {it['memory']})",
                "kubespawner_override": override,
            }
        image_choices = {
            im: {
                "display_name": images[im]["displayName"],
                "kubespawner_override": {"image": images[im]["url"]},
            }
            for im in group["images"]
        }
        profiles.append(
            {
                "display_name": group["displayName"],
                "slug": name,
                "description": f"Servers of {group['displayName']}",
                "profile_options": {
                    "instance_type": {"display_name": "Instance type", "choices": it_choices},
                    "image": {"display_name": "Image", "choices": image_choices},
                },
            }
        )
    return profiles


def _ours(catalog_text: str, path: Path, repeat: int) -> dict[str, list[float]]:
    from primehub_spawner.catalog import Catalog, CatalogSource
    from primehub_spawner.form import render_form
    from primehub_spawner.user_options import resolve_options

    catalog = Catalog.from_yaml(catalog_text)
    view = catalog.for_user(USER)
    assert len(view.groups) == USER_GROUPS, len(view.groups)
    last = view.groups[-1]
    options = {
        "group": last.name,
        "instance_type": last.instance_types[-1].name,
        "image": last.images[-1].name,
        "env": {"EPOCHS": "3"},
    }

    source = CatalogSource(path=str(path))

    def reload() -> None:
        # what the spawner does after an admin edits the file: stat, re-read, re-validate
        stamp = time.time() + reload.count  # type: ignore[attr-defined]
        reload.count += 1  # type: ignore[attr-defined]
        os.utime(path, (stamp, stamp))
        source.get()

    reload.count = 1  # type: ignore[attr-defined]
    source.get()

    def unchanged() -> None:
        source.get()

    def form() -> None:
        render_form(catalog.for_user(USER), {}, options)

    def validate() -> None:
        resolve_options(catalog.for_user(USER), options)

    html = render_form(catalog.for_user(USER), {}, options)
    return {
        "load": time_calls(lambda: Catalog.from_yaml(catalog_text), repeat),
        "reload": time_calls(reload, repeat),
        "unchanged": time_calls(unchanged, repeat),
        "form": time_calls(form, repeat),
        "validate": time_calls(validate, repeat),
        "form_bytes": [float(len(html))],
    }


def _peer(profile_list: list[dict[str, Any]], repeat: int) -> dict[str, list[float]]:
    return asyncio.run(_peer_async(profile_list, repeat))


async def _peer_async(profile_list: list[dict[str, Any]], repeat: int) -> dict[str, list[float]]:
    import kubespawner.spawner
    from kubespawner import KubeSpawner

    # KubeSpawner loads a kubeconfig when constructed; it never talks to a cluster here.
    real_load_config = kubespawner.spawner.load_config
    kubespawner.spawner.load_config = lambda **_: None
    try:
        spawner = KubeSpawner(_mock=True, profile_list=profile_list)
    finally:
        kubespawner.spawner.load_config = real_load_config
    last = profile_list[-1]
    opts = last["profile_options"]
    spawner.user_options = {
        "profile": last["slug"],
        "instance_type": list(opts["instance_type"]["choices"])[-1],
        "image": list(opts["image"]["choices"])[-1],
    }

    def form() -> None:
        spawner._render_options_form(profile_list)

    validate_times = []
    await spawner.load_user_options()  # warm-up
    for _ in range(repeat):
        start = time.perf_counter()
        await spawner.load_user_options()
        validate_times.append(time.perf_counter() - start)
    html = spawner._render_options_form(profile_list)
    return {
        "form": time_calls(form, repeat),
        "validate": validate_times,
        "form_bytes": [float(len(html))],
    }


def run(args: argparse.Namespace) -> Section:
    """Measure and return the section."""
    repeat = max(3, args.repeat)
    data = generate_catalog()
    text = yaml.safe_dump(data, sort_keys=False)
    section = Section("catalog", "Catalog at scale (500 groups, 1,000 images, 200 instance types)")
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "catalog.yaml"
        path.write_text(text)
        ours = _ours(text, path, repeat)
    profiles = equivalent_profile_list(data, USER)
    peer = _peer(profiles, repeat)
    ks = "KubeSpawner profile_list"
    section.rows = [
        Row("catalog load (parse + validate YAML)", median(ours["load"])),
        Row("catalog reload after a file edit", median(ours["reload"])),
        Row("catalog get, file unchanged (per spawn)", median(ours["unchanged"])),
        Row(
            "form render for a user in 50 groups",
            median(ours["form"]),
            median(peer["form"]),
            peer_name=ks,
        ),
        Row(
            "user_options validation",
            median(ours["validate"]),
            median(peer["validate"]),
            peer_name=ks,
            note="ours: view + resolve; peer: load_user_options",
        ),
        Row("form HTML size", ours["form_bytes"][0], peer["form_bytes"][0], "bytes", ks),
    ]
    section.details = {
        "repeat": repeat,
        "catalog_yaml_bytes": len(text),
        "groups": GROUPS,
        "images": IMAGES,
        "instance_types": INSTANCE_TYPES,
        "user_groups": USER_GROUPS,
        "per_group": {"instance_types": ITS_PER_GROUP, "images": IMAGES_PER_GROUP},
        "samples": {"ours": ours, "peer": peer},
    }
    return section
