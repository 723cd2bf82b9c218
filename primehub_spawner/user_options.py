"""user_options -> a validated choice of group, instance type, image and environment.

The same rules apply to form POSTs and REST spawns. Missing keys take defaults (the
user's first group, the group's first instance type, the first image usable with it).
Every refusal is an :class:`OptionsError` carrying the HTTP status and a message that
names the field and the allowed values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from primehub_jobs_contract.errors import JobsError

from .catalog import GroupView, Image, InstanceType, UserView

ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
KNOWN_KEYS = ("group", "instance_type", "image", "env", "kernel_gateway")
NO_GROUP_MESSAGE = "No group is configured for you to launch a server. Please contact admin."
# Variables the platform sets; a user value would break the server or mislead the user.
# Proxy settings and the resource variables are the admin's; PRIMEHUB_* (the jobs service's
# address, job ids) and KG_* (the kernel gateway's address and token) wire the platform.
RESERVED_ENV = frozenset(
    {"GROUP_ID", "GROUP_NAME", "INSTANCE_TYPE", "IMAGE_NAME", "NVIDIA_VISIBLE_DEVICES"}
    | {"MEM_LIMIT", "MEM_GUARANTEE", "CPU_LIMIT", "CPU_GUARANTEE"}
    | {
        name
        for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
        for name in (proxy, proxy.lower())
    }
)
RESERVED_ENV_PREFIXES = ("JUPYTERHUB_", "JPY_", "KUBERNETES_", "PRIMEHUB_", "KG_")
MAX_ENV_VARS = 100
MAX_ENV_VALUE = 32 * 1024
MAX_ENV_TOTAL = 128 * 1024  # names and values together: a pod spec must stay well under 1.5 MB


class OptionsError(JobsError):
    """A user_options value the user must change; ``status_code`` is 400 or 403 (the contract's
    error base, so a job submit refuses with the same status and words as a spawn)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message, status)


@dataclass(frozen=True)
class Choice:
    """A validated launch choice."""

    group: GroupView
    instance_type: InstanceType
    image: Image
    env: Mapping[str, str]
    kernel_gateway: bool

    def to_options(self) -> dict[str, Any]:
        """The canonical user_options for this choice (what is saved for next time)."""
        return {
            "group": self.group.name,
            "instance_type": self.instance_type.name,
            "image": self.image.name,
            "env": dict(self.env),
            "kernel_gateway": self.kernel_gateway,
        }


def _allowed(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names) if names else "none"


def _text(options: Mapping[str, Any], key: str) -> str | None:
    value = options.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, list) and len(value) == 1:  # raw form fields arrive as lists
        value = value[0]
    if not isinstance(value, str):
        raise OptionsError(400, f"{key}: must be a string, got {value!r}")
    return value


def validate_env(raw: Any) -> dict[str, str]:
    """Check extra environment variables: names ``[-._a-zA-Z][-._a-zA-Z0-9]*``, string
    values, none of the platform's own names."""
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, Mapping):
        raise OptionsError(400, 'env: must be an object of name -> value, e.g. {"DEBUG": "1"}')
    if len(raw) > MAX_ENV_VARS:
        raise OptionsError(400, f"env: at most {MAX_ENV_VARS} variables")
    env: dict[str, str] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not ENV_NAME.match(name):
            raise OptionsError(
                400,
                f"env: {name!r} is not a valid variable name (letters, digits, '-', '.', '_'; "
                "not starting with a digit)",
            )
        if name in RESERVED_ENV or name.startswith(RESERVED_ENV_PREFIXES):
            raise OptionsError(400, f"env: {name!r} is set by the platform and cannot be changed")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise OptionsError(400, f"env: the value of {name!r} must be a string")
        value = str(value)
        if len(value) > MAX_ENV_VALUE or "\x00" in value:
            raise OptionsError(400, f"env: the value of {name!r} is too long or not text")
        env[name] = value
    total = sum(len(k.encode()) + len(v.encode()) for k, v in env.items())
    if total > MAX_ENV_TOTAL:
        raise OptionsError(
            400, f"env: at most {MAX_ENV_TOTAL // 1024} KiB of names and values in total"
        )
    return env


