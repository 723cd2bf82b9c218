"""``primehub``: one command line for a user's servers, notebook jobs and schedules.

A client process (on a laptop or inside a server); it talks HTTP only: the hub's REST API, the
``primehub-jobs`` service and, inside a server, that server's ``/primehub/api``. It imports
the contract and the in-server client (``jupyterlab_primehub.cli``), never hub code
(``tests/contract/test_rooms.py``).

Modules: ``session`` (where the hub is, which token), ``http`` (the thin HTTP glue),
``mapping`` (PURE: options to requests), ``output`` (PURE: tables and lines); the click
commands: ``main`` (entry point, ``login``, ``groups``), ``notebooks``, ``jobs`` (``job`` and
``schedule``) over ``context`` (what they share).
"""
