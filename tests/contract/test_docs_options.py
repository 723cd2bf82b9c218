"""The docs name only options and flags that exist.

* every ``c.Class.option`` and every ``Class.option`` of a known configurable class named in
  ``docs/*.md`` and ``README.md`` is a configurable traitlet of that class (the class imported);
  a ``c.Class.option`` of a class this test does not know fails too (add the class below);
* every ``--flag`` on a line that runs ``primehub-job`` (or in a section about it) is an option of
  its parser; on a line that runs ``python -m primehub_executor``, of the executor's parser; in a
  section about ``JobsApp`` options, one of its command-line aliases; on a line that runs the
  ``primehub`` command, an option of one of its click commands (checked once ``primehub_cli``
  imports; until then such lines are left alone).
"""

from __future__ import annotations

import argparse
import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]

#: Configurable classes the docs may name -> the module that defines them.
CLASSES = {
    "PrimeHubSpawner": "primehub_spawner.spawner",
    "PrimeHubSlurmSpawner": "primehub_spawner.slurm",
    "KubeSpawner": "kubespawner",
    "Spawner": "jupyterhub.spawner",
    "JupyterHub": "jupyterhub.app",
    "Authenticator": "jupyterhub.auth",
    "JobsApp": "primehub_spawner.jobs.app",
    "PrimeHubApp": "jupyterlab_primehub.app",
    "ServerApp": "jupyter_server.serverapp",
    "MappingKernelManager": "jupyter_server.services.kernels.kernelmanager",
    "KernelGatewayApp": "kernel_gateway.gatewayapp",
}
_PREFIXED = re.compile(r"\bc\.([A-Z]\w*)\.(\w+)")
# not an attribute chain or a call (``Spawner.db.commit()`` names no option)
_NAMED = re.compile(r"(?<![\w.])(" + "|".join(CLASSES) + r")\.([a-z_]\w*)(?![\w.(])")
_FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
_HEADING = re.compile(r"^#+\s")


def _lines() -> Iterator[tuple[str, int, str, str]]:
    """(page, line number, line, the heading of its section) of every page."""
    for page in PAGES:
        heading = ""
        for number, line in enumerate(page.read_text().splitlines(), 1):
            if _HEADING.match(line):
                heading = line
            yield page.relative_to(ROOT).as_posix(), number, line, heading


def _traits(name: str) -> set[str]:
    cls = getattr(importlib.import_module(CLASSES[name]), name)
    return set(cls.class_traits(config=True))


def test_every_named_option_is_a_configurable_trait_of_its_class():
    wrong = []
    cache: dict[str, set[str]] = {}
    for page, number, line, _ in _lines():
        found = {(m.group(1), m.group(2)) for m in _PREFIXED.finditer(line)}
        found |= {(m.group(1), m.group(2)) for m in _NAMED.finditer(line)}
        for cls, option in sorted(found):
            if cls not in CLASSES:
                wrong.append(f"{page}:{number}: c.{cls}.{option}: unknown class {cls}")
                continue
            if cls not in cache:
                cache[cls] = _traits(cls)
            if option not in cache[cls]:
                wrong.append(f"{page}:{number}: {cls}.{option} is not an option of {cls}")
    assert not wrong, "\n".join(wrong)
    assert {"PrimeHubSpawner", "JobsApp", "PrimeHubApp"} <= set(cache)  # the check ran


def _argparse_flags(parser: argparse.ArgumentParser) -> set[str]:
    flags = set()
    for action in parser._actions:
        flags.update(s for s in action.option_strings if s.startswith("--"))
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                flags |= _argparse_flags(sub)
    return flags


def _click_flags() -> set[str] | None:
    try:
        import click

        main = importlib.import_module("primehub_cli.main")
    except ImportError:
        return None
    group = next(
        (v for v in vars(main).values() if isinstance(v, click.Group) and v.name == "primehub"),
        None,
    ) or next((v for v in vars(main).values() if isinstance(v, click.Group)), None)
    if group is None:
        return None
    flags: set[str] = {"--help"}

    def walk(command: click.Command) -> None:
        for param in command.params:
            flags.update(o for o in (*param.opts, *param.secondary_opts) if o.startswith("--"))
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(group)
    return flags


