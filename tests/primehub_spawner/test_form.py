"""The spawn form's HTML."""

from html.parser import HTMLParser

from primehub_spawner.form import render_form
from primehub_spawner.quantities import Resources
from primehub_spawner.quota import Usage
from primehub_spawner.user_options import NO_GROUP_MESSAGE, options_from_form, resolve_options

GI = 2**30


class Inputs(HTMLParser):
    """Collects inputs/options and visible text of the form."""

    def __init__(self):
        super().__init__()
        self.inputs, self.options, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input":
            self.inputs.append(attrs)
        if tag == "option":
            self.options.append(attrs)

    def handle_data(self, data):
        if data.strip():
            self.text.append(data.strip())


def parse(html):
    p = Inputs()
    p.feed(html)
    return p


def radios(p, name):
    return {i["value"]: i for i in p.inputs if i.get("name") == name}


def test_groups_instance_types_and_images(catalog):
    html = render_form(catalog.for_user("bob", ["Research_Lab"]), {})
    p = parse(html)
    assert [o["value"] for o in p.options] == ["phusers", "Research_Lab"]
    its = radios(p, "instance_type__phusers")
    assert list(its) == ["cpu-2", "gpu-1", "cpu-1", "tiny"]
    assert its["gpu-1"]["data-gpu"] == "1"
    assert "1 CPU / 2Gi / 0 GPU" in p.text
    assert "4 CPU / 16Gi / 1 GPU" in p.text
    images = radios(p, "image__phusers")
    assert images["cuda"]["data-gpu-only"] == "true"
    assert images["torch"]["data-gpu-only"] == "false"
    assert {"CPU", "GPU", "Universal", "group", "global"} <= set(p.text)
    assert "instance_type__Research_Lab" in html
    # first choices preselected
    assert "checked" in its["cpu-2"] and "checked" in images["torch"]


def test_usage_and_quota_disable_instance_types(catalog):
    view = catalog.for_user("alice")
    usages = {"phusers": Usage(user=Resources(1, GI, 1), group=Resources(3, 4 * GI, 1))}
    p = parse(render_form(view, usages))
    its = radios(p, "instance_type__phusers")
    assert "disabled" in its["gpu-1"]
    assert "disabled" not in its["cpu-2"]
    assert "Unavailable: would exceed your GPU quota (2 of 1)" in p.text
    assert "1 / 1" in p.text  # GPU used / quota
    assert "3 (no limit)" not in p.text
    assert "3 / 16" in p.text  # group CPU


def test_previous_choice_preselected(catalog):
    previous = {"group": "phusers", "instance_type": "gpu-1", "image": "cuda", "env": {"A": "1"}}
    html = render_form(catalog.for_user("alice"), {}, previous)
    p = parse(html)
    assert "checked" in radios(p, "instance_type__phusers")["gpu-1"]
    assert "checked" in radios(p, "image__phusers")["cuda"]
    assert "A=1" in html


def test_previous_choice_ignored_when_stale(catalog):
    previous = {"group": "gone", "instance_type": "old", "image": "removed"}
    p = parse(render_form(catalog.for_user("alice"), {}, previous))
    assert "checked" in radios(p, "instance_type__phusers")["cpu-2"]


def test_no_group_page(catalog):
    html = render_form(catalog.for_user("mallory"), {})
    assert NO_GROUP_MESSAGE in html
    assert "<select" not in html


def test_user_text_is_escaped(catalog_dict):
    from primehub_spawner.catalog import Catalog

    catalog_dict["groups"]["phusers"]["displayName"] = "<script>alert(1)</script>"
    html = render_form(
        Catalog.from_dict(catalog_dict).for_user("alice"), {}, {"env": {"X": "</textarea><b>"}}
    )
    assert "<script>alert(1)</script>" not in html
    assert "</textarea><b>" not in html


def test_form_round_trip(catalog):
    """What the form preselects is a valid choice when posted unchanged."""
    view = catalog.for_user("bob", ["Research_Lab"])
    p = parse(render_form(view, {}))
    form = {"group": ["phusers"]}
    for i in p.inputs:
        if "checked" in i:
            form.setdefault(i["name"], []).append(i["value"])
    choice = resolve_options(view, options_from_form(form))
    assert (choice.group.name, choice.instance_type.name, choice.image.name) == (
        "phusers",
        "cpu-2",
        "torch",
    )