def resolve_options(view: UserView, options: Mapping[str, Any] | None) -> Choice:
    """Validate ``options`` against what the user may launch; fill in defaults."""
    # Only "nothing" means defaults: [], "", 0 or false are malformed, not empty.
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise OptionsError(400, "user_options: must be an object")
    unknown = sorted(k for k in options if k not in KNOWN_KEYS)
    if unknown:
        raise OptionsError(400, f"{unknown[0]}: unknown option (allowed: {', '.join(KNOWN_KEYS)})")
    if not view.groups:
        raise OptionsError(403, NO_GROUP_MESSAGE)
    group_names = [g.name for g in view.groups]

    group_name = _text(options, "group")
    if group_name is None:
        group = view.groups[0]
    else:
        found = view.group(group_name)
        if found is None:
            raise OptionsError(
                403,
                f"group: you are not a member of {group_name!r} "
                f"(your groups: {_allowed(group_names)})",
            )
        group = found

    it_names = [it.name for it in group.instance_types]
    it_name = _text(options, "instance_type")
    if it_name is None:
        if not group.instance_types:
            raise OptionsError(
                400, f"instance_type: group {group.name!r} has no instance type; contact admin"
            )
        instance_type = group.instance_types[0]
    else:
        found_it = group.instance_type(it_name)
        if found_it is None:
            raise OptionsError(
                400,
                f"instance_type: {it_name!r} is not available in group {group.name!r} "
                f"(allowed: {_allowed(it_names)})",
            )
        instance_type = found_it

    usable = [im.name for im in group.images if im.usable_with(instance_type)]
    image_name = _text(options, "image")
    if image_name is None:
        if not usable:
            raise OptionsError(
                400,
                f"image: no image in group {group.name!r} runs on {instance_type.name!r}; "
                "contact admin",
            )
        image = group.image(usable[0])
        assert image is not None
    else:
        found_im = group.image(image_name)
        if found_im is None:
            raise OptionsError(
                400,
                f"image: {image_name!r} is not available in group {group.name!r} "
                f"(allowed: {_allowed([im.name for im in group.images])})",
            )
        if not found_im.usable_with(instance_type):
            raise OptionsError(
                400,
                f"image: {image_name!r} needs a GPU instance type; {instance_type.name!r} has "
                f"no GPU (images usable with it: {_allowed(usable)})",
            )
        image = found_im

    kernel_gateway = options.get("kernel_gateway", False)
    if isinstance(kernel_gateway, list) and len(kernel_gateway) == 1:
        kernel_gateway = kernel_gateway[0]
    if kernel_gateway in ("on", "true", "1"):
        kernel_gateway = True
    if kernel_gateway in ("", "off", "false", "0", None):
        kernel_gateway = False
    if not isinstance(kernel_gateway, bool):
        raise OptionsError(400, f"kernel_gateway: must be true or false, got {kernel_gateway!r}")

    return Choice(
        group=group,
        instance_type=instance_type,
        image=image,
        env=validate_env(options.get("env")),
        kernel_gateway=kernel_gateway,
    )


def parse_env_text(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines from the form's text box -> a dict (blank lines and ``#``
    comments skipped). A line without ``=`` becomes a name with an empty value, so the
    name check reports it instead of it vanishing silently."""
    env: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, _, value = stripped.partition("=")
        env[name.strip()] = value.strip()
    return env


def options_from_form(formdata: Mapping[str, list[str]]) -> dict[str, Any]:
    """The spawn form's fields -> user_options. Instance type and image fields are per
    group (``instance_type__<group>``) so the page works without JavaScript."""

    def first(key: str) -> str | None:
        values = formdata.get(key) or []
        return values[0] if values else None

    group = first("group")
    options: dict[str, Any] = {}
    if group:
        options["group"] = group
        it = first(f"instance_type__{group}")
        image = first(f"image__{group}")
        if it:
            options["instance_type"] = it
        if image:
            options["image"] = image
    env = parse_env_text(first("env") or "")
    if env:
        options["env"] = env
    if first("kernel_gateway"):
        options["kernel_gateway"] = True
    return options
