"""The job executor process: runs one notebook with nbclient (papermill-style parameters, early
exit and metadata), writes the output notebook, the status file, the log and the artifacts.

Started by the local backend of the single-user server and in Kubernetes job pods, always as
``python -m primehub_executor <spec.json>`` (``primehub_jobs_contract.executor``).
"""
