"""The admin's catalog of groups, instance types, images and datasets.

``Catalog.from_dict`` turns the YAML/dict form (see ``docs/admin-guide.md``) into validated,
immutable objects, failing with a :class:`CatalogError` that names the entry and field at
fault. ``Catalog.for_user`` answers "what may this user launch, per group", merging global
items and the special ``everyone`` group into every group. ``CatalogSource`` re-reads a
catalog file when it changes, so a ConfigMap update needs no hub restart.
"""

from __future__ import annotations

import gc
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import yaml

from . import git_datasets
from .catalog_yaml import YAML_LOADER
from .quantities import QuantityError, Quota, parse_count, parse_cpu, parse_memory

EVERYONE = "everyone"
IMAGE_TYPES = ("cpu", "gpu", "both")
DATASET_TYPES = ("pv", "nfs", "hostPath", "git", "env")
DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"
# Entry names end up in PVC names, labels and env names: keep them to a safe alphabet.
_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_ENV_KEY = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
# SLURM-specific fields (the ``slurm`` mapping of an entry) end up in #SBATCH lines and a
# shell script: plain names and absolute paths only, no spaces, quotes or newlines.
_SLURM_NAME = re.compile(r"^[A-Za-z0-9_.+-]{1,128}$")
_SLURM_CONSTRAINT = re.compile(r"^[A-Za-z0-9_.+&|,\[\]*()!:-]{1,256}$")
_SLURM_PATH = re.compile(r"^/[A-Za-z0-9_./+-]{0,1023}$")
_SLURM_MODULES = re.compile(r"^[A-Za-z0-9_./+-]+( [A-Za-z0-9_./+-]+){0,15}$")
_SLURM_FIELDS = {
    "instance type": {
        "partition": _SLURM_NAME,
        "constraint": _SLURM_CONSTRAINT,
        "gres": _SLURM_NAME,
    },
    "image": {"venv": _SLURM_PATH, "conda": _SLURM_PATH, "modules": _SLURM_MODULES},
    "group": {"account": _SLURM_NAME, "sharedPath": _SLURM_PATH},
    "dataset": {"path": _SLURM_PATH},
}
_NO_SLURM: Mapping[str, str] = MappingProxyType({})


