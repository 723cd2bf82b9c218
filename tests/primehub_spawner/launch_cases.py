"""Launch cases shared by the golden, schema and API-server tests."""

from primehub_spawner.launch import LaunchRequest, LaunchSettings, plan_launch
from primehub_spawner.pods import pod_manifest
from primehub_spawner.user_options import resolve_options

CMD = ["jupyterhub-singleuser"]


def build(catalog, user, hub_groups, options, name="jupyter-user"):
    view = catalog.for_user(user, hub_groups)
    choice = resolve_options(view, options)
    request = LaunchRequest(
        user=user,
        name=name,
        group=choice.group,
        instance_type=choice.instance_type,
        image=choice.image,
        env=choice.env,
        other_groups=tuple(g for g in view.groups if g.name != choice.group.name),
    )
    plan = plan_launch(request, LaunchSettings(home_pvc_name=f"claim-{user}", home_capacity="5Gi"))
    return plan, pod_manifest(plan, name=name, cmd=CMD, port=8888, namespace="hub")


CASES = {
    "cpu": ("alice", [], {"instance_type": "cpu-2", "env": {"DEBUG": "1"}}),
    "gpu": ("alice", [], {"instance_type": "gpu-1", "image": "torch"}),
    "datasets": ("bob", ["Research_Lab"], {"group": "phusers", "instance_type": "cpu-1"}),
    "launch_group_only": ("bob", ["Research_Lab"], {"group": "Research_Lab"}),
}
