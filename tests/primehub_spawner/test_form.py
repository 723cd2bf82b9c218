"""The spawn form's HTML."""

import json
from html.parser import HTMLParser

from primehub_spawner.form import render_form
from primehub_spawner.quantities import Resources
from primehub_spawner.quota import Usage
from primehub_spawner.user_options import NO_GROUP_MESSAGE, options_from_form, resolve_options

GI = 2**30


class Inputs(HTMLParser):
    """Collects inputs/options (with the select they are in and whether they are inside
    <noscript>, i.e. only there without JavaScript) and the visible text of the form."""

    def __init__(self):
        super().__init__()
        self.inputs, self.options, self.text = [], [], []
        self.select = None
        self.noscript = False
        self.option = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "noscript":
            self.noscript = True
        attrs["noscript"] = self.noscript
        if tag == "input":
            self.inputs.append(attrs)
        if tag == "select":
            self.select = attrs.get("name")
        if tag == "option":
            attrs["select"] = self.select
            attrs["text"] = ""
            self.options.append(attrs)
            self.option = attrs

    def handle_endtag(self, tag):
        if tag == "noscript":
            self.noscript = False
        if tag == "option":
            self.option = None

    def handle_data(self, data):
        if self.option is not None:
            self.option["text"] += data
        if data.strip():
            self.text.append(data.strip())


def parse(html):
    p = Inputs()
    p.feed(html)
    return p


def radios(p, name):
    return {i["value"]: i for i in p.inputs if i.get("name") == name}


def options(p, select):
    return {o["value"]: o for o in p.options if o["select"] == select}


def form_data(html):
    """The JSON the page's script builds the other groups' choices from."""
    start = html.index('<script type="application/json" id="primehub-form-data">')
    start = html.index(">", start) + 1
    return json.loads(html[start : html.index("</script>", start)])


def test_groups_instance_types_and_images(catalog):
    html = render_form(catalog.for_user("bob", ["Research_Lab"]), {})
    p = parse(html)
    assert list(options(p, "group")) == ["phusers", "Research_Lab"]
    its = radios(p, "instance_type__phusers")
    assert list(its) == ["cpu-2", "gpu-1", "cpu-1", "tiny"]
    assert its["gpu-1"]["data-gpu"] == "1"
    assert "1 CPU / 2Gi / 0 GPU" in p.text
    assert "4 CPU / 16Gi / 1 GPU" in p.text
    images = radios(p, "image__phusers")
    assert images["cuda"]["data-gpu-only"] == "true"
    assert images["torch"]["data-gpu-only"] == "false"
    assert {"CPU", "GPU", "Universal", "group", "global"} <= set(p.text)
    # first choices preselected
    assert "checked" in its["cpu-2"] and "checked" in images["torch"]


def test_only_the_selected_group_is_markup_the_others_are_data(catalog):
    html = render_form(catalog.for_user("bob", ["Research_Lab"]), {})
    p = parse(html)
    assert html.count("<section") == 1 and 'data-group="phusers"' in html
    assert not radios(p, "instance_type__Research_Lab")
    data = form_data(html)
    assert list(data["groups"]) == ["Research_Lab"]  # the selected group is markup only
    lab = data["groups"]["Research_Lab"]
    assert lab["displayName"] == "Research Lab"
    assert lab["instanceTypes"] == [["gpu-2", None], ["cpu-1", None], ["tiny", None]]
    assert lab["images"] == [["torch", 1], ["minimal", 0], ["base", 0]]
    assert lab["selected"] == ["gpu-2", "torch"]
    assert lab["usage"][0] == ["0 (no limit)", "0 (no limit)", "0 / 2"]
    assert "scratch at /mnt/scratch (read-only)" in lab["datasets"]
    # instance types and images are listed once, whichever groups offer them
    assert data["instanceTypes"]["gpu-2"] == ["GPU 2", "", "8 CPU / 32Gi / 2 GPU", 2]
    assert data["images"]["torch"] == ["PyTorch", "", "Universal", 0]
    assert set(data["images"]) == {"torch", "minimal", "base"}


