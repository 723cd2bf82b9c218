"""``primehub-job``: submit and follow notebook jobs through the running server's REST API.

The server is found like ``jupyter server list`` does (the runtime dir's ``jpserver-*.json``), or
through JupyterHub's ``JUPYTERHUB_SERVICE_URL``/``JUPYTERHUB_API_TOKEN`` inside a hub; ``--url`` and
``--token`` override both. Exit code: 0 on success, 1 when a job failed or was cancelled or the
server refused the request, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jupyter_core.paths import jupyter_runtime_dir

from primehub_jobs_contract.executor import parse_cli_value
from primehub_jobs_contract.states import State

FINAL = tuple(s.value for s in State if s.is_final)  # succeeded, failed, cancelled


class CliError(Exception):
    """A problem to print as ``error: ...`` with exit code 1."""


@dataclass
class Server:
    """Where the REST API is and how to authenticate."""

    url: str  # base URL including the server's base_url, ending with "/"
    token: str
    root_dir: str | None = None

    def request(self, method: str, path: str, body: Any = None, raw: bool = False) -> Any:
        """Call ``/primehub/api/<path>``; JSON in and out (``raw`` returns bytes and headers)."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"token {self.token}"} if self.token else {}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            self.url + "primehub/api/" + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                payload = response.read()
                if raw:
                    return payload, dict(response.headers)
                return json.loads(payload) if payload else None
        except urllib.error.HTTPError as e:
            try:
                message = json.loads(e.read()).get("message") or e.reason
            except (ValueError, AttributeError):
                message = e.reason
            raise CliError(f"{message} (HTTP {e.code})") from None
        except urllib.error.URLError as e:
            raise CliError(f"cannot reach the Jupyter server at {self.url}: {e.reason}") from None


def _pid_alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError):
        return False
    return True


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def find_server(url: str | None, token: str | None, near: str | None = None) -> Server:
    """Pick the server: explicit options, else a running server from the runtime dir (the one
    whose root contains ``near``), else the JupyterHub single-user environment."""
    hub_token = os.environ.get("JUPYTERHUB_API_TOKEN")
    if url:
        return Server(url.rstrip("/") + "/", token or hub_token or "")
    near = os.path.abspath(near or os.getcwd())
    candidates = []
    for info_file in sorted(Path(jupyter_runtime_dir()).glob("jpserver-*.json")):
        try:
            info = json.loads(info_file.read_text())
        except (OSError, ValueError):
            continue
        if _pid_alive(info.get("pid")) and info.get("url"):
            candidates.append(info)
    candidates.sort(key=lambda i: not _inside(near, os.path.abspath(i.get("root_dir", "/"))))
    if candidates:
        info = candidates[0]
        base = info["url"].rstrip("/") + "/"
        return Server(base, token or info.get("token") or hub_token or "", info.get("root_dir"))
    service_url = os.environ.get("JUPYTERHUB_SERVICE_URL")
    if service_url and hub_token:
        parsed = urllib.parse.urlsplit(service_url)
        host = parsed.hostname if parsed.hostname not in ("0.0.0.0", "", None) else "127.0.0.1"
        netloc = f"{host}:{parsed.port}" if parsed.port else host
        base = urllib.parse.urlunsplit((parsed.scheme or "http", netloc, parsed.path, "", ""))
        return Server(base.rstrip("/") + "/", token or hub_token)
    raise CliError("no running Jupyter server found; start one or pass --url and --token")


def parse_parameters(pairs: list[str], yaml_text: str | None, json_text: str | None) -> dict:
    """Merge ``-y`` YAML, ``-j`` JSON and ``-p key=value`` (typed like papermill), in that order."""
    parameters: dict[str, Any] = {}
    for label, text, loader in (("-y", yaml_text, yaml.safe_load), ("-j", json_text, json.loads)):
        if not text:
            continue
        try:
            data = loader(text)
        except (ValueError, yaml.YAMLError) as e:
            raise CliError(f"{label}: cannot parse parameters: {e}") from None
        if not isinstance(data, dict):
            raise CliError(f"{label}: parameters must be a mapping such as {{alpha: 0.1}}")
        parameters.update(data)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CliError(f"-p {pair!r}: use -p name=value")
        parameters[key.strip()] = parse_cli_value(value)
    try:
        json.dumps(parameters)
    except (TypeError, ValueError) as e:
        raise CliError(f"parameters must be JSON values: {e}") from None
    return parameters


