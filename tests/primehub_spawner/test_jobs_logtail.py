"""Incremental reads of a live job log (issue 15, medium 9): the pure cursor logic."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import yaml

from primehub_jobs_contract.states import State
from primehub_spawner.catalog import CatalogSource
from primehub_spawner.jobs.logtail import Cursor, new_lines, since_second, split_lines, stamp_ns
from primehub_spawner.jobs.service import Caller, JobsService, Settings
from primehub_spawner.jobs.store import JobStore

LOG = (
    "2026-03-01T10:00:00.5Z one\n"
    "2026-03-01T10:00:01.000000001Z two\n"
    "2026-03-01T10:00:01.000000001Z three\n"
    "2026-03-01T10:00:02Z \n"
    "2026-03-01T10:00:02.25Z four\n"
)


def test_times_compare_by_value_whatever_their_digits():
    assert stamp_ns("2026-03-01T10:00:02Z") < stamp_ns("2026-03-01T10:00:02.25Z")
    assert stamp_ns("2026-03-01T10:00:02.250Z") == stamp_ns("2026-03-01T10:00:02.25Z")
    assert stamp_ns("yesterday") is None
    assert since_second("2026-03-01T10:00:01.999Z") == "2026-03-01T10:00:01Z"


def test_a_first_read_returns_every_line_without_times_and_a_cursor():
    data, cursor = new_lines(LOG, None, 1 << 20)
    assert data == b"one\ntwo\nthree\n\nfour\n"
    assert cursor == Cursor("2026-03-01T10:00:02.25Z", 1)


def test_a_read_from_a_cursor_skips_the_boundary_lines_it_already_got():
    # the first reader got "one" and "two": the log since 10:00:01 repeats "two"
    since = "".join(line for line in LOG.splitlines(keepends=True)[1:])
    data, cursor = new_lines(since, Cursor("2026-03-01T10:00:01.000000001Z", 1), 1 << 20)
    assert data == b"three\n\nfour\n"
    assert cursor == Cursor("2026-03-01T10:00:02.25Z", 1)
    # nothing new: nothing returned, the cursor stays
    assert new_lines(since, cursor, 1 << 20) == (b"", cursor)


def test_an_answer_holds_whole_lines_up_to_the_cap_and_the_next_read_goes_on():
    data, cursor = new_lines(LOG, None, 9)
    assert data == b"one\ntwo\n"
    rest, _ = new_lines(LOG, cursor, 1 << 20)
    assert rest == b"three\n\nfour\n"


def test_a_log_cut_by_limit_bytes_leaves_its_incomplete_last_line_for_later():
    cut = LOG + "2026-03-01T10:00:03Z fi"
    data, cursor = new_lines(cut, None, 1 << 20, truncated=True)
    assert data.endswith(b"four\n") and cursor.stamp == "2026-03-01T10:00:02.25Z"


def test_cursor_text_round_trips_and_garbage_is_no_cursor():
    c = Cursor("2026-03-01T10:00:01.000000001Z", 2)
    assert Cursor.parse(c.to_text()) == c
    for raw in ("", "x", "2026-03-01T10:00:01Z", "2026-03-01T10:00:01Z,-1", "a,1", ",", "Z,9"):
        assert Cursor.parse(raw) is None
    assert split_lines("no stamp\n") == [("", "no stamp\n")]


# -- the service's read of a running job's log, against a stand-in with the kubelet's semantics


class KubeletLogs:
    """``pod_log`` as the kubelet answers it: ``sinceTime`` in whole seconds, ``timestamps``,
    ``limitBytes``; records what each call asked and how many bytes it downloaded."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self.calls: list[dict] = []
        self.pods = {}

    def one_view(self):  # the real one indexes the pod cache for a round
        return contextlib.nullcontext()

    def job_pods(self, name: str) -> list:
        return [{"metadata": {"name": f"{name}-pod"}}]

    async def pod_log(self, pod, limit_bytes=None, since_time=None, timestamps=False) -> str:
        since = stamp_ns(since_time) if since_time else None
        out = "".join(
            f"{stamp} {text}" if timestamps else text
            for stamp, text in self.lines
            if since is None or stamp_ns(stamp) >= since
        )
        out = out.encode()[:limit_bytes].decode() if limit_bytes else out
        self.calls.append({"since": since_time, "timestamps": timestamps, "size": len(out)})
        return out


