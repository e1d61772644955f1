"""k8s_network_policies: which NetworkPolicies select a namespace's pods (or one pod) and what
egress they leave open, DNS in particular: an egress policy that forgets UDP 53 to kube-dns makes
every lookup of the pods it selects time out while CoreDNS itself is healthy.

Semantics (networking.k8s.io/v1): a pod selected by any policy of type Egress may only send what
the union of those policies' egress rules allows; a rule without `to` allows every destination,
one without `ports` every port. Destinations are judged from the policy alone (namespace labels
and the DNS Service's address are not read), so an ipBlock is taken to include the DNS Service.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from tools.base import ToolResult
from tools.k8s.client import Kube
from tools.k8s.compact import ago
from tools.k8s.selectors import label_selector_string, labels_match

DNS_NAMESPACES = ("kube-system",)
DNS_POD_LABELS = (("k8s-app", "kube-dns"), ("k8s-app", "coredns"))


def _types(spec: dict[str, Any]) -> list[str]:
    types = spec.get("policyTypes")
    if types:
        return list(types)
    return ["Ingress"] + (["Egress"] if "egress" in spec else [])


def _peer_text(peer: dict[str, Any]) -> str:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        return f"{block.get('cidr')}" + (f" except {', '.join(block['except'])}" if block.get("except") else "")
    parts = []
    if "namespaceSelector" in peer:
        parts.append(f"namespaces [{label_selector_string(peer['namespaceSelector']) or 'all'}]")
    if "podSelector" in peer:
        parts.append(f"pods [{label_selector_string(peer['podSelector']) or 'all'}]")
    return " ".join(parts) or "anywhere"


def _ports_text(ports: list[dict[str, Any]] | None) -> str:
    if not ports:
        return "all ports"
    return ", ".join(f"{p.get('protocol', 'TCP')} {p.get('port', 'all')}"
                     + (f"-{p['endPort']}" if p.get("endPort") else "") for p in ports)


def _reaches_dns(peer: dict[str, Any]) -> bool:
    if "ipBlock" in peer:
        return True
    ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
    ns_ok = ns_sel is not None and (not label_selector_string(ns_sel) or any(
        labels_match(label_selector_string(ns_sel), {"kubernetes.io/metadata.name": ns}) for ns in DNS_NAMESPACES))
    if ns_sel is None:  # a podSelector alone means pods of the policy's own namespace
        return False
    if pod_sel is None or not label_selector_string(pod_sel):
        return ns_ok
    return ns_ok and any(labels_match(label_selector_string(pod_sel), {k: v}) for k, v in DNS_POD_LABELS)


def _allows_dns(rule: dict[str, Any]) -> bool:
    ports = rule.get("ports") or []
    port_ok = not ports or any(p.get("protocol", "TCP") == "UDP" and p.get("port") in (53, "53", "dns", "dns-udp", None)
                               for p in ports)
    peers = rule.get("to") or []
    return port_ok and (not peers or any(_reaches_dns(p) for p in peers))


def policy_view(pol: dict[str, Any], pods: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    meta, spec = pol.get("metadata") or {}, pol.get("spec") or {}
    selector = label_selector_string(spec.get("podSelector"))
    selected = [p["metadata"]["name"] for p in pods if labels_match(selector, (p.get("metadata") or {}).get("labels"))]
    types = _types(spec)
    view: dict[str, Any] = {"name": meta.get("name"), "created": meta.get("creationTimestamp"),
                            "age": ago(meta.get("creationTimestamp"), now), "types": types,
                            "pod_selector": selector or "all pods", "selects": selected}
    if "Egress" in types:
        rules = spec.get("egress") or []
        view["egress"] = [f"{_ports_text(r.get('ports'))} to " + ("; ".join(_peer_text(p) for p in r["to"])
                                                                  if r.get("to") else "anywhere") for r in rules] \
            or ["nothing (all egress denied)"]
        view["allows_dns"] = any(_allows_dns(r) for r in rules)
    if "Ingress" in types:
        view["ingress_rules"] = len(spec.get("ingress") or [])
    return view


async def read_network_policies(kube: Kube, now: datetime, namespace: str, pod: str | None = None) -> ToolResult:
    base = f"/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies"
    policies = (await kube.json(base, kube.networking.list_namespaced_network_policy,
                                namespace=namespace)).get("items") or []
    pods = (await kube.json(f"/api/v1/namespaces/{namespace}/pods", kube.core.list_namespaced_pod,
                            namespace=namespace)).get("items") or []
    if pod:
        pods = [p for p in pods if (p.get("metadata") or {}).get("name") == pod]
    views = [policy_view(p, pods, now) for p in policies]
    if pod:
        views = [v for v in views if v["selects"]]
    if not views:
        what = f"selecting pod {pod}" if pod else "in"
        return ToolResult(status="no_data", data={"namespace": namespace, "policies": []},
                          summary=f"no NetworkPolicy {what} namespace {namespace}: traffic is not restricted")
    egress = [v for v in views if "Egress" in v["types"] and v["selects"]]
    dns_blocked = bool(egress) and not any(v["allows_dns"] for v in egress)
    data = {"namespace": namespace, "policies": views, "egress_restricted": bool(egress),
            "dns_egress": "blocked" if dns_blocked else ("allowed" if egress else "unrestricted")}
    if pod:
        data["pod"] = pod
    summary = f"{len(views)} NetworkPolicy(ies) in {namespace}" + (f" select {pod}" if pod else "")
    if dns_blocked:
        names = ", ".join(f"{v['name']} (created {v.get('age') or v.get('created')})" for v in egress)
        summary += f"; egress restricted by {names} with no rule allowing DNS (UDP 53): name lookups are blocked"
    elif egress:
        summary += f"; egress restricted by {', '.join(v['name'] for v in egress)}, DNS allowed"
    return ToolResult(status="ok", data=data, summary=summary)
