"""The contract between the four processes of jupyterhub-primehub.

The hub (``primehub_spawner``), the ``primehub-jobs`` hub service (``primehub_spawner.jobs``),
the single-user server extension (``jupyterlab_primehub``) and the job executor
(``primehub_executor``) run as separate processes, often in separate images. What they agree
on lives here and only here: the error base, job states, time format, the rules of a job
request, the folder layout of a job, the executor's spec file and command line, and its status
file. Pure standard library: every process may import it, it imports none of them.
"""

VERSION = "0.1.0"  # the package version, reported by every process (setup.cfg reads it)
