"""A job's lifecycle, the same words in every process, REST answer and panel."""

from __future__ import annotations

from enum import Enum


class State(str, Enum):
    """pending (queued; maybe over quota) -> preparing (a Kubernetes Job exists, its pod does
    not run yet; the local backend skips it) -> running -> succeeded | failed | cancelled."""

    PENDING = "pending"
    PREPARING = "preparing"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """True for states a job never leaves."""
        return self in FINAL_STATES

    @property
    def is_active(self) -> bool:
        """Queued or holding (or about to hold) resources."""
        return not self.is_final


FINAL_STATES = frozenset({State.SUCCEEDED, State.FAILED, State.CANCELLED})
