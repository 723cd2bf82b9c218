# Reference JupyterHub config for PrimeHubSpawner (used by `make demo` and the e2e tests).
#
# Where it runs:
#   - in a pod (KUBERNETES_SERVICE_HOST set) or with KUBECONFIG set: that cluster, as is;
#   - otherwise: the local cluster of `python -m localk8s up` (its kubeconfig, and the hub
#     listening on the pod bridge so pods can reach it).
#
# Environment knobs (all optional):
#   PRIMEHUB_CATALOG          catalog YAML (default: demo/catalog.yaml next to this file)
#   PRIMEHUB_NAMESPACE        namespace of the servers (default: "default")
#   PRIMEHUB_DEMO_PASSWORD    shared password of the demo users (default: "primehub")
#   PRIMEHUB_STATE_DIR        hub database and cookie secret (default: .state/hub)
#   PRIMEHUB_PROXY_PORT       public port (default 8000); PRIMEHUB_PROXY_API_PORT (8001);
#   PRIMEHUB_HUB_PORT         hub port (8081)
#   PRIMEHUB_IDLE_TIMEOUT     seconds before idle servers are stopped by the culler (3600)
#   PRIMEHUB_KERNEL_IDLE_TIMEOUT / PRIMEHUB_SERVER_IDLE_TIMEOUT   in-server culling defaults
#   PRIMEHUB_JOBS_PORT / PRIMEHUB_JOBS_HOST / PRIMEHUB_JOBS_URL   the primehub-jobs service
#   PRIMEHUB_DEMO_KERNEL_GATEWAY  off|optional|always: kernel-gateway split (docs/)
#   PRIMEHUB_KERNEL_GATEWAY_MODE  sidecar (default) | pod
#   PRIMEHUB_SCHEDULER        kubernetes (default) | slurm: PrimeHubSlurmSpawner on the local
#                             SLURM of `python -m localslurm up` or $SLURM_CONF (docs/slurm.md)
import json
import os
import sys
from pathlib import Path

from primehub_jobs_contract.hub_admission import ADMIT_SCOPE, ADMIT_SCOPE_DESCRIPTION
from primehub_spawner.groups_api import GroupsAPIHandler
from primehub_spawner.job_admission_api import job_admission_handlers
from primehub_spawner.local_clusters import local_status
from primehub_spawner.pods import pod_setting_values
from primehub_spawner.server_logs_api import server_logs_handlers

c = get_config()  # noqa: F821  (provided by JupyterHub)

HERE = Path(__file__).resolve().parent
env = os.environ.get
state_dir = Path(env("PRIMEHUB_STATE_DIR") or HERE / ".state" / "hub")
state_dir.mkdir(parents=True, exist_ok=True)

# ---- cluster ---------------------------------------------------------------------------
slurm = env("PRIMEHUB_SCHEDULER") == "slurm"
in_cluster = bool(env("KUBERNETES_SERVICE_HOST"))
kubeconfig = env("KUBECONFIG")
# A KUBECONFIG written by localk8s (next to its settings.json) still means the local cluster.
local = (
    not slurm
    and not in_cluster
    and (not kubeconfig or (Path(kubeconfig).parent / "settings.json").exists())
)
if local:
    # The local cluster: kubeconfig and the bridge address from localk8s itself.
    status = local_status("localk8s", HERE)
    if not status.get("running"):
        sys.exit(
            "The local Kubernetes cluster is not running: start it with "
            "`python -m localk8s up` (or `make demo`), or set KUBECONFIG for another cluster."
        )
    os.environ["KUBECONFIG"] = kubeconfig or status["kubeconfig"]
    bridge_ip = status["bridge_ip"]
    # Pods live behind the bridge: the hub listens there and tells pods that address.
    c.JupyterHub.hub_ip = bridge_ip
    c.JupyterHub.hub_connect_ip = bridge_ip
    if status.get("runtime", "agent") == "agent":
        # The node agent runs containers as local processes from this venv (no image pull).
        c.KubeSpawner.cmd = [str(Path(sys.prefix) / "bin" / "jupyterhub-singleuser")]
        c.KubeSpawner.args = ["--allow-root"]
        c.KubeSpawner.environment = {"HOME": "/home/jovyan"}
    else:
        # A real kubelet runs the catalog's images (`python -m localk8s images` builds and
        # imports primehub-notebook); KubeSpawner's defaults apply, as in a real cluster.
        c.KubeSpawner.args = []
        c.KubeSpawner.environment = {}
    chp = HERE / "node_modules" / ".bin" / "configurable-http-proxy"
    if chp.exists():
        c.ConfigurableHTTPProxy.command = [str(chp)]
else:
    c.JupyterHub.hub_ip = "0.0.0.0"

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = int(env("PRIMEHUB_PROXY_PORT") or 8000)
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{int(env('PRIMEHUB_PROXY_API_PORT') or 8001)}"
c.JupyterHub.hub_port = int(env("PRIMEHUB_HUB_PORT") or 8081)
c.JupyterHub.db_url = f"sqlite:///{state_dir / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state_dir / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = str(state_dir / "proxy.pid")
# Servers are pods: they outlive hub restarts.
c.JupyterHub.cleanup_servers = False
# Users may run several servers (e.g. a CPU and a GPU one), within their quotas.
c.JupyterHub.allow_named_servers = True