def _checks() -> list[tuple[str, re.Pattern[str], set[str] | None]]:
    from jupyterlab_primehub.cli import build_parser as job_parser
    from primehub_executor.run import build_parser as executor_parser
    from primehub_spawner.jobs.app import JobsApp

    jobs_app = {f"--{alias}" for alias in JobsApp.aliases} | {"--help"}
    return [
        ("primehub-job", re.compile(r"primehub-job\b(?!s)"), _argparse_flags(job_parser())),
        (
            "primehub_executor",
            re.compile(r"-m primehub_executor\b"),
            _argparse_flags(executor_parser()),
        ),
        ("JobsApp", re.compile(r"JobsApp"), jobs_app),
        ("primehub", re.compile(r"(^|[`$(]\s*)primehub (?!-)[a-z]"), _click_flags()),
    ]


def test_every_cli_flag_named_in_the_docs_exists():
    checks = _checks()
    wrong = []
    checked = set()
    for page, number, line, heading in _lines():
        for command, pattern, flags in checks:
            if flags is None:
                continue  # the command's module is not there yet
            on_line = pattern.search(line)
            in_section = command in ("primehub-job", "JobsApp") and pattern.search(heading)
            if not (on_line or (in_section and line.lstrip().startswith(("-", "|", "*")))):
                continue
            for flag in _FLAG.findall(line):
                checked.add(command)
                if flag not in flags:
                    wrong.append(f"{page}:{number}: {flag} is not an option of {command}")
    assert not wrong, "\n".join(wrong)
    assert {"primehub-job", "JobsApp"} <= checked  # the check ran


def test_the_admin_guide_lists_every_option_primehubspawner_adds():
    from primehub_spawner.spawner import PrimeHubSpawner

    text = (ROOT / "docs" / "admin-guide.md").read_text()
    start = text.index("## Spawner options (traitlets)")
    table = text[start : text.index("\n## ", start + 1)]
    listed = set(re.findall(r"^\| `(\w+)`", table, re.M))
    missing = sorted(set(PrimeHubSpawner.class_own_traits(config=True)) - listed)
    assert not missing, (
        f"add a row for each to the spawner options table of docs/admin-guide.md: {missing}"
    )


@pytest.mark.parametrize("flag", ["--backend", "--limit", "--json", "--wait", "--follow"])
def test_the_primehub_job_flags_the_user_guide_must_name_exist(flag):
    from jupyterlab_primehub.cli import build_parser

    assert flag in _argparse_flags(build_parser())
    text = (ROOT / "docs" / "user-guide-jobs.md").read_text()
    named = f"`{flag}" in text or f" {flag}" in text
    assert named, f"docs/user-guide-jobs.md does not name {flag}"


def _slugs(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings (outside code blocks)."""
    slugs: set[str] = set()
    fenced = False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if fenced or not _HEADING.match(line):
            continue
        text = line.lstrip("#").strip().lower()
        slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
        candidate, n = slug, 0
        while candidate in slugs:
            n += 1
            candidate = f"{slug}-{n}"
        slugs.add(candidate)
    return slugs


def test_every_relative_link_and_anchor_in_the_docs_resolves():
    wrong = []
    for page in PAGES:
        fenced = False
        for number, line in enumerate(page.read_text().splitlines(), 1):
            if line.startswith("```"):
                fenced = not fenced
            if fenced:
                continue
            for target in re.findall(r"\]\(([^)\s]+)\)", line):
                if re.match(r"[a-z]+:", target):
                    continue  # http(s), mailto
                path, _, anchor = target.partition("#")
                file = (page.parent / path).resolve() if path else page
                where = f"{page.relative_to(ROOT).as_posix()}:{number}: {target}"
                if not file.exists():
                    wrong.append(f"{where}: no such file")
                elif anchor and file.suffix == ".md" and anchor not in _slugs(file):
                    wrong.append(f"{where}: no heading with that anchor in {file.name}")
    assert not wrong, "\n".join(wrong)
