"""The groups API's JSON."""

from primehub_spawner.overview import groups_overview
from primehub_spawner.quantities import Resources
from primehub_spawner.quota import Usage

GI = 2**30


def test_overview_lists_only_the_users_groups_with_usage(catalog):
    view = catalog.for_user("alice")
    body = groups_overview(view, {"phusers": Usage(Resources(1, GI, 1), Resources(2, 2 * GI, 1))})
    assert body["user"] == "alice"
    assert [g["name"] for g in body["groups"]] == ["phusers"]
    (ph,) = body["groups"]
    assert ph["quota"] == {"cpu": 8.0, "memory": "32Gi", "gpu": 1}
    assert ph["usage"]["user"] == {"cpu": 1, "memory": "1Gi", "gpu": 1}
    gpu = next(it for it in ph["instanceTypes"] if it["name"] == "gpu-1")
    assert gpu["available"] is False
    assert gpu["reason"] == "would exceed your GPU quota (2 of 1)"
    assert gpu["spec"] == "4 CPU / 16Gi / 1 GPU"
    assert {im["name"]: im["scope"] for im in ph["images"]}["base"] == "global"
    datasets = {d["name"]: d for d in ph["datasets"]}
    assert datasets["mnist"]["writable"] is True
    assert datasets["notebooks"]["writable"] is False
    assert datasets["creds"]["mountPath"] is None


def test_overview_without_usage_counts_zero(catalog):
    body = groups_overview(catalog.for_user("dave", ["Research_Lab"]), {})
    assert body["groups"][0]["usage"]["group"] == {"cpu": 0.0, "memory": "0", "gpu": 0}