class CatalogError(ValueError):
    """The catalog is invalid; the message names the entry and the field to fix."""


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a catalog is parsed and validated.

    Loading allocates some 10^5 objects (nodes, dicts, strings), none in a cycle; every 700 of
    them the collector runs, and in a hub whose heap holds JupyterHub and KubeSpawner each full
    run walks that whole heap: in such a process this more than halved the time a large catalog
    takes. Reference counting still frees everything at once; the collector resumes after, and
    stays off if something else had turned it off. Safe across threads (a counter)."""
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def _load_yaml(text: str, origin: str) -> Mapping[str, Any] | None:
    """The YAML document as Python data, with :data:`YAML_LOADER`. Text it refuses is parsed
    again with the pure-Python loader, whose error is reported: the admin reads the same
    message (problem, line, column and the offending line) whichever loader is installed."""
    try:
        try:
            data = yaml.load(text, Loader=YAML_LOADER)  # noqa: S506 (a safe loader)
        except yaml.YAMLError as e:
            if YAML_LOADER is yaml.SafeLoader:
                raise CatalogError(f"{origin}: not valid YAML: {e}") from None
            try:
                data = yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506 (a safe loader)
            except yaml.YAMLError as pure:
                raise CatalogError(f"{origin}: not valid YAML: {pure}") from None
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        if isinstance(e, CatalogError):
            raise
        # PyYAML's constructors of explicitly tagged scalars (!!int abc, !!bool maybe, ...)
        raise CatalogError(
            f"{origin}: not valid YAML: a value with an explicit tag such as !!int cannot be "
            f"read ({type(e).__name__}: {e}); remove the tag or fix the value"
        ) from None
    if data is not None and not isinstance(data, Mapping):
        raise CatalogError(f"{origin}: the top level must be a mapping")
    return data


@dataclass(frozen=True)
class InstanceType:
    """CPU/memory/GPU shape of a server, with its scheduling constraints."""

    name: str
    display_name: str
    description: str
    cpu: float
    memory: int
    cpu_request: float
    memory_request: int
    gpu: int
    gpu_resource_name: str
    node_selector: Mapping[str, str]
    tolerations: tuple[Mapping[str, Any], ...]
    is_global: bool
    slurm: Mapping[str, str] = field(
        default_factory=lambda: _NO_SLURM
    )  # partition, constraint, gres (the GRES name)
    # seconds a notebook job of this type may wait for its pod to start (None: the jobs
    # service's default, 0: no limit)
    preparing_timeout: int | None = None


@dataclass(frozen=True)
class Image:
    """A container image; ``url_for_gpu`` is used when the instance type has a GPU."""

    name: str
    display_name: str
    description: str
    url: str
    url_for_gpu: str
    type: str
    pull_secret: str
    is_global: bool
    slurm: Mapping[str, str] = field(
        default_factory=lambda: _NO_SLURM
    )  # venv or conda (a prefix), modules (to load)

    def url_for(self, gpu: int) -> str:
        """The image reference to run on an instance type with ``gpu`` GPUs."""
        return self.url_for_gpu if gpu > 0 and self.url_for_gpu else self.url

    def usable_with(self, instance_type: InstanceType) -> bool:
        """GPU-only images need an instance type with a GPU."""
        return not (self.type == "gpu" and instance_type.gpu == 0)

    @property
    def type_label(self) -> str:
        """What the form shows: CPU, GPU or Universal."""
        return {"cpu": "CPU", "gpu": "GPU", "both": "Universal"}[self.type]


@dataclass(frozen=True)
class Dataset:
    """Data mounted into servers (or, for ``env``, turned into environment variables)."""

    name: str
    display_name: str
    description: str
    type: str
    writable: bool
    mount_root: str
    capacity: int | None
    storage_class: str
    pvc_name: str
    server: str
    path: str
    url: str
    variables: Mapping[str, str]
    home_symlink: bool
    launch_group_only: bool
    is_global: bool
    slurm: Mapping[str, str] = field(
        default_factory=lambda: _NO_SLURM
    )  # path: where the data is on the SLURM cluster
    # git datasets (git_datasets.py): branch/tag/commit ("" = the remote's HEAD), seconds
    # between pulls (0 = cloned once), Secret with the credentials ("" = none)
    ref: str = ""
    sync_interval: int = 0
    secret_name: str = ""

    @property
    def mount_path(self) -> str:
        """Where the dataset appears in the server."""
        return f"{self.mount_root.rstrip('/')}/{self.name}"


@dataclass(frozen=True)
class SharedVolume:
    """The group volume: PVC ``project-<group>`` mounted at ``/project/<group>``."""

    capacity: int
    storage_class: str
    home_symlink: bool
    launch_group_only: bool


@dataclass(frozen=True)
class Culling:
    """In-server idle culling timeouts in seconds (0 = never)."""

    server_idle_timeout: int | None = None
    kernel_idle_timeout: int | None = None


@dataclass(frozen=True)
class Group:
    """A group as the admin wrote it (references by name, not yet merged)."""

    name: str
    display_name: str
    group_id: str
    members: frozenset[str]
    quota: Quota
    project_quota: Quota
    shared_volume: SharedVolume | None
    instance_types: tuple[str, ...]
    images: tuple[str, ...]
    datasets: Mapping[str, bool]  # name -> writable granted by this group
    culling: Culling
    slurm: Mapping[str, str] = field(
        default_factory=lambda: _NO_SLURM
    )  # account, sharedPath (the group's directory)


@dataclass(frozen=True)
class DatasetGrant:
    """A dataset as one group grants it (writability can differ per group)."""

    dataset: Dataset
    writable: bool
    group: str


@dataclass(frozen=True)
class GroupView:
    """What a user may use when launching in one group (global and ``everyone`` merged)."""

    group: Group
    instance_types: tuple[InstanceType, ...]
    images: tuple[Image, ...]
    group_images: frozenset[str]
    datasets: tuple[DatasetGrant, ...]

    @property
    def name(self) -> str:
        """The group's name."""
        return self.group.name

    def instance_type(self, name: str) -> InstanceType | None:
        """The named instance type if this group allows it."""
        return next((it for it in self.instance_types if it.name == name), None)

    def image(self, name: str) -> Image | None:
        """The named image if this group allows it."""
        return next((im for im in self.images if im.name == name), None)

    def image_scope(self, image: Image) -> str:
        """``group`` for an image granted by the group itself, ``global`` otherwise."""
        return "group" if image.name in self.group_images else "global"


