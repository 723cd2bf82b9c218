"""PURE: git datasets in a pod: cloned before the notebook starts, pulled every ``syncInterval``.

A ``type: git`` dataset is an ``emptyDir`` volume that

- an init container (``git-clone-<n>``) fills: ``git fetch --depth 1`` of the dataset's
  ``ref`` (default: the remote's HEAD) from its ``url``, checked out detached;
- a sidecar (``git-sync-<n>``) brings up to date every ``syncInterval`` seconds (none when it
  is 0, and never in job pods: a job pod ends when its notebook does);
- the notebook container mounts read-only at the dataset's mount path.

Both run ``git`` of the notebook image (the pod's image), with the admin's container security
context, and no Kubernetes credentials. Credentials come from the Secret named by the dataset's
``secretName`` (keys ``password`` and optionally ``username``) through ``secretKeyRef`` env
variables that a git credential helper given by ``GIT_CONFIG_*`` variables prints: they are never
in a command line, an argument, a URL or a log line. Only the ``http``, ``https`` and ``git``
transports are allowed (``GIT_ALLOW_PROTOCOL``; e.g. ``ext::`` would run a command).

:func:`clone_failure` reads a pod (as the watch cache holds it) and says why a clone cannot
succeed, so the spawn fails at once with that reason instead of waiting out its timeout.
No I/O here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

CLONE_PREFIX = "git-clone-"
SYNC_PREFIX = "git-sync-"
ALLOWED_SCHEMES = ("https", "http", "git")
DEFAULT_SYNC_INTERVAL = 300
_REF = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/-]{0,254}$")
_SECRET = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_SLUG = re.compile(r"[^a-z0-9-]+")

# The helper prints the Secret's values from the environment when git asks ("get").
_CREDENTIAL_HELPER = (
    '!f() { test "$1" = get || return 0; '
    'test -n "$GIT_USERNAME" && echo "username=$GIT_USERNAME"; '
    'echo "password=$GIT_PASSWORD"; }; f'
)

_FETCH = """\
cd "$GIT_DEST" || exit 1
fetch() {
  git fetch --quiet --depth 1 origin "${GIT_REF:-HEAD}" &&
    git checkout --quiet --force FETCH_HEAD && git clean --quiet -ffdx
}
"""

CLONE_SCRIPT = (
    _FETCH
    + """\
if [ ! -d .git ]; then
  git init --quiet . && git remote add origin "$GIT_URL" || exit 1
fi
fetch || {
  echo "cannot fetch ${GIT_REF:-the default branch} of $GIT_URL" >&2
  exit 1
}
echo "git dataset $GIT_DATASET: `git rev-parse --short HEAD` of ${GIT_REF:-HEAD}"
"""
)

SYNC_SCRIPT = (
    _FETCH
    + """\
trap 'exit 0' TERM INT
while :; do
  sleep "$GIT_SYNC_INTERVAL" & wait $!
  fetch || echo "git dataset $GIT_DATASET: sync failed, next try in ${GIT_SYNC_INTERVAL}s" >&2
done
"""
)


class GitDatasetError(ValueError):
    """A bad git dataset setting (the message names the field)."""


def check_url(url: str) -> str:
    """``url`` if git may clone it here, else :class:`GitDatasetError` saying what to change."""
    parts = urlsplit(url)
    if parts.scheme not in ALLOWED_SCHEMES or not parts.netloc or "::" in url:
        raise GitDatasetError(
            f"must be an {', '.join(s + '://' for s in ALLOWED_SCHEMES)} URL of a repository, "
            f"got {url!r}"
        )
    if parts.password is not None or parts.username is not None:
        raise GitDatasetError(
            "must not hold credentials: put them in a Secret and name it in secretName"
        )
    if any(ch.isspace() for ch in url):
        raise GitDatasetError(f"must not contain spaces, got {url!r}")
    return url


def check_ref(ref: str) -> str:
    """A branch, tag or commit name git accepts as a fetch source (no leading ``-``)."""
    if not _REF.match(ref) or ".." in ref or ref.endswith((".lock", "/", ".")) or "//" in ref:
        raise GitDatasetError(
            f"must be a branch, tag or commit name (letters, digits, '.', '_', '-', '/'), "
            f"got {ref!r}"
        )
    return ref


def check_secret_name(name: str) -> str:
    """A Kubernetes Secret name."""
    if not _SECRET.match(name):
        raise GitDatasetError(
            f"must be a Kubernetes Secret name (lower-case letters, digits, '-', '.'), got {name!r}"
        )
    return name


@dataclass(frozen=True)
class GitSync:
    """One git dataset of a pod."""

    dataset: str
    index: int  # the dataset's place among the pod's git datasets: container names
    volume: str
    mount_path: str
    url: str
    ref: str = ""
    interval: int = DEFAULT_SYNC_INTERVAL  # seconds; 0: cloned once
    secret: str = ""

    @property
    def _slug(self) -> str:
        slug = _SLUG.sub("-", self.dataset.lower()).strip("-")[:40].rstrip("-")
        return f"{self.index}-{slug}" if slug else str(self.index)

    @property
    def clone_name(self) -> str:
        """The init container's name."""
        return CLONE_PREFIX + self._slug

    @property
    def sync_name(self) -> str:
        """The sidecar's name."""
        return SYNC_PREFIX + self._slug

    def describe(self) -> str:
        """The dataset, its URL and ref, as an error message names them."""
        ref = f" (ref {self.ref})" if self.ref else ""
        return f"git dataset {self.dataset!r} from {self.url}{ref}"


