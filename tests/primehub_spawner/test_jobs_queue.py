"""Queue admission of hub jobs: FIFO per group, user quota skips, group quota holds."""

from primehub_spawner.jobs.queue import Ask, InFlight, QueuedJob, admit
from primehub_spawner.quantities import Quota, Resources

GPU1 = Resources(cpu=1, memory=2**30, gpu=1)
CPU1 = Resources(cpu=1, memory=2**30, gpu=0)


def job(job_id, user, group="team", request=GPU1, quota=Quota(), project_quota=Quota(gpu=2)):
    return QueuedJob(job_id, Ask(user, group, user, group, request, quota, project_quota))


def pod(name, user, group="team", gpu=1, phase="Running"):
    limits = {"cpu": "1", "memory": "1Gi"}
    if gpu:
        limits["nvidia.com/gpu"] = str(gpu)
    return {
        f"ns/{name}": {
            "metadata": {
                "name": name,
                "labels": {"primehub.io/user": user, "primehub.io/group": group},
            },
            "spec": {"containers": [{"name": "notebook", "resources": {"limits": limits}}]},
            "status": {"phase": phase},
        }
    }


def test_fifo_within_the_group_quota():
    decision = admit([job("a", "alice"), job("b", "bob"), job("c", "carol")], {})
    assert decision.start == ["a", "b"]
    assert decision.waiting["c"] == "Group team exceeded gpu quota: 2, requesting 3"


def test_pods_of_notebooks_count_and_finished_pods_do_not():
    pods = {**pod("nb", "alice"), **pod("old", "bob", phase="Succeeded")}
    decision = admit([job("a", "bob"), job("b", "carol")], pods)
    assert decision.start == ["a"]
    assert "Group team exceeded gpu quota" in decision.waiting["b"]


def test_user_quota_blocked_job_does_not_hold_others():
    one_each = Quota(gpu=1)
    pods = pod("nb", "alice")  # alice holds her one GPU with a notebook
    queue = [
        job("a", "alice", quota=one_each),
        job("b", "bob", quota=one_each),
    ]
    decision = admit(queue, pods)
    assert decision.start == ["b"]
    assert decision.waiting == {"a": "User alice exceeded gpu quota: 1, requesting 2"}


def test_group_quota_blocked_job_holds_the_groups_queue():
    # a 2-GPU job waits for the group; a 1-GPU job behind it must not overtake it
    pods = pod("nb", "carol")
    queue = [job("big", "alice", request=Resources(1, 2**30, 2)), job("small", "bob")]
    decision = admit(queue, pods)
    assert decision.start == []
    assert "Group team exceeded gpu quota: 2, requesting 3" == decision.waiting["big"]
    assert decision.waiting["small"] == "Waiting in group team's queue behind job big"


def test_groups_queue_independently():
    queue = [
        job("t1", "alice", project_quota=Quota(gpu=0)),
        job("o1", "alice", group="other"),
    ]
    decision = admit(queue, {})
    assert decision.start == ["o1"]
    assert "t1" in decision.waiting


def test_in_flight_jobs_count_until_their_pod_appears():
    queue = [job("b", "bob")]
    flying = [InFlight("a", "alice", "team", Resources(1, 2**30, 2))]
    decision = admit(queue, {}, flying)
    assert decision.start == []
    assert decision.waiting["b"] == "Group team exceeded gpu quota: 2, requesting 3"


def test_resources_a_job_does_not_ask_for_never_block_it():
    pods = pod("nb", "alice", gpu=2)
    decision = admit([job("cpu", "bob", request=CPU1)], pods)
    assert decision.start == ["cpu"]