def test_a_second_read_of_a_running_job_asks_kubernetes_only_for_new_lines(tmp_path):
    fixture = Path(__file__).parent / "catalog_fixture.yaml"
    kube = KubeletLogs()
    jobs = JobsService(
        JobStore(tmp_path / "jobs.sqlite"),
        kube,
        CatalogSource(data=yaml.safe_load(fixture.read_text())),
        tmp_path / "logs",
        Settings(namespace="ns"),
    )
    alice = Caller("alice")

    async def play() -> None:
        job = await jobs.submit(alice, {"path": "a.ipynb", "instanceType": "cpu-2"})
        job.state = State.RUNNING
        await asyncio.to_thread(jobs.store.save_job, job)
        kube.lines = [
            (f"2026-03-01T10:{i // 180:02d}:{i // 3 % 60:02d}.{i:09d}Z", f"line {i}\n")
            for i in range(300)
        ]
        first, offset = await jobs.read_log(alice, job.id, 0)
        assert first.decode() == "".join(f"line {i}\n" for i in range(300))
        kube.lines += [("2026-03-01T10:01:40.5Z", "new 1\n"), ("2026-03-01T10:01:41Z", "new 2\n")]
        second, offset2 = await jobs.read_log(alice, job.id, offset)
        assert second == b"new 1\nnew 2\n" and offset2 == offset + len(second)
        # the second call asked from the last line's second on: a few lines, not the whole log
        assert kube.calls[1]["since"] == "2026-03-01T10:01:39Z"
        assert kube.calls[1]["size"] < kube.calls[0]["size"] / 20
        third, offset3 = await jobs.read_log(alice, job.id, offset2)
        assert (third, offset3) == (b"", offset2)
        # a client that passes the cursor itself gets the same, and the old contract still
        # works for an offset the service does not know (read up to it once)
        data, _, _ = await jobs.read_log_at(alice, job.id, len(b"line 0\n"))
        assert data.startswith(b"line 1\n") and data.endswith(b"new 2\n")

    asyncio.run(play())


def test_the_pods_of_each_job_come_from_one_pass_over_the_cache_newest_first():
    from primehub_spawner.jobs.kube import Kube, pods_by_job

    def pod(name, job, created):
        labels = {"job-name": job} if job else {}
        meta = {"name": name, "labels": labels, "creationTimestamp": created}
        return f"ns/{name}", {"metadata": meta}

    cache = dict(
        [
            pod("a-1", "job-a", "2026-11-29T10:00:00Z"),
            pod("a-2", "job-a", "2026-11-29T11:00:00Z"),
            pod("b-1", "job-b", "2026-11-29T10:30:00Z"),
            pod("notebook", None, "2026-11-29T09:00:00Z"),
        ]
    )
    index = pods_by_job(cache)
    assert [p["metadata"]["name"] for p in index["job-a"]] == ["a-2", "a-1"]
    assert set(index) == {"job-a", "job-b"}

    kube = Kube("ns", logging.getLogger("test"))
    kube.reflector = type("R", (), {"pods": cache})()
    with kube.one_view():
        cache.pop("ns/b-1")  # the round answers from the view it started with
        assert [p["metadata"]["name"] for p in kube.job_pods("job-b")] == ["b-1"]
    assert kube.job_pods("job-b") == []  # outside a round: the cache as it is now
    assert [p["metadata"]["name"] for p in kube.job_pods("job-a")] == ["a-2", "a-1"]
