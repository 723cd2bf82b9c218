"""Kernels of the kernel-gateway split start in the notebook's folder, confined to the mounted
volumes: a real Jupyter Kernel Gateway with the split's config file
(``primehub_spawner/kernel_gateway_workdir.py``, as the spawner ships it in the pod) and real
kernels, asked for folders the way the notebook server asks (``KERNEL_WORKING_DIR``) and the
way an attacker would (a folder outside, a link leading out, relative paths, garbage).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
import websocket

from primehub_spawner.kernel_gateway import CONFIG_FILE, ROOTS_ENV, WORKDIR_SCRIPT
from primehub_spawner.kernel_gateway_workdir import confined_workdir, mount_roots

TOKEN = "workdir-test-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def volumes(tmp_path_factory):
    """home and a group volume (the mounts), an outside folder, and the links users plant."""
    base = tmp_path_factory.mktemp("kgwd")
    home, project, outside = base / "home", base / "project", base / "outside"
    for d in (home / "team" / "sub", project / "work", outside, base / "home-other"):
        d.mkdir(parents=True)
    (home / "team" / "sub" / "data.csv").write_text("a,b\n1,2\n")
    (home / "group").symlink_to(project)  # the home link to a group volume: allowed
    (project / "escape").symlink_to(outside)  # planted in the shared volume: leads out
    (home / "up").symlink_to("..")  # climbs out of home to the base folder
    return {"base": base, "home": home, "project": project, "outside": outside}


@pytest.fixture(scope="module")
def gateway(volumes):
    """A Kernel Gateway with the split's config file, home and the group volume as mounts."""
    config_dir = volumes["base"] / "config"
    config_dir.mkdir()
    (config_dir / CONFIG_FILE).write_text(WORKDIR_SCRIPT)
    port = _free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_PATH": str(config_dir),
        ROOTS_ENV: json.dumps([str(volumes["home"]), str(volumes["project"])]),
        "KG_AUTH_TOKEN": TOKEN,
        "HOME": str(volumes["home"]),
        "JUPYTER_RUNTIME_DIR": str(volumes["base"] / "runtime"),
    }
    log = (volumes["base"] / "gateway.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kernel_gateway",
            "--KernelGatewayApp.ip=127.0.0.1",
            f"--KernelGatewayApp.port={port}",
            "--JupyterWebsocketPersonality.list_kernels=True",
        ],
        cwd=volumes["home"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{url}/api", timeout=5)
                break
            except requests.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((volumes["base"] / "gateway.log").read_text()) from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def kernel_cwd(url: str, folder: object) -> str:
    """Start a kernel as the notebook server does (``env`` with ``KERNEL_WORKING_DIR``) and
    return the folder it runs in."""
    headers = {"Authorization": f"token {TOKEN}"}
    env = {} if folder is None else {"KERNEL_WORKING_DIR": folder}
    resp = requests.post(
        f"{url}/api/kernels", json={"name": "python3", "env": env}, headers=headers, timeout=60
    )
    assert resp.status_code == 201, resp.text
    kernel_id = resp.json()["id"]
    ws = websocket.create_connection(
        f"{url.replace('http', 'ws')}/api/kernels/{kernel_id}/channels",
        header=[f"Authorization: token {TOKEN}"],
        timeout=60,
    )
    try:
        msg_id = uuid.uuid4().hex
        ws.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "username": "u",
                        "session": uuid.uuid4().hex,
                        "msg_type": "execute_request",
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {"code": "import os; print(os.getcwd())", "silent": False},
                    "channel": "shell",
                }
            )
        )
        out = []
        while True:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                raise AssertionError(msg["content"]["traceback"])
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return "".join(out).strip()
    finally:
        ws.close()
        requests.delete(f"{url}/api/kernels/{kernel_id}", headers=headers, timeout=60)


def test_a_kernel_starts_in_the_notebooks_folder(gateway, volumes):
    sub = volumes["home"] / "team" / "sub"
    assert kernel_cwd(gateway, str(sub)) == str(sub)
    # through the home link into the group volume: inside a mount, allowed
    assert kernel_cwd(gateway, str(volumes["home"] / "group" / "work")) == str(
        volumes["project"] / "work"
    )
    # no folder asked for: the gateway's own (home), as before
    assert kernel_cwd(gateway, None) == str(volumes["home"])


def test_folders_outside_the_mounts_start_in_home(gateway, volumes):
    home = str(volumes["home"])
    # outside every mount; a link planted in the shared volume, leading out
    for attack in ("/etc", str(volumes["home"] / "group" / "escape")):
        assert kernel_cwd(gateway, attack) == home, attack


def test_every_folder_outside_the_mounts_is_refused(volumes):
    """What the gateway decides for each asked folder (the same function, without kernels)."""
    roots = [str(volumes["home"]), str(volumes["project"])]
    for attack in (
        str(volumes["outside"]),  # outside every mount
        "/",
        "/etc",
        str(volumes["project"] / "escape"),  # a link planted in the shared volume, leading out
        str(volumes["home"] / "group" / "escape"),  # the same, through the home link
        str(volumes["home"] / "up"),  # a link climbing out of home
        str(volumes["home"] / ".." / "outside"),  # dot-dot
        "team/sub",  # relative: not what the notebook server sends
        str(volumes["home"] / "team" / "sub" / "data.csv"),  # a file, not a folder
        str(volumes["home"] / "missing"),
        str(volumes["home"]) + "-other",  # a sibling whose name starts like a mount
    ):
        assert confined_workdir(attack, roots) is None, attack


def test_confined_workdir(volumes):
    roots = [str(volumes["home"]), str(volumes["project"])]
    assert confined_workdir(str(volumes["home"]), roots) == str(volumes["home"])
    assert confined_workdir(str(volumes["project"] / "escape"), roots) is None
    assert confined_workdir(str(volumes["outside"]), roots) is None
    for bad in (None, 7, ["/"], "", "rel", "/x\0y"):
        assert confined_workdir(bad, roots) is None
    assert confined_workdir(str(volumes["home"]), []) is None
    assert confined_workdir(str(volumes["home"]), [7, "relative"]) is None
    assert mount_roots('["/a", 3]') == ["/a"]
    for raw in (None, "", "not json", '{"a": 1}'):
        assert mount_roots(raw) == []


def test_the_config_file_is_self_contained():
    """It runs in the user's image: standard library and kernel_gateway only."""
    module = Path(__file__).parents[2] / "primehub_spawner" / "kernel_gateway_workdir.py"
    assert module.read_text() == WORKDIR_SCRIPT
    imports = [
        line.split()[1]
        for line in WORKDIR_SCRIPT.splitlines()
        if line.strip().startswith(("import ", "from "))
    ]
    assert set(imports) <= {"__future__", "json", "os", "kernel_gateway.services.kernels.manager"}