def test_without_javascript_other_groups_are_plain_selects(catalog):
    """<noscript>: each other group's instance types and images, named like the radios."""
    view = catalog.for_user("bob", ["Research_Lab"])
    usages = {"Research_Lab": Usage(user=Resources(0, 0, 1), group=Resources(0, 0, 1))}
    p = parse(render_form(view, usages))
    its = options(p, "instance_type__Research_Lab")
    assert list(its) == ["gpu-2", "cpu-1", "tiny"]
    assert all(o["noscript"] for o in its.values())
    assert "disabled" in its["gpu-2"]
    assert its["gpu-2"]["text"] == (
        "GPU 2: 8 CPU / 32Gi / 2 GPU (unavailable: would exceed your GPU quota (3 of 2))"
    )
    assert "selected" in its["cpu-1"] and "disabled" not in its["cpu-1"]
    images = options(p, "image__Research_Lab")
    assert images["torch"]["text"] == "PyTorch (Universal, group)"
    assert images["base"]["text"] == "Base (Universal, global)"
    assert "selected" in images["torch"]
    text = " ".join(p.text)
    assert "You in this group: CPU 0 (no limit), memory 0 (no limit), GPU 1 / 2." in text
    assert "Datasets: shared-nfs at /datasets/shared-nfs (read-write);" in text
    # the selected group has no <noscript> copy
    assert not options(p, "instance_type__phusers")


def test_without_javascript_gpu_only_images_say_so(catalog):
    p = parse(render_form(catalog.for_user("bob", ["Research_Lab"]), {}, {"group": "Research_Lab"}))
    assert options(p, "image__phusers")["cuda"]["text"] == (
        "CUDA only (GPU, group, needs a GPU instance type)"
    )
    assert options(p, "image__phusers")["torch"]["text"] == "PyTorch (Universal, group)"


def form_post(p, group, javascript):
    """What the browser posts when ``group`` is chosen and the preselected choices are kept:
    with JavaScript only the section's radios exist (the <noscript> content is not part of
    the page), without it the radios of the selected group and every <noscript> select."""
    form = {"group": [group]}
    for i in p.inputs:
        if "checked" in i and (javascript or not i["noscript"]):
            form.setdefault(i["name"], []).append(i["value"])
    if not javascript:
        for o in p.options:
            if o["select"] != "group" and "selected" in o:
                form.setdefault(o["select"], []).append(o["value"])
    return form


def test_without_javascript_another_groups_choice_round_trips(catalog):
    """Without JavaScript the user picks Research_Lab above and its options in <noscript>:
    the posted choice is that group's, a valid one."""
    view = catalog.for_user("bob", ["Research_Lab"])
    p = parse(render_form(view, {}))
    form = form_post(p, "Research_Lab", javascript=False)
    assert form["instance_type__phusers"] == ["cpu-2"]  # posted too, and ignored
    form["instance_type__Research_Lab"] = ["tiny"]
    form["image__Research_Lab"] = ["minimal"]
    choice = resolve_options(view, options_from_form(form))
    assert (choice.group.name, choice.instance_type.name, choice.image.name) == (
        "Research_Lab",
        "tiny",
        "minimal",
    )
    # the preselected choice of the other group is valid as it is
    form = form_post(p, "Research_Lab", javascript=False)
    choice = resolve_options(view, options_from_form(form))
    assert (choice.instance_type.name, choice.image.name) == ("gpu-2", "torch")


def test_form_data_cannot_break_out_of_its_script(catalog_dict):
    from primehub_spawner.catalog import Catalog

    catalog_dict["groups"]["Research_Lab"]["displayName"] = "</script><script>alert(1)//"
    catalog_dict["images"]["torch"]["description"] = "<!-- & ' \""
    view = Catalog.from_dict(catalog_dict).for_user("bob", ["Research_Lab"])
    html = render_form(view, {})
    assert "<script>alert(1)" not in html
    assert "<!--" not in html
    data = form_data(html)
    assert data["groups"]["Research_Lab"]["displayName"] == "</script><script>alert(1)//"
    assert data["images"]["torch"][1] == "<!-- & ' \""
    p = parse(html)
    assert options(p, "image__Research_Lab")["torch"]["title"] == "<!-- & ' \""


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
    choice = resolve_options(view, options_from_form(form_post(p, "phusers", javascript=True)))
    assert (choice.group.name, choice.instance_type.name, choice.image.name) == (
        "phusers",
        "cpu-2",
        "torch",
    )
