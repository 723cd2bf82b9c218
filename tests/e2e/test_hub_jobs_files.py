"""The primehub-jobs service serves a Kubernetes job's log, output notebook and artifacts to
its owner and admins without the owner's notebook server (issue 17, part 6), and nothing else:
not to another member of the same group, not through a link a member planted in the group
volume, not outside the job's folder.

No notebook server runs here: the notebook is written straight into the group volume (a folder
of the local provisioner on this machine), where the reference config lets the service read it
(``--JobsApp.group_volumes=hostPath``).
"""

from __future__ import annotations

import io
import json
import os
import zipfile

import pytest

from localk8s.testing import wait_for

from .test_hub_jobs import Jobs, notebook, volume_dir

pytestmark = pytest.mark.cluster

SECRET = "TOP SECRET of another group"
JOB_CODE = """
import os, pathlib
out = pathlib.Path(os.environ["PRIMEHUB_JOB_ARTIFACTS"])
(out / "sub").mkdir(parents=True, exist_ok=True)
(out / "result.txt").write_text("forty-two")
(out / "sub" / "more.csv").write_text("a,b\\n1,2\\n")
print("hello from the job")
"""


def team_volume(k8s_cluster, namespace: str):
    """The group volume of ``team`` (made here if no job or server made it yet)."""
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "project-team", "labels": {"primehub.io/group": "team"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    k8s_cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(claim), check=False)
    wait_for(
        lambda: k8s_cluster.get("pvc", "project-team", "-n", namespace)["spec"].get("volumeName"),
        60,
        what="project-team bound",
    )
    return volume_dir(k8s_cluster, namespace, "project-team")


@pytest.fixture(scope="module")
def finished_job(hub, k8s_cluster, e2e_namespace):
    """A succeeded job of alice in team, with an output notebook and two artifacts."""
    volume = team_volume(k8s_cluster, e2e_namespace)
    (volume / "files").mkdir(exist_ok=True)
    (volume / "files" / "make.ipynb").write_text(json.dumps(notebook(JOB_CODE)))
    hub.create_user("alice")
    hub.create_user("bob")
    hub.create_user("admin")  # an admin in the reference config (admin_users)
    alice = Jobs(hub, hub.user_token("alice"))
    job = alice.submit(path="files/make.ipynb", group="team", instanceType="cpu-1")
    done = alice.wait(job["id"], ("succeeded", "failed"), timeout=240)
    assert done["status"] == "succeeded", (done, alice.log(job["id"]))
    yield alice, done, volume
    # other tests count alice's pods: leave no job pod behind
    selector = f"primehub.io/job={job['id']}"
    k8s_cluster.kubectl("delete", "jobs", "-n", e2e_namespace, "-l", selector)
    wait_for(
        lambda: not k8s_cluster.get("pods", "-n", e2e_namespace, "-l", selector)["items"],
        120,
        what="the job's pod deleted",
    )


def test_the_owner_gets_log_output_and_artifacts_without_a_server(finished_job):
    alice, job, _ = finished_job
    base = f"/jobs/{job['id']}"
    assert "hello from the job" in alice.log(job["id"])
    output = alice.call("GET", f"{base}/output")
    assert output.status_code == 200, output.text
    assert output.headers["Content-Type"] == "application/x-ipynb+json"
    assert "attachment" in output.headers["Content-Disposition"]
    cells = output.json()["cells"]
    assert any("hello from the job" in json.dumps(c.get("outputs")) for c in cells)
    listing = alice.call("GET", f"{base}/artifacts")
    assert listing.status_code == 200, listing.text
    assert listing.json() == {
        "files": [{"path": "result.txt", "size": 9}, {"path": "sub/more.csv", "size": 8}],
        "skipped": 0,
        "truncated": False,
    }
    one = alice.call("GET", f"{base}/artifacts/sub/more.csv")
    assert one.status_code == 200 and one.content == b"a,b\n1,2\n"
    assert one.headers["X-Content-Type-Options"] == "nosniff"
    archive = alice.call("GET", f"{base}/artifacts", params={"format": "zip"})
    assert archive.status_code == 200, archive.text
    with zipfile.ZipFile(io.BytesIO(archive.content)) as z:
        assert sorted(z.namelist()) == ["result.txt", "sub/more.csv"]
        assert z.read("result.txt") == b"forty-two"


def test_bad_requests_say_what_to_change(finished_job):
    alice, job, _ = finished_job
    base = f"/jobs/{job['id']}"
    climb = alice.call("GET", f"{base}/artifacts/..%2F..%2F..%2Fmake.ipynb")
    assert climb.status_code == 400
    assert "relative path of plain names" in climb.json()["message"]
    fmt = alice.call("GET", f"{base}/artifacts", params={"format": "tar"})
    assert fmt.status_code == 400 and "'format' must be json or zip" in fmt.json()["message"]
    missing = alice.call("GET", f"{base}/artifacts/nothing.txt")
    assert missing.status_code == 404 and "does not exist" in missing.json()["message"]


def test_another_member_of_the_group_gets_404_and_an_admin_gets_them(hub, finished_job):
    _, job, _ = finished_job
    base = f"/jobs/{job['id']}"
    bob = Jobs(hub, hub.user_token("bob"))  # a member of team too
    for path in ("/log", "/output", "/artifacts", "/artifacts/result.txt"):
        resp = bob.call("GET", base + path)
        assert resp.status_code == 404, (path, resp.text)
        assert resp.json() == {"message": f"No job with id {job['id']!r}."}
    zipped = bob.call("GET", f"{base}/artifacts", params={"format": "zip"})
    assert zipped.status_code == 404
    admin = Jobs(hub, hub.user_token("admin"))
    assert admin.call("GET", f"{base}/artifacts/result.txt").content == b"forty-two"


def test_links_planted_in_the_group_volume_are_not_followed(finished_job, tmp_path):
    """bob, a member of team, replaces what alice's job left in the shared volume with
    links to a file he may not read through the service (here: another group's secret)."""
    alice, job, volume = finished_job
    base = f"/jobs/{job['id']}"
    secret = tmp_path / "other-group" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(SECRET)
    artifacts = volume / ".primehub-jobs" / job["id"] / "artifacts"
    os.symlink(secret, artifacts / "leak.txt")
    os.symlink(secret.parent, artifacts / "linked-folder")
    listing = alice.call("GET", f"{base}/artifacts").json()
    assert [f["path"] for f in listing["files"]] == ["result.txt", "sub/more.csv"]
    assert listing["skipped"] == 2
    for path in ("leak.txt", "linked-folder/secret.txt"):
        resp = alice.call("GET", f"{base}/artifacts/{path}")
        assert resp.status_code == 403, (path, resp.text)
        assert SECRET not in resp.text
        assert "symbolic link" in resp.json()["message"]
    archive = alice.call("GET", f"{base}/artifacts", params={"format": "zip"})
    assert SECRET.encode() not in archive.content
    # the output notebook itself swapped for a link
    output = volume / job["outputPath"]
    output.rename(output.with_suffix(".bak"))
    os.symlink(secret, output)
    resp = alice.call("GET", f"{base}/output")
    assert resp.status_code == 403 and SECRET not in resp.text
    # the whole artifacts folder swapped for a link
    artifacts.rename(artifacts.with_name("artifacts.bak"))
    os.symlink(secret.parent, artifacts)
    for path in ("/artifacts", "/artifacts/secret.txt"):
        resp = alice.call("GET", base + path)
        assert resp.status_code == 403, (path, resp.text)
        assert SECRET not in resp.text