def api_path(server: Server, notebook: str) -> str:
    """The notebook's path relative to the server root (absolute if the root is unknown)."""
    absolute = os.path.abspath(notebook)
    if server.root_dir:
        for root in (os.path.abspath(server.root_dir), os.path.realpath(server.root_dir)):
            if _inside(absolute, root):
                return os.path.relpath(absolute, root).replace(os.sep, "/")
    return absolute


def progress_line(job: dict) -> str:
    done, total = job["progress"]["done"], job["progress"]["total"]
    width = 30
    filled = int(width * done / total) if total else 0
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} cells  {job['status']}"


def wait_for(server: Server, job_id: str, poll: float) -> dict:
    """Follow a job to its end with a progress bar on stderr."""
    tty = sys.stderr.isatty()
    last = None
    while True:
        job = server.request("GET", f"jobs/{job_id}")
        line = progress_line(job)
        if line != last:
            sys.stderr.write(("\r" + line) if tty else (line + "\n"))
            sys.stderr.flush()
            last = line
        if job["status"] in FINAL:
            if tty:
                sys.stderr.write("\n")
            return job
        time.sleep(poll)


def describe(job: dict) -> str:
    lines = [
        f"id:       {job['id']}",
        f"name:     {job['name']}",
        f"notebook: {job['path']}",
        f"status:   {job['status']}",
        f"progress: {job['progress']['done']}/{job['progress']['total']} cells",
        f"output:   {job['outputPath']}",
        f"created:  {job['createdAt']}",
    ]
    if job.get("startedAt"):
        lines.append(f"started:  {job['startedAt']}")
    if job.get("finishedAt"):
        lines.append(f"finished: {job['finishedAt']}")
    if job.get("parameters"):
        lines.append(f"parameters: {json.dumps(job['parameters'])}")
    if job.get("error"):
        e = job["error"]
        lines.append(f"error:    {e['ename']}: {e['evalue']} (cell {e['cellIndex']})")
    elif job.get("endedEarly"):
        lines.append(f"ended:    {ended_early_text(job['endedEarly'])}")
    elif job.get("reason"):
        lines.append(f"reason:   {job['reason']}")
    return "\n".join(lines)


def ended_early_text(ended: dict) -> str:
    """E.g. ``early at cell 2 (SystemExit: 0); the remaining cells were not run``."""
    what = ": ".join(str(p) for p in (ended.get("ename"), ended.get("evalue")) if p)
    return f"early at cell {ended.get('cellIndex')} ({what}); the remaining cells were not run"


def finished_code(job: dict) -> int:
    return 0 if job["status"] == "succeeded" else 1


def cmd_submit(server: Server, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        "path": api_path(server, args.notebook),
        "parameters": parse_parameters(args.param, args.yaml, args.json),
    }
    for key in ("name", "kernel", "timeout", "deadline", "backend"):
        if getattr(args, key) is not None:
            body[key] = getattr(args, key)
    job = server.request("POST", "jobs", body)
    print(f"Submitted job {job['id']} ({job['name']}); output: {job['outputPath']}")
    if not args.wait:
        return 0
    job = wait_for(server, job["id"], args.poll)
    print(describe(job))
    return finished_code(job)


