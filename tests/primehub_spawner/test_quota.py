"""Quota arithmetic, PrimeHub's messages, and the reservation race."""

import asyncio

import pytest

from primehub_spawner.quantities import Quota, Resources
from primehub_spawner.quota import QuotaExceeded, QuotaLedger, pod_limits

GI = 2**30


def pod(name, user, group, cpu="1", memory="1Gi", gpu=0, phase="Running", ns="hub"):
    limits = {"cpu": cpu, "memory": memory}
    if gpu:
        limits["nvidia.com/gpu"] = str(gpu)
    return f"{ns}/{name}", {
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"primehub.io/user": user, "primehub.io/group": group},
        },
        "spec": {"containers": [{"name": "notebook", "resources": {"limits": limits}}]},
        "status": {"phase": phase},
    }


def pods_of(*items):
    return dict(items)


def admit(ledger, key, pods, request, user="alice", group="phusers", quota=None, project=None):
    return ledger.admit(
        key,
        user=user,
        group=group,
        user_label=user,
        group_label=group,
        request=request,
        quota=quota or Quota(),
        project_quota=project or Quota(),
        pods=pods,
        now=0.0,
        ttl=600.0,
    )


def test_pod_limits_sums_containers_and_gpus():
    _, p = pod("a", "alice", "phusers", cpu="500m", memory="1536Mi", gpu=2)
    p["spec"]["containers"].append(
        {"name": "kernel", "resources": {"limits": {"cpu": "2", "amd.com/gpu": "1"}}}
    )
    assert pod_limits(p) == Resources(cpu=2.5, memory=1536 * 2**20, gpu=3)


def test_usage_counts_pending_and_running_of_the_group_only():
    ledger = QuotaLedger()
    pods = pods_of(
        pod("a", "alice", "phusers", cpu="1", gpu=1),
        pod("b", "bob", "phusers", cpu="2", phase="Pending"),
        pod("c", "alice", "phusers", cpu="4", phase="Succeeded"),
        pod("d", "alice", "other", cpu="8"),
        pod("e", "alice", "phusers", cpu="1", phase="Failed"),
    )
    usage = ledger.usage(pods, "phusers", "alice", now=0)
    assert usage.user == Resources(cpu=1, memory=GI, gpu=1)
    assert usage.group == Resources(cpu=3, memory=2 * GI, gpu=1)


def test_user_quota_message_is_primehubs():
    ledger = QuotaLedger()
    pods = pods_of(pod("a", "alice", "phusers", gpu=1))
    with pytest.raises(QuotaExceeded) as err:
        admit(ledger, "hub/b", pods, Resources(1, GI, 1), quota=Quota(gpu=1))
    assert str(err.value) == "User alice exceeded gpu quota: 1, requesting 2"


def test_group_quota_message_is_primehubs():
    ledger = QuotaLedger()
    pods = pods_of(pod("a", "bob", "phusers", cpu="6"))
    with pytest.raises(QuotaExceeded) as err:
        admit(ledger, "hub/b", pods, Resources(4, GI, 0), project=Quota(cpu=8))
    assert str(err.value) == "Group phusers exceeded cpu quota: 8, requesting 10"


def test_memory_message_in_gib():
    ledger = QuotaLedger()
    with pytest.raises(
        QuotaExceeded, match=r"User alice exceeded memory quota: 8Gi, requesting 10Gi"
    ):
        admit(ledger, "hub/b", {}, Resources(1, 10 * GI, 0), quota=Quota(memory=8 * GI))


def test_unrequested_resource_never_blocks():
    # already over the GPU quota (e.g. the quota was lowered): a CPU-only launch still fits
    ledger = QuotaLedger()
    pods = pods_of(pod("a", "alice", "phusers", gpu=2))
    admit(ledger, "hub/b", pods, Resources(1, GI, 0), quota=Quota(gpu=1))


def test_exactly_at_quota_is_allowed():
    ledger = QuotaLedger()
    admit(ledger, "hub/a", {}, Resources(4, 8 * GI, 1), quota=Quota(4, 8 * GI, 1))


def test_reservations_count_until_the_pod_is_cached():
    ledger = QuotaLedger()
    quota = Quota(gpu=1)
    admit(ledger, "hub/a", {}, Resources(1, GI, 1), quota=quota)
    with pytest.raises(QuotaExceeded):
        admit(ledger, "hub/b", {}, Resources(1, GI, 1), quota=quota)
    # the pod shows up in the cache: it now counts by itself, not twice
    pods = pods_of(pod("a", "alice", "phusers", gpu=1))
    assert ledger.usage(pods, "phusers", "alice", now=0).user.gpu == 1
    assert "hub/a" not in ledger.reservations
    # pod deleted: usage drops to zero (the reservation does not come back)
    assert ledger.usage({}, "phusers", "alice", now=0).user.gpu == 0


def test_release_and_expiry():
    ledger = QuotaLedger()
    admit(ledger, "hub/a", {}, Resources(1, GI, 1), quota=Quota(gpu=1))
    ledger.release("hub/a")
    admit(ledger, "hub/b", {}, Resources(1, GI, 1), quota=Quota(gpu=1))
    assert ledger.usage({}, "phusers", "alice", now=599).user.gpu == 1
    assert ledger.usage({}, "phusers", "alice", now=601).user.gpu == 0


def test_same_server_retry_replaces_its_own_reservation():
    ledger = QuotaLedger()
    admit(ledger, "hub/a", {}, Resources(1, GI, 1), quota=Quota(gpu=1))
    admit(ledger, "hub/a", {}, Resources(1, GI, 1), quota=Quota(gpu=1))


def test_concurrent_admissions_cannot_overshoot():
    """Ten spawns race on one event loop against a group quota for two."""
    ledger = QuotaLedger()
    admitted, refused = [], []

    async def spawn(i):
        await asyncio.sleep(0)  # interleave like real spawn coroutines
        try:
            admit(
                ledger,
                f"hub/p{i}",
                {},
                Resources(1, GI, 1),
                user=f"u{i}",
                project=Quota(gpu=2),
            )
            admitted.append(i)
        except QuotaExceeded as e:
            refused.append(str(e))
        await asyncio.sleep(0)

    async def main():
        await asyncio.gather(*(spawn(i) for i in range(10)))

    asyncio.run(main())
    assert len(admitted) == 2
    assert len(refused) == 8
    assert set(refused) == {"Group phusers exceeded gpu quota: 2, requesting 3"}


def test_fits_explains_for_the_form():
    ledger = QuotaLedger()
    pods = pods_of(pod("a", "alice", "phusers", gpu=1))
    usage = ledger.usage(pods, "phusers", "alice", now=0)
    assert QuotaLedger.fits(usage, Resources(1, GI, 1), Quota(gpu=1), Quota()) == (
        "would exceed your GPU quota (2 of 1)"
    )
    assert QuotaLedger.fits(usage, Resources(1, GI, 0), Quota(gpu=1), Quota()) is None
    assert QuotaLedger.fits(usage, Resources(9, GI, 0), Quota(), Quota(cpu=8)) == (
        "would exceed the group's CPU quota (10 of 8)"
    )
