"""What a validated choice means for SLURM (pure): sbatch options, environment, home links,
the catalog's SLURM fields and the pending reasons that fail a spawn at once."""

from __future__ import annotations

import pytest

from primehub_spawner.catalog import Catalog, CatalogError
from primehub_spawner.quantities import Resources
from primehub_spawner.quota import QuotaExceeded, QuotaLedger
from primehub_spawner.slurm_jobs import JobHolders, JobRecord, parse_squeue, quota_objects
from primehub_spawner.slurm_request import (
    SlurmSettings,
    describe_pending,
    fatal_pending_reason,
    plan_slurm,
)
from primehub_spawner.user_options import resolve_options

CATALOG = {
    "instanceTypes": {
        "small": {"cpu": 0.5, "memory": "1.5Gi"},
        "gpu-2": {
            "cpu": 2,
            "memory": "8Gi",
            "gpu": 2,
            "gpuResourceName": "nvidia.com/gpu",
            "slurm": {"partition": "gpu", "constraint": "a100&ib", "gres": "a100"},
        },
        "gpu-1": {"cpu": 1, "memory": "1Gi", "gpu": 1, "gpuResourceName": "example.com/gpu"},
    },
    "images": {
        "venv": {"url": "x", "slurm": {"venv": "/opt/envs/base"}},
        "conda": {"url": "x", "slurm": {"conda": "/opt/conda/envs/torch"}},
        "mod": {"url": "x", "slurm": {"modules": "python/3.11 cuda/12"}},
        "plain": {"url": "x", "type": "cpu"},
    },
    "datasets": {
        "imagenet": {
            "type": "nfs",
            "server": "n",
            "path": "/export/imagenet",
            "homeSymlink": True,
            "slurm": {"path": "/network/datasets/imagenet"},
        },
        "local": {"type": "hostPath", "path": "/data/local", "homeSymlink": True},
        "nolink": {"type": "hostPath", "path": "/data/nolink"},
        "keys": {"type": "env", "variables": {"TOKEN": "abc"}},
    },
    "groups": {
        "lab": {
            "id": "g-42",
            "members": ["alice"],
            "instanceTypes": ["small", "gpu-2", "gpu-1"],
            "images": ["venv", "conda", "mod", "plain"],
            "datasets": ["imagenet", "local", "nolink", "keys"],
            "slurm": {"account": "rrg-lab", "sharedPath": "/project/lab"},
        }
    },
}


def plan(options, settings=SlurmSettings(python_prefix="/hub/venv")):
    view = Catalog.from_dict(CATALOG).for_user("alice")
    return plan_slurm(resolve_options(view, options), settings)


def test_instance_type_becomes_cpus_memory_gres_partition_constraint_and_account():
    p = plan({"group": "lab", "instance_type": "gpu-2", "image": "venv"})
    assert p.sbatch_lines() == [
        "--cpus-per-task=2",
        "--mem=8192M",
        "--gres=a100:2",
        "--partition=gpu",
        "--constraint='a100&ib'",
        "--account=rrg-lab",
    ]


def test_fractions_round_up_and_the_gres_name_comes_from_the_resource_name():
    p = plan({"group": "lab", "instance_type": "small", "image": "venv"})
    assert p.sbatch_lines()[:2] == ["--cpus-per-task=1", "--mem=1536M"]
    assert not p.gres
    p = plan({"group": "lab", "instance_type": "gpu-1", "image": "venv"})
    assert p.gres == "gpu:1"
    settings = SlurmSettings(gres_name="tesla", default_partition="batch")
    p = plan({"group": "lab", "instance_type": "gpu-1", "image": "venv"}, settings)
    assert (p.gres, p.partition) == ("tesla:1", "batch")


def test_environment_names_the_choice_and_carries_user_and_dataset_variables():
    p = plan({"group": "lab", "instance_type": "gpu-1", "image": "conda", "env": {"A": "1"}})
    assert p.env["GROUP_ID"] == "g-42"
    assert (p.env["GROUP_NAME"], p.env["INSTANCE_TYPE"], p.env["IMAGE_NAME"]) == (
        "lab",
        "gpu-1",
        "conda",
    )
    assert p.env["A"] == "1"
    assert "abc" in p.env.values()
    assert p.usage == Resources(1.0, 2**30, 1)


