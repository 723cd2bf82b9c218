"""The ``primehub`` CLI's pure parts: where the hub is, options to requests, what it prints,
its exit codes (the HTTP glue runs against a real hub in tests/e2e/test_cli.py)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from primehub_cli import main as cli_main
from primehub_cli import mapping, output, session
from primehub_cli.http import refusal
from primehub_cli.session import CliError, Hub
from primehub_jobs_contract.executor import parse_cli_value


@pytest.mark.parametrize(
    "typed",
    ["https://hub.example.org", "hub.example.org/", "https://hub.example.org/hub/api/"],
)
def test_a_hub_url_as_typed_becomes_its_root(typed):
    assert session.root_url(typed) == "https://hub.example.org"


def test_options_then_the_servers_environment_then_the_stored_login():
    stored = {"url": "https://stored", "token": "s"}
    server_env = {"JUPYTERHUB_API_TOKEN": "e", "JUPYTERHUB_API_URL": "http://hub:8081/hub/api"}
    assert session.resolve(server_env, "https://opt", "o", stored) == Hub(
        "https://opt", "o", "options"
    )
    assert session.resolve(server_env, None, None, stored) == Hub(
        "http://hub:8081", "e", "server environment"
    )
    assert session.resolve({}, None, None, stored) == Hub("https://stored", "s", "credentials")
    # another hub than the stored one, without its token: not the stored token
    assert session.resolve({}, "https://other", None, stored) is None
    assert session.resolve({}, None, None, None) is None


def test_the_stored_token_is_readable_by_its_user_only(tmp_path):
    path = session.credentials_path({"XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    assert path == tmp_path / "cfg" / "primehub" / "credentials.json"
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    path.chmod(0o644)  # an older file readable by others is tightened
    session.save(path, "https://hub", "secret", "alice")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert session.load(path) == {"url": "https://hub", "token": "secret", "user": "alice"}
    fresh = session.credentials_path({"HOME": str(tmp_path / "home")})
    session.save(fresh, "https://hub", "secret", "alice")
    assert stat.S_IMODE(fresh.parent.stat().st_mode) == 0o700


def test_names_are_one_escaped_path_segment_each():
    assert mapping.server_path("alice", "") == "users/alice/server"
    assert mapping.server_path("a/b?c", "x#y") == "users/a%2Fb%3Fc/servers/x%23y"
    assert (
        mapping.logs_path("alice", "gpu", tail=50)
        == "primehub/users/alice/servers/gpu/logs?tail=50"
    )
    since = "2026-01-02T03:04:05.5Z"
    assert mapping.logs_path("alice", "", since=since, tail=50) == (
        "primehub/users/alice/server/logs?since=2026-01-02T03%3A04%3A05.5Z"
    )


def test_spawn_options_take_only_what_was_given():
    env = mapping.env_pairs(["A=1", "B=x=y", "A=2"])
    assert env == {"A": "2", "B": "x=y"}
    assert mapping.user_options("team", "cpu-1", None, env) == {
        "group": "team",
        "instance_type": "cpu-1",
        "env": {"A": "2", "B": "x=y"},
    }
    assert mapping.user_options(None, None, None, {}) == {}
    for bad in ("NOVALUE", "9LIVES=x", "=x"):
        with pytest.raises(CliError, match="--env"):
            mapping.env_pairs([bad])


@pytest.mark.parametrize("raw", ["1", "-2", "2.5", "1e3", "nan", "inf", "True", "None", "x", ""])
def test_parameters_are_typed_as_primehub_job_types_them(raw):
    typed = mapping.parameters((f"x={raw}",), None, None)["x"]
    expected = parse_cli_value(raw)
    assert typed == expected or (typed != typed and expected != expected)  # nan stays nan
    assert type(typed) is type(expected)


def test_parameters_merge_yaml_json_and_pairs():
    assert mapping.parameters(("b=2", "c=x"), "a: 1\nb: 0", '{"c": 3}') == {
        "a": 1,
        "b": 2,
        "c": "x",
    }
    for args, message in (
        (("novalue",), "use -p name=value"),
        ((), "must be a mapping"),
    ):
        with pytest.raises(CliError, match=message):
            mapping.parameters(args, "[1, 2]" if not args else None, None)


def test_job_bodies_of_the_hub_and_of_a_server():
    hub = mapping.job_body(
        path="e2e/x.ipynb", parameters={"n": 1}, hub=True, group="team", instance_type="cpu-1"
    )
    assert hub == {
        "path": "e2e/x.ipynb",
        "parameters": {"n": 1},
        "group": "team",
        "instanceType": "cpu-1",
    }
    server = mapping.job_body(path="x.ipynb", parameters={}, hub=False, backend="local")
    assert server == {"path": "x.ipynb", "parameters": {}, "backend": "local"}
    with pytest.raises(CliError, match="--group is for jobs sent to the hub"):
        mapping.job_body(path="x.ipynb", parameters={}, hub=False, group="team")
    with pytest.raises(CliError, match="--backend"):
        mapping.job_body(path="x.ipynb", parameters={}, hub=True, backend="local")


def test_a_rerun_sends_the_same_notebook_parameters_and_resources():
    job = {
        "id": "0123456789ab",
        "path": "e2e/x.ipynb",
        "name": "x",
        "parameters": {"n": 1},
        "status": "failed",
        "group": "team",
        "instanceType": "cpu-1",
        "image": "base",
        "timeout": None,
        "deadline": 60,
        "backend": "kubernetes",
    }
    assert mapping.rerun_body(job, hub=True) == {
        "path": "e2e/x.ipynb",
        "parameters": {"n": 1},
        "name": "x",
        "deadline": 60,
        "instanceType": "cpu-1",
        "image": "base",
        "group": "team",
    }
    assert "group" not in mapping.rerun_body(job, hub=False)


def test_schedule_bodies_and_pause_resume():
    job = {"path": "x.ipynb", "parameters": {}, "group": "team"}
    assert mapping.schedule_body(job, None, "0 4 * * 1", "Asia/Taipei") == {
        **job,
        "recurrence": "custom",
        "cron": "0 4 * * 1",
        "timezone": "Asia/Taipei",
    }
    with pytest.raises(CliError, match="needs --cron"):
        mapping.recurrence_fields("custom", None)
    with pytest.raises(CliError, match="leave out --recurrence daily"):
        mapping.recurrence_fields("daily", "0 4 * * *")
    # the service keeps the recurrence of a paused schedule and clears its next run
    assert mapping.pause_patch() == {"paused": True}
    daily = {"recurrence": "daily", "nextRunAt": None}
    assert mapping.is_paused(daily) and not mapping.is_paused({**daily, "nextRunAt": "2026"})
    assert not mapping.is_paused({"recurrence": "inactive", "nextRunAt": None})
    assert mapping.resume_patch(daily, None, None) == {"paused": False}
    assert mapping.resume_patch(daily, None, "0 5 * * *") == {
        "paused": False,
        "recurrence": "custom",
        "cron": "0 5 * * *",
    }
    with pytest.raises(CliError, match="it has no recurrence"):
        mapping.resume_patch({"recurrence": "inactive"}, None, None)
    listed = output.schedules_text([{"id": "s1", "name": "n", **daily}])
    assert "paused: daily" in listed


def test_jobs_go_to_the_server_inside_one_and_to_the_hub_from_a_laptop():
    target = mapping.job_target
    assert target(server_url=False, force_hub=False, inside_server=True, hub_known=True) == "server"
    assert target(server_url=False, force_hub=False, inside_server=False, hub_known=True) == "hub"
    assert target(server_url=False, force_hub=True, inside_server=True, hub_known=True) == "hub"
    assert target(server_url=False, force_hub=False, inside_server=False, hub_known=False) == (
        "server"  # a Jupyter server on this machine, as primehub-job finds it
    )
    with pytest.raises(CliError, match="give one"):
        target(server_url=True, force_hub=True, inside_server=False, hub_known=True)


def test_a_refusal_prints_the_servers_message():
    assert refusal(400, b'{"message": "instance_type: no"}', "Bad Request") == (
        "instance_type: no (HTTP 400)"
    )
    assert refusal(502, b"<html>bad gateway</html>", "Bad Gateway") == "Bad Gateway (HTTP 502)"


def test_listings_and_lines():
    user = {
        "servers": {
            "": {"ready": True, "url": "/user/a/", "user_options": {"group": "team"}},
            "gpu": {"pending": "spawn", "ready": False, "url": "/user/a/gpu/"},
        }
    }
    rows = output.servers_rows(user)
    assert [(r["name"], r["state"], r["group"]) for r in rows] == [
        ("", "ready", "team"),
        ("gpu", "starting", None),
    ]
    text = output.servers_text(rows)
    assert text.splitlines()[1].startswith("(default)  ready")
    assert output.spawn_line({"progress": 50, "message": "Pulling\n image"}) == (
        "[ 50%] Pulling image"
    )
    overview = {
        "groups": [
            {
                "name": "team",
                "displayName": "Team",
                "quota": {"cpu": 4, "gpu": 1},
                "projectQuota": {},
                "usage": {"user": {"cpu": 1, "gpu": 0}, "group": {"cpu": 1}},
                "instanceTypes": [
                    {
                        "name": "gpu-1",
                        "spec": "1 CPU / 1G / 1 GPU",
                        "available": False,
                        "reason": "quota",
                    }
                ],
                "images": [{"name": "cuda", "type": "gpu"}],
            }
        ]
    }
    text = output.groups_text(overview)
    assert "your usage:  cpu 1   quota: cpu 4, gpu 1" in text
    assert "gpu-1          1 CPU / 1G / 1 GPU  no: quota" in text
    assert "images: cuda (gpu)" in text
    assert "in no group" in output.groups_text({"groups": []})


def _run(tmp_path, *args, env=None):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "PRIMEHUB_"))}
    clean.update(XDG_CONFIG_HOME=str(tmp_path), JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"))
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "primehub_cli.main", *args],
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_exit_codes_usage_2_refused_1_and_no_traceback(tmp_path):
    assert cli_main.main(["notebook", "start", "--no-such-option"]) == 2
    assert cli_main.main(["schedule", "create"]) == 2  # NOTEBOOK missing
    assert cli_main.main(["--help"]) == 0
    not_logged_in = _run(tmp_path, "groups")
    assert not_logged_in.returncode == 1
    assert not_logged_in.stderr.startswith("error: not logged in: run `primehub login HUB_URL`")
    unreachable = _run(tmp_path, "--url", "http://127.0.0.1:9", "--token", "t", "groups")
    assert unreachable.returncode == 1
    assert "cannot reach the hub at http://127.0.0.1:9/hub/api/" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr + not_logged_in.stderr


def test_shell_completion_comes_from_click(tmp_path):
    script = _run(tmp_path, env={"_PRIMEHUB_COMPLETE": "bash_source"})
    assert script.returncode == 0 and "complete " in script.stdout
    words = _run(
        tmp_path,
        env={"_PRIMEHUB_COMPLETE": "bash_complete", "COMP_WORDS": "primehub no", "COMP_CWORD": "1"},
    )
    assert "notebook" in words.stdout
