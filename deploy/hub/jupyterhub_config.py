# Hub config of the `deploy/` (kustomize) deployment: the zero-to-jupyterhub chart's way, small.
#
# The chart's own settings for a hub in a pod come first (namespace, proxy, database, addresses),
# then the values file `values.yaml` (deploy/z2jh-values.yaml, mounted from the ConfigMap
# `hub-values`) is applied as the chart applies it: each `hub.config` section with
# `c[Section].update(...)`, then each `hub.extraConfig` snippet, in the order of its sorted key,
# with `exec`. So the snippets an admin pastes into the chart's values are the ones this runs.
#
# The primehub-jobs service reads the same `values.yaml` (deploy/jobs.yaml mounts it): the pod
# settings of `hub.config.KubeSpawner` / `PrimeHubSpawner` (uid, fs_gid, security contexts,
# node_selector, tolerations, service_account, extra_pod_config, ...) apply to job pods too.
#
# Addresses come from the Service environment variables Kubernetes gives every pod
# (`HUB_SERVICE_HOST`, `PROXY_API_SERVICE_HOST`, ...), so no cluster DNS is needed.
import os
from pathlib import Path

import yaml

c = get_config()  # noqa: F821  (provided by JupyterHub)

HERE = Path(__file__).resolve().parent
env = os.environ.get
values = yaml.safe_load((HERE / "values.yaml").read_text()) or {}


def get_config_value(key: str, default=None):
    """A dotted key of the values (the chart's `z2jh.get_config`)."""
    node = values
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


# ---- the chart's settings -------------------------------------------------------------------
c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
c.KubeSpawner.namespace = env("POD_NAMESPACE") or "default"
c.JupyterHub.ip = "0.0.0.0"
c.JupyterHub.hub_bind_url = "http://:8081"
c.JupyterHub.hub_connect_url = f"http://{env('HUB_SERVICE_HOST')}:{env('HUB_SERVICE_PORT')}"
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = (
    f"http://{env('PROXY_API_SERVICE_HOST')}:{env('PROXY_API_SERVICE_PORT')}"
)
c.JupyterHub.cleanup_servers = False
c.JupyterHub.db_url = "sqlite:////srv/jupyterhub/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "/srv/jupyterhub/jupyterhub_cookie_secret"
c.JupyterHub.last_activity_interval = 60
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0}
c.KubeSpawner.common_labels = {"app": "jupyterhub", "release": "primehub"}
c.KubeSpawner.extra_labels = {"hub.jupyter.org/network-access-hub": "true"}
c.JupyterHub.services = []
c.JupyterHub.load_roles = []

# hub.services: the chart keeps each service's API token in its Secret; here the Secret's keys
# reach the hub as environment variables HUB_SERVICE_TOKEN_<NAME> (upper case, - -> _).
for name, service in (get_config_value("hub.services") or {}).items():
    spec = {"name": name, **{k: v for k, v in service.items() if k not in ("apiToken",)}}
    token = env("HUB_SERVICE_TOKEN_" + name.upper().replace("-", "_"))
    if token:
        spec["api_token"] = token
    c.JupyterHub.services.append(spec)
for name, role in (get_config_value("hub.loadRoles") or {}).items():
    c.JupyterHub.load_roles.append({"name": name, **role})

# ---- hub.config, then hub.extraConfig (the chart's order) ----------------------------------
for section, settings in (get_config_value("hub.config") or {}).items():
    if not section[:1].isupper():
        raise SystemExit(f"FATAL: hub.config section {section!r} must start with a capital letter")
    c[section].update(settings)
for key in sorted(get_config_value("hub.extraConfig") or {}):
    exec(values["hub"]["extraConfig"][key])  # noqa: S102  (the chart does exactly this)
