"""Hub-side notebook jobs: the ``primehub-jobs`` JupyterHub service running notebooks as
Kubernetes Jobs with the spawner's catalog, pod plan and quotas."""
