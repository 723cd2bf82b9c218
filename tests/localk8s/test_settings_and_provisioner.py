"""Unit tests: settings from the environment, provisioner decisions, log tailing."""

from __future__ import annotations

from pathlib import Path

import pytest

from localk8s.logserver import tail_bytes
from localk8s.provisioner import pv_for_claim, wants_volume
from localk8s.settings import Settings, parse_labels


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOCALK8S_STATE", str(tmp_path))
    monkeypatch.setenv("LOCALK8S_NODE_GPU", "4")
    monkeypatch.setenv("LOCALK8S_NODE_LABELS", "gpu=true,zone=lab")
    monkeypatch.setenv("LOCALK8S_POD_CIDR", "10.250.3.0/24")
    s = Settings.from_env()
    assert s.state_dir == tmp_path
    assert s.node_gpu == "4"
    assert s.node_labels == {"gpu": "true", "zone": "lab"}
    assert s.bridge_ip == "10.250.3.1"
    assert s.kubeconfig == tmp_path / "kubeconfig"
    s.save()
    assert Settings.load(tmp_path) == s


def test_parse_labels_names_the_bad_item() -> None:
    assert parse_labels("") == {}
    with pytest.raises(ValueError, match="'oops' must look like key=value"):
        parse_labels("a=b,oops")


def _pvc(**spec: object) -> dict:
    return {
        "metadata": {"name": "home", "namespace": "team-a", "uid": "1234abcd-ef"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "5Gi"}},
            **spec,
        },
        "status": {"phase": "Pending"},
    }


def test_provisioner_takes_unbound_claims_of_its_class_or_none() -> None:
    assert wants_volume(_pvc())
    assert wants_volume(_pvc(storageClassName="local"))
    assert wants_volume(_pvc(storageClassName=""))
    assert not wants_volume(_pvc(storageClassName="fast-ssd"))
    assert not wants_volume(_pvc(volumeName="pv-1"))
    assert not wants_volume(_pvc(selector={"matchLabels": {"a": "b"}}))


def test_pv_is_prebound_hostpath_under_the_state_dir(tmp_path: Path) -> None:
    pv = pv_for_claim(_pvc(storageClassName="local"), tmp_path)
    spec = pv["spec"]
    assert spec["capacity"] == {"storage": "5Gi"}
    assert spec["claimRef"]["name"] == "home" and spec["claimRef"]["uid"] == "1234abcd-ef"
    assert spec["storageClassName"] == "local"
    assert Path(spec["hostPath"]["path"]).parent == tmp_path
    assert pv_for_claim(_pvc(), tmp_path)["spec"]["storageClassName"] == ""


def test_tail_bytes() -> None:
    assert tail_bytes(b"a\nb\nc\n", 2) == b"b\nc\n"
    assert tail_bytes(b"a\nb", 5) == b"a\nb"
    assert tail_bytes(b"a\n", 0) == b""
