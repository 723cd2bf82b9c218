"""With group_volume_root set, only notebooks in a group volume may be submitted (PrimeHub)."""

from __future__ import annotations

import os

import pytest

from jupyterlab_primehub.jobs.paths import GROUP_VOLUME_MESSAGE


@pytest.fixture
def volumes(tmp_path):
    return tmp_path / "project"


@pytest.fixture
def primehub_config(volumes):
    return {"group_volume_root": str(volumes)}


async def test_notebook_outside_group_volume_gets_primehub_message(api, jp_root_dir, notebook):
    notebook(jp_root_dir / "home.ipynb", "1")
    code, reply = await api.call("POST", "jobs", body={"path": "home.ipynb"})
    assert code == 400 and reply["message"] == GROUP_VOLUME_MESSAGE


async def test_notebook_in_group_volume_via_home_symlink_runs(api, jp_root_dir, volumes, notebook):
    # PrimeHub mounts /project/<group> and links ~/<group> to it.
    notebook(volumes / "phusers" / "train.ipynb", "open('result.txt', 'w').write('done')")
    os.symlink(volumes / "phusers", jp_root_dir / "phusers")
    job = await api.submit(path="phusers/train.ipynb")
    done = await api.wait(job["id"])
    assert done["status"] == "succeeded", done
    assert done["outputPath"].startswith("phusers/train-")
    assert (volumes / "phusers" / "result.txt").read_text() == "done"
    assert (volumes / "phusers" / os.path.basename(done["outputPath"])).exists()
