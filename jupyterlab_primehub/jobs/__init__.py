"""Notebook jobs: model, store, parameters, executor and runners."""
