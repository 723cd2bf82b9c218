"""Catalog at scale: 500 groups, 1,000 images, 200 instance types, a user in 50 groups.

Ours: catalog (re)load from YAML (libyaml's loader when PyYAML has it; wall and CPU time),
the user's view + form render, user_options validation.
Peer: KubeSpawner rendering its profile form for the same choices (one profile per group with
an instance-type and an image option), and validating/applying the same selection.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import yaml

from bench.report import Row, Section, median

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


Timed = dict[str, Callable[[], Any]]


def _ours(catalog_text: str, path: Path) -> tuple[Timed, float]:
    """Our operations to time, and the size of our form."""
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
    source.get()
    edits = iter(range(1, 1_000_000))

    def reload() -> None:
        # what the spawner does after an admin edits the file: stat, re-read, re-validate
        stamp = time.time() + next(edits)
        os.utime(path, (stamp, stamp))
        source.get()

    html = render_form(catalog.for_user(USER), {}, options)
    return {
        "load": lambda: Catalog.from_yaml(catalog_text),
        "reload": reload,
        "unchanged": source.get,
        "form": lambda: render_form(catalog.for_user(USER), {}, options),
        "validate": lambda: resolve_options(catalog.for_user(USER), options),
    }, float(len(html))


PURE_PAIRS = 3  # a pure-Python load takes seconds: a few samples


def _pure_load(catalog_text: str) -> Callable[[], Any]:
    """``Catalog.from_yaml`` with PyYAML's pure-Python ``SafeLoader``."""
    import primehub_spawner.catalog as catalog_module

    def load() -> None:
        fast, catalog_module.YAML_LOADER = catalog_module.YAML_LOADER, yaml.SafeLoader
        try:
            catalog_module.Catalog.from_yaml(catalog_text)
        finally:
            catalog_module.YAML_LOADER = fast

    return load


def _peer(
    profile_list: list[dict[str, Any]], loop: asyncio.AbstractEventLoop
) -> tuple[Timed, float]:
    """KubeSpawner's operations to time (run on ``loop``), and the size of its form."""
    import kubespawner.spawner
    from kubespawner import KubeSpawner

    async def make() -> KubeSpawner:
        # KubeSpawner loads a kubeconfig when constructed; it never talks to a cluster here.
        real_load_config = kubespawner.spawner.load_config
        kubespawner.spawner.load_config = lambda **_: None
        try:
            return KubeSpawner(_mock=True, profile_list=profile_list)
        finally:
            kubespawner.spawner.load_config = real_load_config

    spawner = loop.run_until_complete(make())
    last = profile_list[-1]
    opts = last["profile_options"]
    spawner.user_options = {
        "profile": last["slug"],
        "instance_type": list(opts["instance_type"]["choices"])[-1],
        "image": list(opts["image"]["choices"])[-1],
    }
    html = spawner._render_options_form(profile_list)
    return {
        "form": lambda: spawner._render_options_form(profile_list),
        "validate": lambda: loop.run_until_complete(spawner.load_user_options()),
    }, float(len(html))


def _alternate(
    pairs: list[tuple[str, Callable[[], Any]]],
    repeat: int,
    cpu: dict[str, list[float]] | None = None,
) -> dict[str, list[float]]:
    """Time each callable ``repeat`` times, interleaved so machine load hits all alike.
    Wall-clock samples are returned; ``cpu``, when given, receives this process's CPU time of
    each call (less sensitive to other programs sharing the machine)."""
    for _, fn in pairs:
        fn()  # warm-up (template compilation, caches)
    samples: dict[str, list[float]] = {name: [] for name, _ in pairs}
    for _ in range(repeat):
        for name, fn in pairs:
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            samples[name].append(time.perf_counter() - start)
            if cpu is not None:
                cpu.setdefault(name, []).append(time.process_time() - start_cpu)
    return samples


def run(args: argparse.Namespace) -> Section:
    """Measure and return the section."""
    repeat = max(3, args.repeat)
    data = generate_catalog()
    text = yaml.safe_dump(data, sort_keys=False)
    section = Section("catalog", "Catalog at scale (500 groups, 1,000 images, 200 instance types)")
    profiles = equivalent_profile_list(data, USER)
    loop = asyncio.new_event_loop()
    try:
        with TemporaryDirectory() as tmp:
            path = Path(tmp) / "catalog.yaml"
            path.write_text(text)
            our_ops, our_size = _ours(text, path)
            peer_ops, peer_size = _peer(profiles, loop)
            load_cpu: dict[str, list[float]] = {}
            loads = _alternate(
                [(k, our_ops[k]) for k in ("load", "reload", "unchanged")], repeat, load_cpu
            )
            # the same load with PyYAML's pure-Python loader (what the hub used before), a few
            # interleaved pairs: a reference that machine load shifts like ours
            pure_cpu: dict[str, list[float]] = {}
            pure = _alternate(
                [("ours", our_ops["load"]), ("pure", _pure_load(text))], PURE_PAIRS, pure_cpu
            )
            compared = _alternate(
                [
                    ("ours form", our_ops["form"]),
                    ("peer form", peer_ops["form"]),
                    ("ours validate", our_ops["validate"]),
                    ("peer validate", peer_ops["validate"]),
                ],
                repeat,
            )
    finally:
        # KubeSpawner's shared client leaves a closing task behind: finish it quietly
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
    ours = {
        **loads,
        "form": compared["ours form"],
        "validate": compared["ours validate"],
        "form_bytes": [our_size],
    }
    peer = {
        "form": compared["peer form"],
        "validate": compared["peer validate"],
        "form_bytes": [peer_size],
    }
    ks = "KubeSpawner profile_list"
    from primehub_spawner.catalog import YAML_LOADER

    loader = f"{YAML_LOADER.__module__}.{YAML_LOADER.__name__}"

    def cpu_note(name: str) -> str:
        return f"CPU time {median(load_cpu[name]):.3f} s; {loader}"

    section.rows = [
        Row("catalog load (parse + validate YAML)", median(ours["load"]), note=cpu_note("load")),
        Row("catalog reload after a file edit", median(ours["reload"]), note=cpu_note("reload")),
        Row(
            f"catalog load, {PURE_PAIRS} pairs with the pure loader",
            median(pure["ours"]),
            median(pure["pure"]),
            peer_name="same, PyYAML's pure SafeLoader",
            note=f"CPU {median(pure_cpu['ours']):.3f} s vs {median(pure_cpu['pure']):.3f} s",
        ),
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
        "yaml_loader": loader,
        "load_cpu_seconds": load_cpu,
        "pure_loader_pairs": {"wall": pure, "cpu": pure_cpu},
        "groups": GROUPS,
        "images": IMAGES,
        "instance_types": INSTANCE_TYPES,
        "user_groups": USER_GROUPS,
        "per_group": {"instance_types": ITS_PER_GROUP, "images": IMAGES_PER_GROUP},
        "samples": {"ours": ours, "peer": peer},
    }
    return section