# ---- spawner ---------------------------------------------------------------------------
c.JupyterHub.spawner_class = "primehub_spawner.PrimeHubSpawner"
c.PrimeHubSpawner.catalog_path = env("PRIMEHUB_CATALOG") or str(HERE / "demo" / "catalog.yaml")
c.KubeSpawner.namespace = env("PRIMEHUB_NAMESPACE") or "default"
c.KubeSpawner.start_timeout = 300
c.KubeSpawner.http_timeout = 120
c.PrimeHubSpawner.home_capacity = "1Gi"
c.PrimeHubSpawner.server_idle_timeout = int(env("PRIMEHUB_SERVER_IDLE_TIMEOUT") or 0)
c.PrimeHubSpawner.kernel_idle_timeout = int(env("PRIMEHUB_KERNEL_IDLE_TIMEOUT") or 1800)
c.PrimeHubSpawner.kernel_gateway = env("PRIMEHUB_DEMO_KERNEL_GATEWAY") or "off"
c.PrimeHubSpawner.kernel_gateway_mode = env("PRIMEHUB_KERNEL_GATEWAY_MODE") or "sidecar"
if slurm:  # the same catalog, form and quotas on SLURM (docs/slurm.md)
    from primehub_spawner.slurm_config import configure_slurm

    configure_slurm(c, c.PrimeHubSpawner.catalog_path, HERE)
c.JupyterHub.default_url = "/hub/home"
c.Spawner.default_url = "/lab"

# GET /hub/api/primehub/groups: the caller's groups, instance types, images, usage vs quota.
c.JupyterHub.extra_handlers = [(r"/api/primehub/groups", GroupsAPIHandler)]
# POST /hub/api/primehub/job-admissions: the primehub-jobs service reserves each job's quota in
# the spawner's ledger, so notebook spawns and jobs never overshoot a quota together.
c.JupyterHub.extra_handlers += job_admission_handlers()
# GET /hub/api/primehub/users/<user>/server(s/<name>)/logs: a user's own server's pod log.
c.JupyterHub.extra_handlers += server_logs_handlers()
c.JupyterHub.custom_scopes = {ADMIT_SCOPE: {"description": ADMIT_SCOPE_DESCRIPTION}}

# ---- users (demo) ------------------------------------------------------------------------
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = env("PRIMEHUB_DEMO_PASSWORD") or "primehub"
c.Authenticator.allowed_users = {"alice", "bob", "carol", "dave"}
c.Authenticator.admin_users = {"admin"}
# carol is in "research" through a JupyterHub group (catalog `members` are the other way).
c.JupyterHub.load_groups = {"research": {"users": ["carol"]}}
if not env("PRIMEHUB_CATALOG") and not env("PRIMEHUB_DEMO_RUNNER"):  # demo/run.py says more
    print(
        "PrimeHub demo: log in at http://127.0.0.1:{port}/ as alice, bob, carol, dave or admin "
        "(password: {pw}); see demo/catalog.yaml".format(
            port=int(env("PRIMEHUB_PROXY_PORT") or 8000),
            pw="$PRIMEHUB_DEMO_PASSWORD" if env("PRIMEHUB_DEMO_PASSWORD") else "primehub",
        ),
        file=sys.stderr,
    )

# ---- shutdown: services stop within seconds -------------------------------------------------
# On Ctrl-C the hub stops its managed services one by one: SIGINT, then SIGTERM after
# `interrupt_timeout` (JupyterHub: 30 s, and no setting reaches a service's spawner). Both
# services stop at once on SIGINT; should one hang, the hub moves on after a few seconds.
import atexit  # noqa: E402
import gc  # noqa: E402

from jupyterhub.services import service as _hub_services  # noqa: E402
from traitlets import Integer  # noqa: E402


class _PromptServiceSpawner(_hub_services._ServiceSpawner):
    interrupt_timeout = Integer(3, help="Seconds a service has to stop after SIGINT.")
    term_timeout = Integer(2, help="Seconds a service has to stop after SIGTERM.")
    kill_timeout = Integer(2, help="Seconds to wait after SIGKILL.")


_hub_services._ServiceSpawner = _PromptServiceSpawner
# After the hub's own cleanup, the interpreter's final garbage collection of the hub's large heap
# took seconds on a busy machine: freeze it at exit (the process ends; nothing needs freeing).
atexit.register(gc.freeze)

