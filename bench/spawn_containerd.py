"""Spawn overhead on real containers: the same comparison as ``bench.spawn`` on the containerd
node (``localk8s up --runtime containerd``), both hubs running the ``primehub-notebook`` image,
so image, cgroup and CNI set-up costs are part of both sides' numbers."""

from __future__ import annotations

import argparse

from bench.hubs import cluster_session
from bench.report import Section
from bench.spawn import measure
from localk8s import images, realnode
from localk8s.controlplane import load_settings


def run(args: argparse.Namespace) -> Section:
    """Measure and return the section."""
    built = images.build(["primehub-notebook"])["primehub-notebook"]
    with cluster_session("containerd") as cluster:
        images.import_into(str(realnode.containerd_socket(load_settings())), built)
        return measure(cluster, max(1, args.spawns), built.ref, name="spawn-containerd")