def test_image_environment_venv_conda_modules_or_the_hub_prefix():
    assert "export PATH=/opt/envs/base/bin:$PATH" in plan({"image": "venv"}).prologue()
    conda = plan({"image": "conda"}).prologue()
    assert "export PATH=/opt/conda/envs/torch/bin:$PATH" in conda
    assert "CONDA_PREFIX=/opt/conda/envs/torch" in conda
    mod = plan({"image": "mod"}).prologue()
    assert "module load python/3.11 cuda/12" in mod
    assert "/hub/venv" not in mod
    assert "export PATH=/hub/venv/bin:$PATH" in plan({"image": "plain"}).prologue()


def test_home_links_group_directory_datasets_and_tmpdir_recreated_each_start():
    script = plan({}).prologue()
    assert 'ln -sfn /project/lab "$HOME"/lab' in script
    assert 'ln -sfn /network/datasets/imagenet "$HOME"/imagenet' in script
    assert 'ln -sfn /data/local "$HOME"/local' in script
    assert "nolink" not in script
    assert 'ln -sfn "$SLURM_TMPDIR" "$HOME"/slurm_tmpdir' in script
    # a real file or folder of that name in the home directory is never replaced
    assert '[ -L "$HOME"/slurm_tmpdir ] || [ ! -e "$HOME"/slurm_tmpdir ]' in script


@pytest.mark.parametrize(
    ("where", "entry", "message"),
    [
        (
            "instanceTypes",
            {"cpu": 1, "memory": "1Gi", "slurm": {"partition": "gpu\n#SBATCH --uid=0"}},
            "instanceTypes.x.slurm.partition: must be a SLURM name",
        ),
        (
            "instanceTypes",
            {"cpu": 1, "memory": "1Gi", "slurm": {"qos": "high"}},
            "instanceTypes.x.slurm: unknown field 'qos'",
        ),
        ("images", {"url": "u", "slurm": {"venv": "relative/env"}}, "images.x.slurm.venv"),
        (
            "images",
            {"url": "u", "slurm": {"venv": "/a", "conda": "/b"}},
            "images.x.slurm.conda: give venv or conda",
        ),
        ("images", {"url": "u", "slurm": {"modules": "a; rm -rf /"}}, "images.x.slurm.modules"),
        ("datasets", {"type": "env", "variables": {"A": "b"}, "slurm": {"path": "$(id)"}}, "path"),
    ],
)
def test_slurm_fields_are_validated_naming_entry_and_field(where, entry, message):
    with pytest.raises(CatalogError, match=message.replace("(", r"\(").replace("$", r"\$")):
        Catalog.from_dict({where: {"x": entry}})


def test_group_slurm_account_is_validated():
    with pytest.raises(CatalogError, match=r"groups.g.slurm.account: must be a SLURM name"):
        Catalog.from_dict({"groups": {"g": {"slurm": {"account": "a b"}}}})


def test_pending_reasons_that_cannot_resolve_fail_others_wait():
    assert fatal_pending_reason("ReqNodeNotAvail,_UnavailableNodes:vm")
    assert fatal_pending_reason("(BadConstraints)")
    drained = "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority"
    assert "(ReqNodeNotAvail)" in fatal_pending_reason(drained)
    assert fatal_pending_reason("Resources") is None
    assert fatal_pending_reason("Priority") is None
    assert "(Resources)" in describe_pending("Resources")


def test_quota_counts_only_recorded_jobs_squeue_reports_active():
    squeue = parse_squeue("10|RUNNING\n11|PENDING\n12|COMPLETED\n99|RUNNING\n")
    records = [
        JobRecord("10", "slurm/alice/", "alice", "lab", Resources(1, 2**30, 1)),
        JobRecord("11", "slurm/bob/", "bob", "lab", Resources(1, 2**30, 1)),
        JobRecord("12", "slurm/carol/", "carol", "lab", Resources(1, 2**30, 1)),
    ]
    jobs = quota_objects(records, squeue)
    assert set(jobs) == {"slurm/alice/", "slurm/bob/"}  # 99: not ours; 12: finished
    view = Catalog.from_dict({"groups": {"lab": {"projectQuota": {"gpu": 3}}}})
    group = view.groups["lab"]
    ledger = QuotaLedger(JobHolders())
    kwargs = dict(
        user="dave",
        group="lab",
        user_label="dave",
        group_label="lab",
        request=Resources(1, 2**30, 1),
        quota=group.quota,
        project_quota=group.project_quota,
        pods=jobs,
        now=0.0,
        ttl=60,
    )
    ledger.admit("slurm/dave/", **kwargs)  # 2 running + 1 = 3
    with pytest.raises(QuotaExceeded, match="Group lab exceeded gpu quota: 3, requesting 4"):
        ledger.admit("slurm/erin/", **{**kwargs, "user": "erin", "user_label": "erin"})
