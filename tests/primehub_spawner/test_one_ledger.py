"""The one quota ledger of notebooks and jobs: job reservations, their release by the job's
pod, the refusal scopes, the contract's request, and fail-closed pod caches."""

import asyncio

import pytest

from primehub_jobs_contract.errors import InvalidRequest
from primehub_jobs_contract.hub_admission import AdmissionRequest, parse_request
from primehub_spawner.podcache import STALE_MESSAGE, StaleCache, fresh_pods
from primehub_spawner.quantities import Quota, Resources
from primehub_spawner.quota import QuotaExceeded, QuotaLedger

CPU1 = Resources(1, 2**30, 0)


def job_pod(job_id, group="race", user="racer", phase="Pending"):
    name = f"primehub-job-{job_id}-x1y2z"
    return f"ns/{name}", {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "labels": {
                "primehub.io/user": user,
                "primehub.io/group": group,
                "primehub.io/job": job_id,
            },
        },
        "spec": {"containers": [{"name": "notebook", "resources": {"limits": {"cpu": "1"}}}]},
        "status": {"phase": phase},
    }


def reserve_job(ledger, job_id, pods, project=Quota(cpu=2)):
    return ledger.admit(
        f"job:ns/{job_id}",
        user="racer",
        group="race",
        user_label="racer",
        group_label="race",
        request=CPU1,
        quota=Quota(),
        project_quota=project,
        pods=pods,
        now=0.0,
        ttl=300.0,
        release_label=("primehub.io/job", job_id),
    )


def test_a_job_reservation_counts_until_its_pod_is_seen_by_its_label():
    ledger = QuotaLedger()
    reserve_job(ledger, "aaaaaaaaaaaa", {})
    reserve_job(ledger, "bbbbbbbbbbbb", {})
    # two in flight fill a quota of two CPUs: a notebook spawn racing them is refused
    with pytest.raises(QuotaExceeded) as refused:
        reserve_job(ledger, "cccccccccccc", {})
    assert refused.value.scope == "group"
    # the job's pod appears (generated name): it counts by itself, the reservation goes
    key, pod = job_pod("aaaaaaaaaaaa")
    usage = ledger.usage({key: pod}, "race", "racer", now=1.0)
    assert usage.group.cpu == 2  # one pod + one reservation, not three
    assert "job:ns/aaaaaaaaaaaa" not in ledger.reservations


def test_a_pod_of_another_job_does_not_release_a_reservation():
    ledger = QuotaLedger()
    reserve_job(ledger, "aaaaaaaaaaaa", {})
    key, pod = job_pod("dddddddddddd")
    assert ledger.usage({key: pod}, "race", "racer", now=1.0).group.cpu == 2
    assert "job:ns/aaaaaaaaaaaa" in ledger.reservations


def test_a_user_quota_refusal_says_so():
    ledger = QuotaLedger()
    with pytest.raises(QuotaExceeded) as refused:
        ledger.admit(
            "ns/jupyter-racer",
            user="racer",
            group="race",
            user_label="racer",
            group_label="race",
            request=CPU1,
            quota=Quota(cpu=0.5),
            project_quota=Quota(),
            pods={},
            now=0.0,
            ttl=1.0,
        )
    assert refused.value.scope == "user"
    assert str(refused.value).startswith("User racer exceeded cpu quota")


def test_the_admission_request_round_trips_and_refuses_bad_fields():
    req = AdmissionRequest("0123456789ab", "alice?x", "team", "cpu-1", "hub")
    assert parse_request(req.to_json()) == req
    assert req.key == "job:hub/0123456789ab"
    for bad in (
        None,
        [],
        {**req.to_json(), "extra": 1},
        {**req.to_json(), "job": "../../x"},
        {**req.to_json(), "user": ""},
        {**req.to_json(), "group": "g" * 257},
        {**req.to_json(), "instanceType": 3},
    ):
        with pytest.raises(InvalidRequest):
            parse_request(bad)


class FakeReflector:
    def __init__(self, watching=True, fresh=True, pods=None):
        self.watching, self.fresh, self.pods = watching, fresh, pods or {}


def test_a_fresh_cache_is_used_as_it_is():
    current = FakeReflector(pods={"ns/p": {}})

    async def restart():
        raise AssertionError("a fresh cache is not restarted")

    assert asyncio.run(fresh_pods(current, restart)) == {"ns/p": {}}


def test_a_watch_that_gave_up_is_restarted_before_a_quota_decision():
    frozen = FakeReflector(watching=False, fresh=False, pods={"ns/old": {}})
    new = FakeReflector(pods={"ns/new": {}})

    async def restart():
        return new

    assert asyncio.run(fresh_pods(frozen, restart)) == {"ns/new": {}}


@pytest.mark.parametrize(
    "current", [FakeReflector(watching=True, fresh=False), FakeReflector(False, False), None]
)
def test_no_quota_decision_on_a_cache_that_cannot_be_trusted(current):
    async def restart():
        raise OSError("connection refused")

    with pytest.raises(StaleCache) as stale:
        asyncio.run(fresh_pods(current, restart))
    assert str(stale.value) == STALE_MESSAGE
    assert "Try again in a minute" in STALE_MESSAGE


def test_a_job_that_ends_gives_its_hub_reservation_back_and_a_pending_one_has_none():
    """Its pod may have come and gone between two quota checks of the hub, which then never
    saw it: the service releases the reservation when the job ends."""
    from primehub_jobs_contract.states import State
    from primehub_spawner.jobs.model import HubJob
    from primehub_spawner.jobs.shared import Settings, Shared

    class Ledger:
        def __init__(self):
            self.released = []

        async def release(self, job):
            self.released.append(job.id)

    def job(job_id, state):
        return HubJob(
            id=job_id,
            user="racer",
            group="race",
            name="n",
            path="n.ipynb",
            output="o.ipynb",
            instance_type="cpu-small",
            image="base",
            deadline=60,
            state=state,
        )

    async def end_jobs():
        shared = Shared(None, None, None, "/nonexistent", Settings())
        shared.ledger = Ledger()
        shared.finish(job("aaaaaaaaaaaa", State.RUNNING), State.SUCCEEDED, None)
        shared.finish(job("bbbbbbbbbbbb", State.PREPARING), State.CANCELLED, "Cancelled")
        shared.finish(job("cccccccccccc", State.PENDING), State.CANCELLED, "Cancelled")
        await asyncio.sleep(0)
        await asyncio.gather(*shared._releases)
        return shared.ledger.released

    assert asyncio.run(end_jobs()) == ["aaaaaaaaaaaa", "bbbbbbbbbbbb"]
