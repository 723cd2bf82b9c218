"""Command line: ``python -m localk8s build|up|down|status [--json]|kubectl ...|node|images``."""

from __future__ import annotations

import argparse
import json
import sys

from localk8s import build, controlplane, realnode
from localk8s.settings import RUNTIMES, check_runtime, parse_labels


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["kubectl"]:
        return controlplane.kubectl(controlplane.load_settings(), argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m localk8s",
        description="A real local Kubernetes cluster (see docs/localk8s.md).",
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build", help="build (or reuse) the cached control plane binaries")
    p_up = sub.add_parser("up", help="start the cluster (no-op if it already runs)")
    p_up.add_argument("--cpu", help="node CPU capacity (default 16, env LOCALK8S_NODE_CPU)")
    p_up.add_argument("--memory", help="node memory capacity (default 64Gi)")
    p_up.add_argument("--pods", help="node pod capacity (default 110)")
    p_up.add_argument("--gpu", help="fake nvidia.com/gpu count (default 2)")
    p_up.add_argument("--labels", help="node labels a=b,c=d (default gpu=true)")
    p_up.add_argument(
        "--runtime",
        choices=RUNTIMES,
        help="agent: pods as local processes (default, no images needed); containerd: a real "
        "kubelet, containerd and kube-proxy running images (env LOCALK8S_RUNTIME)",
    )
    sub.add_parser("down", help="stop everything the cluster started")
    p_status = sub.add_parser("status", help="show whether the cluster runs")
    p_status.add_argument("--json", action="store_true", help="machine-readable output")
    sub.add_parser("kubectl", help="run kubectl against the cluster (kubectl args follow)")
    sub.add_parser("node", help="(internal) run the node agent in the foreground")
    p_images = sub.add_parser(
        "images", help="build (or reuse) the cluster's OCI images: pause, notebook, hub"
    )
    p_images.add_argument("names", nargs="*", metavar="NAME", help="images (default: all)")
    p_images.add_argument("--force", action="store_true", help="rebuild even when cached")
    p_images.add_argument("--json", action="store_true", help="print refs and tars as JSON")
    p_images.add_argument(
        "--check", action="store_true", help="then run smoke commands in a scratch containerd"
    )
    sub.add_parser("node-addons", help="(internal) volumes and fake GPUs beside a real kubelet")
    args = parser.parse_args(argv)

    if args.cmd == "build":
        return build.main()
    if args.cmd == "images":
        return _images(args.names, force=args.force, as_json=args.json, check=args.check)
    if args.cmd == "node":
        from localk8s import node

        return node.main()
    if args.cmd == "node-addons":
        from localk8s import node_addons

        return node_addons.main()
    try:
        if args.cmd == "up":
            settings = controlplane.load_settings()
            if not controlplane.is_up(settings):
                # New capacity/labels only apply to a cluster being started.
                env = controlplane.Settings.from_env()
                settings.node_cpu = args.cpu or env.node_cpu
                settings.node_memory = args.memory or env.node_memory
                settings.node_pods = args.pods or env.node_pods
                settings.node_gpu = args.gpu or env.node_gpu
                settings.node_labels = parse_labels(args.labels) if args.labels else env.node_labels
                settings.runtime = check_runtime(args.runtime or env.runtime)
            elif args.runtime and args.runtime != settings.runtime:
                raise ValueError(
                    f"the cluster already runs with runtime {settings.runtime}: stop it first "
                    "(python -m localk8s down)"
                )
            info = controlplane.up(settings)
            # A person asked for the cluster: test sessions must not stop it when they end.
            (settings.state_dir / "started-by-tests").unlink(missing_ok=True)
            print(json.dumps(info, indent=2))
            return 0
        if args.cmd == "down":
            controlplane.down(controlplane.load_settings())
            return 0
        if args.cmd == "status":
            info = controlplane.status(controlplane.load_settings())
            if args.json:
                print(json.dumps(info, indent=2))
            else:
                state = "running" if info["running"] else "stopped"
                print(f"cluster {state}; node ready: {info['node_ready']}")
                for key in (
                    "runtime",
                    "api_server",
                    "kubeconfig",
                    "bridge_ip",
                    "kubectl",
                    "logs_dir",
                ):
                    print(f"  {key}: {info[key]}")
            return 0 if info["running"] else 3
    except (controlplane.ClusterError, build.BuildError, realnode.RealNodeError, ValueError) as exc:
        print(f"localk8s: {exc}", file=sys.stderr)
        return 1
    return 2


def _images(names: list[str], *, force: bool, as_json: bool, check: bool) -> int:
    """``python -m localk8s images``: build (or reuse) the images, then optionally smoke-test
    them in a scratch containerd (``imagecheck``, which builds on ``images``)."""
    from localk8s import images
    from localk8s.rootfs import RootfsError

    try:
        built = images.build(names or None, force=force)
        if check:
            from localk8s.imagecheck import check_images

            check_images(built.values(), say=images.progress)
    except (images.ImageBuildError, RootfsError) as exc:
        print(f"localk8s images failed: {exc}", file=sys.stderr)
        return 1
    if as_json:
        out = {name: {"ref": b.ref, "tar": str(b.tar)} for name, b in built.items()}
        print(json.dumps(out, indent=2))
    else:
        for b in built.values():
            print(f"{b.ref}\t{b.tar}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # e.g. `status | head -1`
        sys.exit(0)