@dataclass(frozen=True)
class UserView:
    """Everything one user may launch: one :class:`GroupView` per group, in catalog order."""

    user: str
    groups: tuple[GroupView, ...]

    def group(self, name: str) -> GroupView | None:
        """The named group if the user is a member."""
        return next((g for g in self.groups if g.name == name), None)


@dataclass(frozen=True)
class Catalog:
    """The validated catalog."""

    instance_types: Mapping[str, InstanceType]
    images: Mapping[str, Image]
    datasets: Mapping[str, Dataset]
    groups: Mapping[str, Group]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Catalog:
        """Validate a catalog dict; raises :class:`CatalogError` naming the entry and field."""
        return _parse_catalog(data or {})

    @classmethod
    def from_yaml(cls, text: str, origin: str = "catalog") -> Catalog:
        """Parse and validate catalog YAML text."""
        with _gc_paused():
            return cls.from_dict(_load_yaml(text, origin))

    def is_member(self, group: Group, user: str, hub_groups: Iterable[str]) -> bool:
        """Membership = the user's JupyterHub groups plus the group's ``members`` list."""
        return user in group.members or group.name in set(hub_groups)

    def for_user(self, user: str, hub_groups: Iterable[str] = ()) -> UserView:
        """What ``user`` may launch, per group they belong to.

        ``everyone`` is not offered as a group of its own: its items, and global items,
        are merged into each of the user's groups.
        """
        hub_groups = set(hub_groups)
        everyone = self.groups.get(EVERYONE)
        views = []
        for group in self.groups.values():
            if group.name == EVERYONE or not self.is_member(group, user, hub_groups):
                continue
            views.append(self._view(group, everyone))
        return UserView(user=user, groups=tuple(views))

    def _view(self, group: Group, everyone: Group | None) -> GroupView:
        sources = [group] + ([everyone] if everyone else [])
        it_names = _ordered(
            [n for g in sources for n in g.instance_types]
            + [n for n, it in self.instance_types.items() if it.is_global]
        )
        image_names = _ordered(
            [n for g in sources for n in g.images]
            + [n for n, im in self.images.items() if im.is_global]
        )
        grants: dict[str, DatasetGrant] = {}
        for g in sources:
            for name, writable in g.datasets.items():
                prev = grants.get(name)
                grants[name] = DatasetGrant(
                    self.datasets[name], writable or bool(prev and prev.writable), group.name
                )
        for name, ds in self.datasets.items():
            if ds.is_global and name not in grants:
                grants[name] = DatasetGrant(ds, ds.writable, group.name)
        return GroupView(
            group=group,
            instance_types=tuple(self.instance_types[n] for n in it_names),
            images=tuple(self.images[n] for n in image_names),
            group_images=frozenset(group.images),
            datasets=tuple(grants.values()),
        )