# ---- idle culling --------------------------------------------------------------------------
# Stops servers idle for PRIMEHUB_IDLE_TIMEOUT seconds, with only the scopes it needs.
c.JupyterHub.services = [
    {
        "name": "idle-culler",
        "command": [
            sys.executable,
            "-m",
            "jupyterhub_idle_culler",
            f"--timeout={int(env('PRIMEHUB_IDLE_TIMEOUT') or 3600)}",
        ],
    }
]
c.JupyterHub.load_roles = [
    {
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    },
    # primehub-jobs reads callers' groups and admin flag; users and their servers' tokens may
    # call it (the "server" role is what $JUPYTERHUB_API_TOKEN of a server gets).
    {
        "name": "primehub-jobs",
        "scopes": ["read:users:name", "read:users:groups", ADMIT_SCOPE],
        "services": ["primehub-jobs"],
    },
    {"name": "user", "scopes": ["self", "access:services!service=primehub-jobs"]},
    {
        "name": "server",
        "scopes": [
            "users:activity!user",
            "access:servers!server",
            "access:services!service=primehub-jobs",
            # the `primehub` CLI in a server lists the user's groups, servers and server logs
            # without a login (read only: starting or stopping servers still needs one)
            "read:servers!user",
        ],
    },
]

# ---- notebook jobs on Kubernetes (primehub-jobs service) ------------------------------------
# Runs "Submit Notebook as Job" with the "kubernetes" backend as Kubernetes Jobs in the servers'
# namespace, with the catalog and quotas of the spawner. PRIMEHUB_JOBS_PORT (default 8090; on
# the local cluster a free port) is where it listens; pods reach it at PRIMEHUB_JOBS_URL.
if env("PRIMEHUB_JOBS_PORT"):
    jobs_port = int(env("PRIMEHUB_JOBS_PORT"))
elif local:
    import socket

    with socket.socket() as sock:
        sock.bind((bridge_ip, 0))
        jobs_port = sock.getsockname()[1]
else:
    jobs_port = 8090
# in a cluster: listen on all addresses, reached through the hub's Service (PRIMEHUB_JOBS_HOST)
jobs_host = bridge_ip if local else env("PRIMEHUB_JOBS_HOST") or "hub"
# Job pods get the notebook pods' pod settings (KubeSpawner's uid/gid/fs_gid, security contexts,
# allow_privilege_escalation, node_selector, tolerations, service_account, extra_pod_config, ...):
# the service reads the spawner's values from this file, so set such options above this point.
spawner_pod_settings = state_dir / "spawner-pod-settings.json"
spawner_pod_settings.write_text(
    json.dumps(
        {
            "KubeSpawner": pod_setting_values(
                {"KubeSpawner": c.KubeSpawner, "PrimeHubSpawner": c.PrimeHubSpawner}
            )
        },
        indent=2,
    )
)
jobs_command = [
    sys.executable,
    "-m",
    "primehub_spawner.jobs",
    f"--catalog={c.PrimeHubSpawner.catalog_path}",
    f"--namespace={c.KubeSpawner.namespace}",
    f"--state-dir={state_dir / 'primehub-jobs'}",
    f"--JobsApp.spawner_config_file={spawner_pod_settings}",
]
if local:
    # the local provisioner's volumes are folders on this machine: the service serves jobs'
    # outputs and artifacts from them (JobsApp.group_volumes)
    jobs_command.append("--JobsApp.group_volumes=hostPath")
if local and status.get("runtime", "agent") == "agent":
    # pods are local processes: the executor runs from this venv
    jobs_command += [
        f"--JobsApp.executor_command={sys.executable}",
        "--JobsApp.executor_command=-m",
        "--JobsApp.executor_command=primehub_executor",
    ]
else:
    jobs_command.append("--JobsApp.ip=0.0.0.0")
c.JupyterHub.services.append(
    {
        "name": "primehub-jobs",
        "url": f"http://{jobs_host}:{jobs_port}",
        "command": jobs_command,
        # managed services get a minimal environment: pass the cluster credentials' location
        "environment": {
            k: os.environ[k]
            for k in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")
            if os.environ.get(k)
        },
    }
)
# where single-user servers find the service (JupyterLab's "kubernetes" job backend)
jobs_public = env("PRIMEHUB_JOBS_URL") or (
    f"http://{bridge_ip}:{jobs_port}/services/primehub-jobs/"
    if local
    else f"http://{jobs_host}:{jobs_port}/services/primehub-jobs/"
)
c.KubeSpawner.environment.update({"PRIMEHUB_JOBS_URL": jobs_public})
if "timeout" in _hub_services.Service.class_traits():  # JupyterHub 6+
    # the service answers once its pod cache is filled: on a busy machine that can take longer
    # than JupyterHub's default 30 s, after which the hub would give up and exit
    c.JupyterHub.services[-1]["timeout"] = 120
# Jobs run notebooks of the group volumes (PrimeHub's rule; the job pods mount only those).
c.KubeSpawner.args.append("--PrimeHubApp.group_volume_root=/project")  # the spawner's project_root
if slurm:  # notebook jobs run in the server (local backend): no Kubernetes Jobs service
    c.JupyterHub.services = [s for s in c.JupyterHub.services if s["name"] != "primehub-jobs"]
    c.JupyterHub.load_roles = [
        {**r, "scopes": [x for x in r["scopes"] if "primehub-jobs" not in x]}
        for r in c.JupyterHub.load_roles
        if r["name"] != "primehub-jobs"
    ]
