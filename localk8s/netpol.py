"""NetworkPolicy semantics, evaluated as a policy-enforcing CNI would (ours does not enforce).

``allowed(policies, source, destination, port)`` says whether a TCP connection from a pod with
labels ``source`` to a pod with labels ``destination`` on ``port`` is admitted by the
``Ingress`` rules of ``policies`` (all in one namespace): a pod no policy selects accepts
everything; a selected pod accepts what at least one rule of one selecting policy allows.
Supported: ``podSelector`` with ``matchLabels`` and ``matchExpressions`` (In, NotIn, Exists,
DoesNotExist), rules with ``from`` pod selectors (or no ``from``: any source) and numeric
``ports`` (or none: any port). Egress rules are not evaluated (``policy_types`` says which).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Labels = Mapping[str, str]


def selects(selector: Mapping[str, Any] | None, labels: Labels) -> bool:
    """True if a label selector matches ``labels`` (an empty selector matches every pod)."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def policy_types(policy: Mapping[str, Any]) -> list[str]:
    """The policy's types (the API server's default: Ingress, plus Egress if it has rules)."""
    spec = policy.get("spec") or {}
    if spec.get("policyTypes"):
        return list(spec["policyTypes"])
    return ["Ingress", *(["Egress"] if spec.get("egress") else [])]


def _rule_admits(rule: Mapping[str, Any], source: Labels, port: int) -> bool:
    ports = rule.get("ports") or []
    if ports and not any(p.get("port") in (None, port) for p in ports):
        return False
    peers = rule.get("from") or []
    if not peers:
        return True
    for peer in peers:
        if "ipBlock" in peer or "namespaceSelector" in peer:
            continue  # other namespaces and addresses: not pods of this namespace
        if selects(peer.get("podSelector"), source):
            return True
    return False


def allowed(
    policies: Iterable[Mapping[str, Any]], source: Labels, destination: Labels, port: int
) -> bool:
    """True if ``source`` may open a connection to ``destination`` on ``port``."""
    selecting = [
        p
        for p in policies
        if p.get("kind") == "NetworkPolicy"
        and "Ingress" in policy_types(p)
        and selects((p.get("spec") or {}).get("podSelector"), destination)
    ]
    if not selecting:
        return True
    return any(
        _rule_admits(rule, source, port)
        for p in selecting
        for rule in (p.get("spec") or {}).get("ingress") or []
    )
