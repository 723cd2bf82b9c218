"""``python -m primehub_spawner.jobs``: the primehub-jobs hub service."""

from .app import main

main()
