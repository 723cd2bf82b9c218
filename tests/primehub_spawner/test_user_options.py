"""user_options validation: the same rules for form and REST spawns."""

import pytest

from primehub_spawner.user_options import (
    NO_GROUP_MESSAGE,
    OptionsError,
    options_from_form,
    parse_env_text,
    resolve_options,
)


def refused(view, options):
    with pytest.raises(OptionsError) as err:
        resolve_options(view, options)
    return err.value.status_code, err.value.message


def test_empty_options_take_defaults(catalog):
    choice = resolve_options(catalog.for_user("alice"), {})
    assert (choice.group.name, choice.instance_type.name, choice.image.name) == (
        "phusers",
        "cpu-2",
        "torch",
    )
    assert choice.env == {}
    assert choice.to_options()["group"] == "phusers"


def test_default_image_skips_gpu_only_images(catalog):
    view = catalog.for_user("dave", ["Research_Lab"])
    choice = resolve_options(view, {"instance_type": "gpu-2"})
    assert choice.image.name == "torch"


def test_full_choice(catalog):
    choice = resolve_options(
        catalog.for_user("alice"),
        {"group": "phusers", "instance_type": "gpu-1", "image": "cuda", "env": {"A_B": "1"}},
    )
    assert (choice.instance_type.gpu, choice.image.name, dict(choice.env)) == (
        1,
        "cuda",
        {"A_B": "1"},
    )


def test_global_items_are_allowed(catalog):
    choice = resolve_options(catalog.for_user("alice"), {"instance_type": "tiny", "image": "base"})
    assert (choice.instance_type.name, choice.image.name) == ("tiny", "base")


def test_group_not_a_member_is_403_with_allowed_groups(catalog):
    status, msg = refused(catalog.for_user("alice"), {"group": "Research_Lab"})
    assert status == 403
    assert msg == "group: you are not a member of 'Research_Lab' (your groups: 'phusers')"


def test_unknown_group_is_403(catalog):
    assert refused(catalog.for_user("alice"), {"group": "nope"})[0] == 403


def test_no_group_is_403_with_the_admin_message(catalog):
    assert refused(catalog.for_user("mallory"), {}) == (403, NO_GROUP_MESSAGE)


def test_forbidden_instance_type_names_allowed_values(catalog):
    status, msg = refused(catalog.for_user("alice"), {"instance_type": "gpu-2"})
    assert status == 400
    assert msg == (
        "instance_type: 'gpu-2' is not available in group 'phusers' "
        "(allowed: 'cpu-2', 'gpu-1', 'cpu-1', 'tiny')"
    )


def test_stale_image_gives_400_naming_the_field(catalog):
    status, msg = refused(catalog.for_user("alice"), {"image": "removed-image"})
    assert status == 400
    assert msg.startswith("image: 'removed-image' is not available in group 'phusers' (allowed:")


def test_gpu_only_image_on_cpu_instance_type(catalog):
    status, msg = refused(catalog.for_user("alice"), {"instance_type": "cpu-2", "image": "cuda"})
    assert status == 400
    assert "image: 'cuda' needs a GPU instance type" in msg
    assert "'torch'" in msg


@pytest.mark.parametrize(
    "env, fragment",
    [
        ({"1ABC": "x"}, "'1ABC' is not a valid variable name"),
        ({"A B": "x"}, "'A B' is not a valid variable name"),
        ({"": "x"}, "'' is not a valid variable name"),
        ({"GROUP_NAME": "x"}, "'GROUP_NAME' is set by the platform"),
        ({"JUPYTERHUB_API_TOKEN": "x"}, "'JUPYTERHUB_API_TOKEN' is set by the platform"),
        ({"OK": {"nested": 1}}, "the value of 'OK' must be a string"),
        ({"OK": True}, "the value of 'OK' must be a string"),
        (["A=1"], "env: must be an object"),
        ({"PRIMEHUB_JOBS_URL": "http://evil"}, "'PRIMEHUB_JOBS_URL' is set by the platform"),
        ({"KG_AUTH_TOKEN": "x"}, "'KG_AUTH_TOKEN' is set by the platform"),
        ({"https_proxy": "http://evil"}, "'https_proxy' is set by the platform"),
        ({"MEM_LIMIT": "1"}, "'MEM_LIMIT' is set by the platform"),
        ({f"V{i}": "x" * 32 * 1024 for i in range(5)}, "at most 128 KiB of names and values"),
    ],
)
def test_bad_env(catalog, env, fragment):
    status, msg = refused(catalog.for_user("alice"), {"env": env})
    assert status == 400
    assert msg.startswith("env: ")
    assert fragment in msg


def test_env_name_rule_accepts_dots_and_dashes(catalog):
    choice = resolve_options(catalog.for_user("alice"), {"env": {"-a.b_C": "1", "N": 3}})
    assert dict(choice.env) == {"-a.b_C": "1", "N": "3"}


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"group": 5}, "group: must be a string"),
        ({"profile": "x"}, "profile: unknown option (allowed: group, instance_type, image"),
        ({"kernel_gateway": "maybe"}, "kernel_gateway: must be true or false"),
        ("not a dict", "user_options: must be an object"),
    ],
)
def test_bad_shapes(catalog, options, fragment):
    status, msg = refused(catalog.for_user("alice"), options)
    assert status == 400
    assert fragment in msg


def test_form_fields_become_options():
    form = {
        "group": ["phusers"],
        "instance_type__phusers": ["gpu-1"],
        "image__phusers": ["cuda"],
        "instance_type__Research_Lab": ["gpu-2"],
        "env": ["A=1\n\n# comment\nB = two words \nBROKEN LINE"],
    }
    assert options_from_form(form) == {
        "group": "phusers",
        "instance_type": "gpu-1",
        "image": "cuda",
        "env": {"A": "1", "B": "two words", "BROKEN LINE": ""},
    }
    assert options_from_form({}) == {}


def test_env_text_keeps_equals_in_values():
    assert parse_env_text("URL=http://x/?a=b") == {"URL": "http://x/?a=b"}


def test_form_and_rest_share_rules(catalog):
    options = options_from_form({"group": ["phusers"], "env": ["BROKEN LINE"]})
    status, msg = refused(catalog.for_user("alice"), options)
    assert (status, msg.split(" is ")[0]) == (400, "env: 'BROKEN LINE'")