def _env(sync: GitSync) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "GIT_DATASET", "value": sync.dataset},
        {"name": "GIT_URL", "value": sync.url},
        {"name": "GIT_REF", "value": sync.ref},
        {"name": "GIT_DEST", "value": sync.mount_path},
        {"name": "GIT_SYNC_INTERVAL", "value": str(sync.interval)},
        {"name": "GIT_TERMINAL_PROMPT", "value": "0"},
        {"name": "GIT_ALLOW_PROTOCOL", "value": ":".join(ALLOWED_SCHEMES)},
        {"name": "GIT_CONFIG_NOSYSTEM", "value": "1"},
    ]
    config = [("safe.directory", "*"), ("advice.detachedHead", "false")]
    if sync.secret:
        config.append(("credential.helper", _CREDENTIAL_HELPER))
        env += [
            {
                "name": "GIT_USERNAME",
                "valueFrom": {
                    "secretKeyRef": {"name": sync.secret, "key": "username", "optional": True}
                },
            },
            {
                "name": "GIT_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": sync.secret, "key": "password"}},
            },
        ]
    env.append({"name": "GIT_CONFIG_COUNT", "value": str(len(config))})
    for i, (key, value) in enumerate(config):
        env += [
            {"name": f"GIT_CONFIG_KEY_{i}", "value": key},
            {"name": f"GIT_CONFIG_VALUE_{i}", "value": value},
        ]
    return env


def _container(
    sync: GitSync,
    name: str,
    script: str,
    image: str,
    security_context: Mapping[str, Any] | None,
    pull_policy: str | None,
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "command": ["sh", "-c", script],
        "env": _env(sync),
        "workingDir": sync.mount_path,
        "volumeMounts": [{"name": sync.volume, "mountPath": sync.mount_path}],
        # small requests and no limits: git of one repository, not counted against quota
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if pull_policy:
        container["imagePullPolicy"] = pull_policy
    if security_context:
        container["securityContext"] = dict(security_context)
    return container


def clone_container(
    sync: GitSync,
    image: str,
    security_context: Mapping[str, Any] | None = None,
    pull_policy: str | None = None,
) -> dict[str, Any]:
    """The init container that clones ``sync`` into its volume."""
    return _container(sync, sync.clone_name, CLONE_SCRIPT, image, security_context, pull_policy)


def sync_container(
    sync: GitSync,
    image: str,
    security_context: Mapping[str, Any] | None = None,
    pull_policy: str | None = None,
) -> dict[str, Any]:
    """The sidecar that pulls ``sync`` every ``interval`` seconds."""
    return _container(sync, sync.sync_name, SYNC_SCRIPT, image, security_context, pull_policy)


def _terminated(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The failed run of an init container (now, or its last before a restart)."""
    for state in (status.get("state") or {}, status.get("lastState") or {}):
        done = state.get("terminated") or {}
        if done and done.get("exitCode") not in (0, None):
            return done
    return None


@dataclass(frozen=True)
class CloneFailure:
    """A clone that failed: which dataset, and what Kubernetes said (maybe nothing)."""

    sync: GitSync
    container: str
    detail: str  # the termination message or config error; "" when there is none
    needs_log: bool  # the detail must be read from the container's log

    def message(self, log_tail: str = "") -> str:
        """The spawn's error: the dataset and git's own words."""
        detail = _last_lines(self.detail or log_tail) or "the clone failed"
        return f"Cannot clone {self.sync.describe()}: {detail}"


def _last_lines(text: str, count: int = 3, limit: int = 500) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " ".join(lines[-count:])[-limit:]


def clone_failure(pod: Mapping[str, Any] | None, syncs: tuple[GitSync, ...]) -> CloneFailure | None:
    """Why the pod's git datasets cannot be cloned (``None`` while they still may be):
    a clone that exited non-zero, or a missing credentials Secret or key."""
    if pod is None or not syncs:
        return None
    by_name = {s.clone_name: s for s in syncs} | {s.sync_name: s for s in syncs}
    status = pod.get("status") or {}
    for cs in (
        *(status.get("initContainerStatuses") or ()),
        *(status.get("containerStatuses") or ()),
    ):
        sync = by_name.get(cs.get("name") or "")
        if sync is None:
            continue
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") == "CreateContainerConfigError":
            return CloneFailure(sync, cs["name"], waiting.get("message") or "", False)
        if cs["name"] != sync.clone_name:
            continue
        done = _terminated(cs)
        if done is not None:
            message = done.get("message") or ""
            return CloneFailure(sync, cs["name"], message, not message)
    return None


def syncs_of(pod_spec: Mapping[str, Any]) -> tuple[list[dict], list[dict]]:
    """The git init containers and sidecars of a rendered pod spec (e.g. to copy them into a
    pod derived from it)."""
    inits = [c for c in pod_spec.get("initContainers") or [] if c["name"].startswith(CLONE_PREFIX)]
    sides = [c for c in pod_spec.get("containers") or [] if c["name"].startswith(SYNC_PREFIX)]
    return inits, sides
