"""Generated invalid user_options sent to a real hub's REST spawn on the local cluster.

Each input the pure validator refuses must be refused by the hub with the same status and
message, leave the user without a server, and create no pod.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from primehub_spawner.catalog import Catalog
from primehub_spawner.user_options import OptionsError, resolve_options

from .fuzzcount import HUB_SPAWN, sent
from .test_fuzz_user_options import json_values, options

pytestmark = pytest.mark.cluster

CATALOG = Catalog.from_dict(yaml.safe_load((Path(__file__).parent / "catalog.yaml").read_text()))
USER = "fuzzer"


def _expected_refusal(opts) -> OptionsError | None:
    try:
        resolve_options(CATALOG.for_user(USER), opts)
    except OptionsError as e:
        return e
    return None


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(options | st.dictionaries(st.text(max_size=10), json_values, min_size=1))
def test_invalid_options_are_refused_by_the_hub_and_create_nothing(
    fault_hub, k8s_cluster, fault_namespace, opts
):
    expected = _expected_refusal(opts)
    if expected is None:
        return  # valid: spawning real servers is what the e2e tests do
    fault_hub.create_user(USER)
    # json.dumps, not requests' json=: NaN and Infinity go out as Python writes them
    sent(HUB_SPAWN)
    resp = fault_hub.api(
        "POST",
        f"/users/{USER}/server",
        data=json.dumps(opts),
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == expected.status_code, (opts, resp.status_code, resp.text)
    assert expected.message in resp.json().get("message", ""), (opts, resp.text)
    model = fault_hub.user(USER)
    assert not model["servers"] and not model.get("pending"), model
    pods = k8s_cluster.get("pods", "-n", fault_namespace, "-l", f"primehub.io/user={USER}")
    assert pods["items"] == []
