"""Property-based fuzzing of spawn user_options through the pure validation and pod planning.

Thousands of generated option dicts and raw form submissions: the validator either refuses
with a 400/403 message, or returns a choice the user is really allowed, whose pod manifest
carries only valid label values and the user's env values verbatim (never a traceback).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from primehub_spawner.catalog import Catalog
from primehub_spawner.launch import LaunchRequest, LaunchSettings, plan_launch
from primehub_spawner.pods import pod_manifest
from primehub_spawner.user_options import (
    KNOWN_KEYS,
    OptionsError,
    options_from_form,
    resolve_options,
)

CATALOG = Catalog.from_dict(
    yaml.safe_load(
        (Path(__file__).parent.parent / "primehub_spawner" / "catalog_fixture.yaml").read_text()
    )
)
USERS = ["alice", "bob", "carol", "nobody", "Al!ce", ""]
HUB_GROUPS = [[], ["Research_Lab"], ["phusers", "unknown-group"]]
NAMES = sorted(
    {*CATALOG.groups, *CATALOG.instance_types, *CATALOG.images, "everyone", "../x", "", " "}
)
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)
names = st.sampled_from(NAMES) | st.text(max_size=30)
env_names = st.sampled_from(["A", "EPOCHS", "JUPYTERHUB_API_TOKEN", "GROUP_NAME", "a-b.c", "1X"])
envs = st.dictionaries(env_names | st.text(max_size=12), json_values | st.text(), max_size=4)
options = st.fixed_dictionaries(
    {},
    optional={
        "group": names | json_values,
        "instance_type": names | json_values,
        "image": names | json_values,
        "env": envs | json_values,
        "kernel_gateway": st.sampled_from([True, False, "on", "off", "", None, 1, "yes", [1]]),
    },
) | st.dictionaries(st.sampled_from([*KNOWN_KEYS, "profile", "cpu_limit"]), json_values)

FUZZ = settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))


def check_choice(user: str, hub_groups: list[str], opts: Any) -> None:
    view = CATALOG.for_user(user, hub_groups)
    try:
        choice = resolve_options(view, opts)
    except OptionsError as e:
        assert e.status_code in (400, 403)
        assert e.message and "Traceback" not in e.message
        return
    # accepted: every part of the choice is something this user may launch
    assert choice.group in view.groups
    assert choice.instance_type in choice.group.instance_types
    assert choice.image in choice.group.images
    assert choice.image.usable_with(choice.instance_type)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in choice.env.items())
    plan = plan_launch(
        LaunchRequest(
            user=user or "anonymous",
            name="jupyter-fuzz",
            group=choice.group,
            instance_type=choice.instance_type,
            image=choice.image,
            env=choice.env,
        ),
        LaunchSettings(home_pvc_name="claim-fuzz"),
    )
    pod = pod_manifest(plan, "jupyter-fuzz", ["jupyterhub-singleuser"])
    for value in pod["metadata"]["labels"].values():
        assert len(value) <= 63 and LABEL_VALUE.match(value), value
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    for key, value in choice.env.items():
        assert key in env
        if key not in plan.env:  # the platform's own variables win over the user's
            assert env[key] == value


@FUZZ
@given(st.sampled_from(USERS), st.sampled_from(HUB_GROUPS), options)
def test_generated_user_options_are_refused_or_safe(user, hub_groups, opts):
    check_choice(user, hub_groups, opts)


@FUZZ
@given(st.sampled_from(USERS), json_values)
def test_non_object_user_options_are_refused(user, opts):
    if isinstance(opts, dict) or opts is None:
        return
    view = CATALOG.for_user(user)
    try:
        resolve_options(view, opts)
    except OptionsError as e:
        assert e.status_code in (400, 403)
    else:
        raise AssertionError(f"{opts!r} accepted as user_options")


@pytest.mark.parametrize("opts", [[], "", 0, False])
def test_empty_non_object_user_options_are_refused(opts):
    try:
        resolve_options(CATALOG.for_user("alice"), opts)
    except OptionsError as e:
        assert e.status_code == 400
    else:
        raise AssertionError(f"{opts!r} accepted as user_options")


form_keys = st.sampled_from(
    ["group", "env", "kernel_gateway"]
    + [f"{field}__{g}" for field in ("instance_type", "image") for g in CATALOG.groups]
) | st.text(max_size=20)
formdata = st.dictionaries(form_keys, st.lists(st.sampled_from(NAMES) | st.text(), max_size=3))


@FUZZ
@given(st.sampled_from(USERS), st.sampled_from(HUB_GROUPS), formdata)
def test_generated_form_posts_are_refused_or_safe(user, hub_groups, form):
    check_choice(user, hub_groups, options_from_form(form))
