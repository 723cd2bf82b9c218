"""Benchmarks of jupyterhub-primehub against its peers, measured in one run (`python -m bench`).

Each section (``catalog``, ``jobs``, ``frontend``, ``spawn``, ``concurrency``) is a module with a
``run(args) -> Section`` function; ``__main__`` prints the tables and merges the results into
``bench/results/latest.json``.
"""
