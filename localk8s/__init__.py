"""A real local Kubernetes for development, tests and the demo.

``python -m localk8s build|up|down|status|kubectl`` builds Kubernetes' control plane from Debian's
source package, runs etcd, kube-apiserver, kube-controller-manager and kube-scheduler on loopback,
and a node agent that runs pods as local processes (one network namespace per pod, volumes through
bubblewrap). See docs/localk8s.md.
"""
