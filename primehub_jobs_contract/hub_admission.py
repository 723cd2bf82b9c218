"""The hub <-> ``primehub-jobs`` quota contract: one ledger for notebooks and jobs.

Quota holds across both hub processes only if one of them decides. The hub's spawner already
checks and reserves each notebook spawn in its ledger; the jobs service asks the same ledger,
through the hub's API, before it creates a job's Kubernetes Job::

    POST   {hub api}/primehub/job-admissions        {"job", "user", "group", "instanceType",
                                                     "namespace"}
      200  {"admitted": true}                       reserved until the job's pod is seen
      403  {"message", "scope": "user" | "group"}   over quota: wait
      403  {"message", "scope": "membership"}       the user left the group (or never was in it)
      404  {"message", "scope": "user-gone"}        no such hub user
      400  {"message"}                              a bad request (a bug or a misconfiguration)
      503  {"message"}                              quota cannot be decided now: wait
    DELETE {hub api}/primehub/job-admissions/<job>  the Job could not be created: release

The service's token needs the custom scope :data:`ADMIT_SCOPE` (and nothing else of this).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InvalidRequest
from .validation import JOB_ID, reject_unknown, require_object

ADMISSIONS_PATH = "/primehub/job-admissions"
ADMIT_SCOPE = "custom:primehub:admit-jobs"
ADMIT_SCOPE_DESCRIPTION = "Reserve quota in the hub's ledger for notebook jobs (primehub-jobs)."
FIELDS = ("job", "user", "group", "instanceType", "namespace")
MAX_FIELD = 256

# scopes of a refusal
USER = "user"
GROUP = "group"
MEMBERSHIP = "membership"
USER_GONE = "user-gone"


@dataclass(frozen=True)
class AdmissionRequest:
    """A job asking for the quota of its instance type in its group."""

    job: str
    user: str
    group: str
    instance_type: str
    namespace: str

    def to_json(self) -> dict[str, str]:
        return {
            "job": self.job,
            "user": self.user,
            "group": self.group,
            "instanceType": self.instance_type,
            "namespace": self.namespace,
        }

    @property
    def key(self) -> str:
        """The ledger key of its reservation."""
        return reservation_key(self.namespace, self.job)


def reservation_key(namespace: str, job: str) -> str:
    """The ledger key of job ``job``'s reservation (no pod has a name with a colon)."""
    return f"job:{namespace}/{job}"


def parse_request(body: Any) -> AdmissionRequest:
    """The request from its JSON; every field is a required, bounded string."""
    body = require_object(body)
    reject_unknown(body, FIELDS)
    values: dict[str, str] = {}
    for key in FIELDS:
        value = body.get(key)
        if not isinstance(value, str) or not value or len(value) > MAX_FIELD:
            raise InvalidRequest(f"'{key}' must be a non-empty string of at most {MAX_FIELD}.")
        values[key] = value
    if not JOB_ID.match(values["job"]):
        raise InvalidRequest("'job' must be a job id (12 lower-case hex characters).")
    return AdmissionRequest(
        values["job"], values["user"], values["group"], values["instanceType"], values["namespace"]
    )
