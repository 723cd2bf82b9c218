"""The jobs service's pod settings: KubeSpawner's pod options, under the same names.

Job pods must be as hardened as the notebook that submitted them, so :class:`PodSettingsOptions`
(mixed into ``JobsApp``) has KubeSpawner's pod options with KubeSpawner's names and defaults
(``c.JobsApp.uid``, ``c.JobsApp.fs_gid``, ``c.JobsApp.allow_privilege_escalation``, ...), read
into the same :class:`..pods.PodSettings` the spawner renders notebook pods with. So that an
admin sets them once, ``spawner_config_file`` reads them from the hub's own config: a YAML or
JSON file with ``KubeSpawner`` / ``PrimeHubSpawner`` sections, or zero-to-jupyterhub values
(their ``hub.config``). Values set on ``JobsApp`` itself win over the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from traitlets import Bool, Dict, Int, List, Unicode, Union
from traitlets.config import Config, Configurable

from ..pods import POD_SETTING_NAMES, PodSettings, pod_setting_values


class PodSettingsOptions(Configurable):
    """KubeSpawner's pod options for the pods this application creates."""

    spawner_config_file = Unicode(
        "",
        config=True,
        help="""A YAML or JSON file of the hub's spawner config whose pod options (below) job pods
        get too: sections `KubeSpawner` and `PrimeHubSpawner` (the latter wins), at the top level
        or under `hub.config` (zero-to-jupyterhub values, e.g. the `hub-config` ConfigMap of
        deploy/). Options set on JobsApp itself win. A missing or unreadable file stops the
        service: job pods never run with fewer of the admin's settings than intended.""",
    )
    uid = Int(
        None,
        allow_none=True,
        config=True,
        help="runAsUser of the job container (KubeSpawner.uid); None: the image's user.",
    )
    gid = Int(
        None,
        allow_none=True,
        config=True,
        help="runAsGroup of the job container (KubeSpawner.gid); None: the image's group.",
    )
    fs_gid = Int(
        None,
        allow_none=True,
        config=True,
        help="fsGroup of job pods (KubeSpawner.fs_gid): the group owning mounted volumes.",
    )
    supplemental_gids = List(
        Int(),
        config=True,
        help="supplementalGroups of job pods (KubeSpawner.supplemental_gids).",
    )
    privileged = Bool(
        False, config=True, help="Run the job container privileged (KubeSpawner.privileged)."
    )
    allow_privilege_escalation = Bool(
        False,
        allow_none=True,
        config=True,
        help="""allowPrivilegeEscalation of the job container
        (KubeSpawner.allow_privilege_escalation; None leaves it out).""",
    )
    container_security_context = Dict(
        config=True,
        help="""securityContext of the job container, camelCase keys, over the options above
        (KubeSpawner.container_security_context), e.g. {"capabilities": {"drop": ["ALL"]}}.""",
    )
    pod_security_context = Dict(
        config=True,
        help="""securityContext of job pods, camelCase keys, over fs_gid and supplemental_gids
        (KubeSpawner.pod_security_context), e.g. {"runAsNonRoot": true}.""",
    )
    node_selector = Dict(
        Unicode(),
        config=True,
        help="nodeSelector of job pods (KubeSpawner.node_selector); the instance type's win.",
    )
    tolerations = List(
        Dict(),
        config=True,
        help="Tolerations of job pods (KubeSpawner.tolerations), before the instance type's.",
    )
    service_account = Unicode(
        None,
        allow_none=True,
        config=True,
        help="serviceAccountName of job pods (KubeSpawner.service_account).",
    )
    automount_service_account_token = Bool(
        False,
        allow_none=True,
        config=True,
        help="""automountServiceAccountToken of job pods (KubeSpawner's option; False as for
        notebook pods: a job gets no Kubernetes credentials).""",
    )
    image_pull_policy = Unicode(
        None,
        allow_none=True,
        config=True,
        help="imagePullPolicy of the job container (KubeSpawner.image_pull_policy).",
    )
    image_pull_secrets = List(
        Union([Unicode(), Dict()]),
        config=True,
        help="imagePullSecrets of job pods before the image's (KubeSpawner.image_pull_secrets).",
    )
    extra_resource_limits = Dict(
        config=True,
        help="Extra resource limits (KubeSpawner.extra_resource_limits); the plan's win.",
    )
    extra_resource_guarantees = Dict(
        config=True,
        help="Extra resource requests (KubeSpawner.extra_resource_guarantees); the plan's win.",
    )
    priority_class_name = Unicode(
        "", config=True, help="priorityClassName of job pods (KubeSpawner.priority_class_name)."
    )
    scheduler_name = Unicode(
        None,
        allow_none=True,
        config=True,
        help="schedulerName of job pods (KubeSpawner.scheduler_name).",
    )
    extra_pod_config = Dict(
        config=True,
        help="""Further pod spec fields, applied last (KubeSpawner.extra_pod_config); the Job
        keeps restartPolicy Never whatever this says.""",
    )
    extra_container_config = Dict(
        config=True,
        help="Further job container fields, applied last (KubeSpawner.extra_container_config).",
    )

    def load_spawner_config(self) -> None:
        """Take the pod options of ``spawner_config_file`` that are not set on this class."""
        if not self.spawner_config_file:
            return
        path = Path(self.spawner_config_file)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise SystemExit(f"spawner_config_file: cannot read {path}: {e}") from None
        if not isinstance(data, dict):
            raise SystemExit(f"spawner_config_file: {path} is not a mapping")
        own = self.config[type(self).__name__]
        values = {k: v for k, v in pod_setting_values(data).items() if k not in own}
        if values:
            self.update_config(Config({type(self).__name__: values}))

    def pod_settings(self) -> PodSettings:
        """The pod settings from the options."""
        values: dict[str, Any] = {name: getattr(self, name) for name in POD_SETTING_NAMES}
        return PodSettings.from_values(values)