def cmd_list(server: Server, args: argparse.Namespace) -> int:
    query = {"limit": str(args.limit)}
    if args.status:
        query["status"] = args.status
    page = server.request("GET", "jobs?" + urllib.parse.urlencode(query))
    print(f"{'ID':12}  {'STATUS':9}  {'PROGRESS':8}  {'CREATED':24}  NAME")
    for job in page["jobs"]:
        progress = f"{job['progress']['done']}/{job['progress']['total']}"
        print(
            f"{job['id']:12}  {job['status']:9}  {progress:8}  {job['createdAt']:24}  {job['name']}"
        )
    print(f"({len(page['jobs'])} of {page['total']})")
    return 0


def cmd_status(server: Server, args: argparse.Namespace) -> int:
    job = server.request("GET", f"jobs/{urllib.parse.quote(args.id)}")
    print(json.dumps(job, indent=2) if args.json else describe(job))
    return 0


def cmd_logs(server: Server, args: argparse.Namespace) -> int:
    job_id = urllib.parse.quote(args.id)
    offset = 0
    out = sys.stdout.buffer
    while True:
        data, headers = server.request("GET", f"jobs/{job_id}/log?offset={offset}", raw=True)
        out.write(data)
        out.flush()
        offset = int(headers.get("X-Log-Offset", offset + len(data)))
        if not args.follow:
            return 0
        if not data:
            job = server.request("GET", f"jobs/{job_id}")
            if job["status"] in FINAL:
                # One more read: the executor may have written its last lines meanwhile.
                data, _ = server.request("GET", f"jobs/{job_id}/log?offset={offset}", raw=True)
                out.write(data)
                out.flush()
                return finished_code(job)
            time.sleep(args.poll)


def cmd_cancel(server: Server, args: argparse.Namespace) -> int:
    job = server.request("POST", f"jobs/{urllib.parse.quote(args.id)}/cancel", {})
    print(f"Cancelling job {job['id']} ({job['status']})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``primehub-job`` command line."""
    p = argparse.ArgumentParser(prog="primehub-job", description="PrimeHub notebook jobs.")
    p.add_argument("--url", help="server URL incl. base URL (default: found automatically)")
    p.add_argument("--token", help="server token (default: from the server info or the hub)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("submit", help="run a notebook as a job")
    s.add_argument("notebook", help="path of the .ipynb file")
    s.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="parameter; numbers, True/False/None are typed, anything else a string",
    )
    s.add_argument("-y", "--yaml", help="parameters as a YAML mapping")
    s.add_argument("-j", "--json", help="parameters as a JSON object")
    s.add_argument("--name", help="job name (default: the notebook's name)")
    s.add_argument("--kernel", help="kernel name (default: the notebook's kernel)")
    s.add_argument("--timeout", type=float, help="per-cell timeout in seconds")
    s.add_argument("--deadline", type=float, help="whole-job deadline in seconds")
    s.add_argument("--backend", help="job backend (default: the server's default)")
    s.add_argument("--wait", action="store_true", help="follow the job with a progress bar")
    s.add_argument("--poll", type=float, default=1.0, help=argparse.SUPPRESS)
    s.set_defaults(func=cmd_submit)

    s = sub.add_parser("list", help="list jobs, newest first")
    s.add_argument("--status", choices=["pending", "running", *FINAL])
    s.add_argument("--limit", type=int, default=50)
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("status", help="show one job")
    s.add_argument("id")
    s.add_argument("--json", action="store_true", help="print the job as JSON")
    s.set_defaults(func=cmd_status)

    s = sub.add_parser("logs", help="print a job's log")
    s.add_argument("id")
    s.add_argument("-f", "--follow", action="store_true", help="keep printing until the job ends")
    s.add_argument("--poll", type=float, default=1.0, help=argparse.SUPPRESS)
    s.set_defaults(func=cmd_logs)

    s = sub.add_parser("cancel", help="cancel a pending or running job")
    s.add_argument("id")
    s.set_defaults(func=cmd_cancel)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``primehub-job``."""
    args = build_parser().parse_args(argv)
    try:
        near = getattr(args, "notebook", None)
        server = find_server(args.url, args.token, near)
        return args.func(server, args)
    except CliError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