def _ordered(names: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for n in names:
        seen.setdefault(n, None)
    return list(seen)


class CatalogSource:
    """Where the catalog comes from: a dict from config, or a file re-read when it changes.

    ``get()`` stats the file (cheap) and parses it again only when its mtime or size
    changed. If a changed file is invalid, the error is raised (the caller shows it) and
    the next call tries again.
    """

    def __init__(self, data: Mapping[str, Any] | None = None, path: str = "") -> None:
        self._data = data
        self._path = path
        self._stamp: tuple[float, int] | None = None
        self._catalog: Catalog | None = None if path else Catalog.from_dict(data)

    def get(self) -> Catalog:
        """The current catalog (blocking file I/O: call from a thread in async code)."""
        if not self._path:
            assert self._catalog is not None
            return self._catalog
        try:
            st = os.stat(self._path)
        except OSError as e:
            raise CatalogError(f"catalog file {self._path}: {e.strerror}") from None
        stamp = (st.st_mtime, st.st_size)
        if self._catalog is None or stamp != self._stamp:
            with open(self._path, encoding="utf-8") as f:
                text = f.read()
            self._catalog = Catalog.from_yaml(text, origin=self._path)
            self._stamp = stamp
        return self._catalog


# ---------------------------------------------------------------------------------------
# Parsing and validation


class _Entry:
    """Typed access to one mapping of the catalog, with errors that name where we are."""

    def __init__(self, where: str, data: Any, known: Iterable[str]) -> None:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise CatalogError(f"{where}: must be a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise CatalogError(
                f"{where}: unknown field {unknown[0]!r} (known fields: {', '.join(sorted(known))})"
            )
        self.where = where
        self.data = data

    def fail(self, key: str, message: str) -> CatalogError:
        return CatalogError(f"{self.where}.{key}: {message}")

    def str(self, key: str, default: str = "", required: bool = False) -> str:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.fail(key, "is required")
            return default
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise self.fail(key, f"must be a string, got {value!r}")
        if required and not str(value).strip():
            raise self.fail(key, "must not be empty")
        return str(value)

    def bool(self, key: str, default: bool = False) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {value!r}")
        return value

    def quantity(self, key: str, parse, default=None, required: bool = False):
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.fail(key, "is required")
            return default
        try:
            return parse(value)
        except QuantityError as e:
            raise self.fail(key, f"bad quantity: {e}") from None

    def seconds(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(key, f"must be a whole number of seconds >= 0, got {value!r}")
        return value

    def names(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "must be a list of names")
        return tuple(value)


_DNS_SAFE = re.compile(r"[^a-z0-9-]")


def group_volume_name(group: str) -> str:
    """The group volume's PVC name: ``project-<group>`` lower-cased, ``_`` -> ``-``."""
    return "project-" + _DNS_SAFE.sub("-", group.lower().replace("_", "-")).strip("-")


def dataset_volume_name(dataset: str) -> str:
    """A dataset's volume name in pods: ``dataset-<name>`` lower-cased, ``_`` -> ``-``."""
    return "dataset-" + _DNS_SAFE.sub("-", dataset.lower().replace("_", "-"))


def _check_volume_names(kind: str, names: Iterable[str], volume_name: Callable[[str], str]) -> None:
    """Each name's Kubernetes volume name fits in 63 characters and is its own."""
    seen: dict[str, str] = {}
    for name in names:
        volume = volume_name(name)
        if len(volume) > 63:
            raise CatalogError(
                f"{kind}.{name}: the name is too long for its volume {volume!r} "
                f"({len(volume)} characters, at most 63): use a shorter name"
            )
        if volume in seen:
            raise CatalogError(
                f"{kind}.{name}: {seen[volume]!r} and {name!r} would share the volume "
                f"{volume!r}: rename one of them"
            )
        seen[volume] = name


def _check_name(kind: str, name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise CatalogError(
            f"{kind}.{name}: bad name (use letters, digits, '-', '_', '.', at most 63 "
            "characters, starting and ending with a letter or digit)"
        )
    return name


def _slurm(kind: str, where: str, raw: Any) -> Mapping[str, str]:
    """An entry's ``slurm`` mapping (used by PrimeHubSlurmSpawner only), each value checked."""
    fields = _SLURM_FIELDS[kind]
    e = _Entry(f"{where}.slurm", raw, fields)
    values = {}
    for key, pattern in fields.items():
        value = e.str(key)
        if value and not pattern.match(value):
            shape = "an absolute path" if pattern is _SLURM_PATH else "a SLURM name"
            raise e.fail(
                key, f"must be {shape} (letters, digits, '_', '.', '+', '-'), got {value!r}"
            )
        if value:
            values[key] = value
    if kind == "image" and "venv" in values and "conda" in values:
        raise e.fail("conda", "give venv or conda, not both")
    return MappingProxyType(values)


def _section(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, Mapping):
        raise CatalogError(f"{key}: must be a mapping of name -> entry")
    return value


def _parse_catalog(data: Mapping[str, Any]) -> Catalog:
    _Entry("catalog", data, ("instanceTypes", "images", "datasets", "groups"))
    instance_types = {
        _check_name("instanceTypes", n): _parse_instance_type(n, v)
        for n, v in _section(data, "instanceTypes").items()
    }
    images = {
        _check_name("images", n): _parse_image(n, v) for n, v in _section(data, "images").items()
    }
    datasets = {
        _check_name("datasets", n): _parse_dataset(n, v)
        for n, v in _section(data, "datasets").items()
    }
    groups = {
        _check_name("groups", n): _parse_group(n, v, instance_types, images, datasets)
        for n, v in _section(data, "groups").items()
    }
    _check_volume_names("groups", groups, group_volume_name)
    _check_volume_names("datasets", datasets, dataset_volume_name)
    return Catalog(
        instance_types=MappingProxyType(instance_types),
        images=MappingProxyType(images),
        datasets=MappingProxyType(datasets),
        groups=MappingProxyType(groups),
    )


def _parse_instance_type(name: str, raw: Any) -> InstanceType:
    e = _Entry(
        f"instanceTypes.{name}",
        raw,
        (
            "displayName",
            "description",
            "cpu",
            "memory",
            "cpuRequest",
            "memoryRequest",
            "gpu",
            "gpuResourceName",
            "nodeSelector",
            "tolerations",
            "global",
            "slurm",
            "preparingTimeout",
        ),
    )
    cpu = e.quantity("cpu", parse_cpu, required=True)
    memory = e.quantity("memory", parse_memory, required=True)
    if cpu <= 0:
        raise e.fail("cpu", "must be more than 0")
    if memory <= 0:
        raise e.fail("memory", "must be more than 0")
    cpu_request = e.quantity("cpuRequest", parse_cpu, default=cpu)
    memory_request = e.quantity("memoryRequest", parse_memory, default=memory)
    if cpu_request > cpu:
        raise e.fail("cpuRequest", f"must not exceed cpu ({cpu:g})")
    if memory_request > memory:
        raise e.fail("memoryRequest", "must not exceed memory")
    node_selector = e.data.get("nodeSelector") or {}
    if not isinstance(node_selector, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in node_selector.items()
    ):
        raise e.fail("nodeSelector", 'must map label names to strings (quote "true")')
    tolerations = e.data.get("tolerations") or []
    if not isinstance(tolerations, list):
        raise e.fail("tolerations", "must be a list")
    for i, tol in enumerate(tolerations):
        _Entry(
            f"instanceTypes.{name}.tolerations[{i}]",
            tol,
            ("key", "operator", "value", "effect", "tolerationSeconds"),
        )
        if tol.get("operator", "Equal") not in ("Equal", "Exists"):
            raise e.fail(f"tolerations[{i}].operator", "must be Equal or Exists")
    return InstanceType(
        name=name,
        display_name=e.str("displayName", name),
        description=e.str("description"),
        cpu=cpu,
        memory=memory,
        cpu_request=cpu_request,
        memory_request=memory_request,
        gpu=e.quantity("gpu", parse_count, default=0),
        gpu_resource_name=e.str("gpuResourceName", DEFAULT_GPU_RESOURCE),
        node_selector=MappingProxyType(dict(node_selector)),
        tolerations=tuple(MappingProxyType(dict(t)) for t in tolerations),
        is_global=e.bool("global"),
        slurm=_slurm("instance type", e.where, e.data.get("slurm")),
        preparing_timeout=e.seconds("preparingTimeout"),
    )


def _parse_image(name: str, raw: Any) -> Image:
    e = _Entry(
        f"images.{name}",
        raw,
        (
            "displayName",
            "description",
            "url",
            "urlForGpu",
            "type",
            "pullSecret",
            "global",
            "slurm",
        ),
    )
    image_type = e.str("type", "both")
    if image_type not in IMAGE_TYPES:
        raise e.fail("type", f"must be one of {', '.join(IMAGE_TYPES)}, got {image_type!r}")
    return Image(
        name=name,
        display_name=e.str("displayName", name),
        description=e.str("description"),
        url=e.str("url", required=True),
        url_for_gpu=e.str("urlForGpu"),
        type=image_type,
        pull_secret=e.str("pullSecret"),
        is_global=e.bool("global"),
        slurm=_slurm("image", e.where, e.data.get("slurm")),
    )


def _parse_dataset(name: str, raw: Any) -> Dataset:
    e = _Entry(
        f"datasets.{name}",
        raw,
        (
            "displayName",
            "description",
            "type",
            "writable",
            "mountRoot",
            "capacity",
            "storageClass",
            "pvcName",
            "server",
            "path",
            "url",
            "variables",
            "homeSymlink",
            "launchGroupOnly",
            "global",
            "slurm",
            "ref",
            "syncInterval",
            "secretName",
        ),
    )
    ds_type = e.str("type", required=True)
    if ds_type not in DATASET_TYPES:
        raise e.fail("type", f"must be one of {', '.join(DATASET_TYPES)}, got {ds_type!r}")
    mount_root = e.str("mountRoot", "/datasets")
    if not mount_root.startswith("/"):
        raise e.fail("mountRoot", f"must be an absolute path, got {mount_root!r}")
    variables = e.data.get("variables") or {}
    if ds_type == "env":
        if not isinstance(variables, Mapping) or not variables:
            raise e.fail("variables", "is required for type env (a mapping of KEY: value)")
        for key, value in variables.items():
            if not isinstance(key, str) or not _ENV_KEY.match(key):
                raise e.fail(f"variables.{key}", "bad variable name")
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise e.fail(f"variables.{key}", "value must be a string")
    elif variables:
        raise e.fail("variables", "only applies to type env")
    if ds_type == "nfs":
        e.str("server", required=True)
        e.str("path", required=True)
    if ds_type == "hostPath" and not e.str("path", required=True).startswith("/"):
        raise e.fail("path", "must be an absolute path")
    git = _parse_git_fields(e, ds_type)
    writable = e.bool("writable")
    if ds_type == "git" and writable:
        raise e.fail("writable", "git datasets are read-only")
    return Dataset(
        name=name,
        display_name=e.str("displayName", name),
        description=e.str("description"),
        type=ds_type,
        writable=writable,
        mount_root=mount_root,
        capacity=e.quantity("capacity", parse_memory),
        storage_class=e.str("storageClass"),
        pvc_name=e.str("pvcName", f"dataset-{name.lower().replace('_', '-')}"),
        server=e.str("server"),
        path=e.str("path"),
        url=e.str("url"),
        variables=MappingProxyType({k: str(v) for k, v in variables.items()}),
        home_symlink=e.bool("homeSymlink"),
        launch_group_only=e.bool("launchGroupOnly"),
        is_global=e.bool("global"),
        slurm=_slurm("dataset", e.where, e.data.get("slurm")),
        **git,
    )


def _parse_git_fields(e: _Entry, ds_type: str) -> dict[str, Any]:
    """``url`` (required), ``ref``, ``syncInterval`` and ``secretName`` of a git dataset."""
    names = ("ref", "syncInterval", "secretName")
    if ds_type != "git":
        for key in names:
            if e.data.get(key) is not None:
                raise e.fail(key, "only applies to type git")
        return {}
    checks = {
        "url": (e.str("url", required=True), git_datasets.check_url),
        "ref": (e.str("ref"), git_datasets.check_ref),
        "secretName": (e.str("secretName"), git_datasets.check_secret_name),
    }
    for key, (value, check) in checks.items():
        if value:
            try:
                check(value)
            except git_datasets.GitDatasetError as err:
                raise e.fail(key, str(err)) from None
    interval = e.seconds("syncInterval")
    return {
        "ref": checks["ref"][0],
        "sync_interval": git_datasets.DEFAULT_SYNC_INTERVAL if interval is None else interval,
        "secret_name": checks["secretName"][0],
    }


def _parse_quota(where: str, raw: Any) -> Quota:
    e = _Entry(where, raw, ("cpu", "memory", "gpu"))
    return Quota(
        cpu=e.quantity("cpu", parse_cpu),
        memory=e.quantity("memory", parse_memory),
        gpu=e.quantity("gpu", parse_count),
    )


def _parse_group(
    name: str,
    raw: Any,
    instance_types: Mapping[str, InstanceType],
    images: Mapping[str, Image],
    datasets: Mapping[str, Dataset],
) -> Group:
    where = f"groups.{name}"
    e = _Entry(
        where,
        raw,
        (
            "displayName",
            "id",
            "members",
            "quota",
            "projectQuota",
            "sharedVolume",
            "instanceTypes",
            "images",
            "datasets",
            "culling",
            "slurm",
        ),
    )
    members = e.names("members")
    its = e.names("instanceTypes")
    for n in its:
        if n not in instance_types:
            raise e.fail(
                "instanceTypes",
                f"unknown instance type {n!r} (defined: {', '.join(instance_types) or 'none'})",
            )
    ims = e.names("images")
    for n in ims:
        if n not in images:
            raise e.fail("images", f"unknown image {n!r} (defined: {', '.join(images) or 'none'})")
    raw_ds = e.data.get("datasets") or {}
    if isinstance(raw_ds, list):
        raw_ds = {n: {} for n in raw_ds}
    if not isinstance(raw_ds, Mapping):
        raise e.fail("datasets", "must be a mapping of dataset name -> {writable: bool}")
    grants: dict[str, bool] = {}
    for n, opts in raw_ds.items():
        if n not in datasets:
            raise e.fail(
                "datasets", f"unknown dataset {n!r} (defined: {', '.join(datasets) or 'none'})"
            )
        ge = _Entry(f"{where}.datasets.{n}", opts, ("writable",))
        writable = ge.bool("writable", datasets[n].writable)
        if writable and datasets[n].type == "git":
            raise ge.fail("writable", "git datasets are read-only")
        grants[n] = writable
    shared = None
    if e.data.get("sharedVolume") is not None:
        se = _Entry(
            f"{where}.sharedVolume",
            e.data["sharedVolume"],
            ("capacity", "storageClass", "homeSymlink", "launchGroupOnly"),
        )
        shared = SharedVolume(
            capacity=se.quantity("capacity", parse_memory, required=True),
            storage_class=se.str("storageClass"),
            home_symlink=se.bool("homeSymlink", True),
            launch_group_only=se.bool("launchGroupOnly"),
        )
    ce = _Entry(
        f"{where}.culling", e.data.get("culling"), ("serverIdleTimeout", "kernelIdleTimeout")
    )
    return Group(
        name=name,
        display_name=e.str("displayName", name),
        group_id=e.str("id", name),
        members=frozenset(members),
        quota=_parse_quota(f"{where}.quota", e.data.get("quota")),
        project_quota=_parse_quota(f"{where}.projectQuota", e.data.get("projectQuota")),
        shared_volume=shared,
        instance_types=its,
        images=ims,
        datasets=MappingProxyType(grants),
        culling=Culling(ce.seconds("serverIdleTimeout"), ce.seconds("kernelIdleTimeout")),
        slurm=_slurm("group", where, e.data.get("slurm")),
    )


__all__ = [
    "EVERYONE",
    "Catalog",
    "CatalogError",
    "CatalogSource",
    "Culling",
    "Dataset",
    "DatasetGrant",
    "Group",
    "GroupView",
    "Image",
    "InstanceType",
    "SharedVolume",
    "UserView",
]
