"""Root conftest: only the session-scoped Kubernetes cluster fixture (``k8s_cluster``)."""

pytest_plugins = ["localk8s.testing"]
