"""A hub restart keeps the servers SLURM runs: the restarted hub finds the job (spawner state),
proxies to it and counts it against the quota; stop then cancels it."""

from __future__ import annotations

from slurm_hubtesting import SLURM_USERS, catalog, restart_hub, squeue

ALICE, BOB = SLURM_USERS


def test_a_restarted_hub_keeps_the_server_and_counts_it(slurm_hub, localslurm):
    hub = slurm_hub(catalog(localslurm["python_prefix"], projectQuota={"cpu": 1}), cleanup=False)
    assert hub.start_server(ALICE, {"instance_type": "cpu-1"}).status_code in (201, 202)
    job_id = hub.wait_server(ALICE, timeout=120)["state"]["job_id"]

    hub = restart_hub(hub)
    slurm_hub.hubs.append(hub)
    server = hub.wait_server(ALICE, timeout=60)
    assert server["state"]["job_id"] == job_id
    token = hub.user_token(ALICE)
    assert hub.server_get(ALICE, "api/status", token).status_code == 200
    # the kept job still holds the group's one CPU
    refused = hub.start_server(BOB, {"instance_type": "cpu-1"})
    assert refused.status_code == 403, refused.text
    assert "Group slurm-team exceeded cpu quota" in refused.json()["message"]
    hub.stop_server(ALICE)
    assert job_id not in squeue(localslurm["conf"], "-u", ALICE, "-t", "PD,R,CF", "-o", "%i")
