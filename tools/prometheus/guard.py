"""Namespace guard for PromQL: what a tool sends to Prometheus is parsed first, and with a
namespace allowlist every vector selector must be confined to it by its own matchers.

Filtering result rows by their `namespace` label is not enough: an aggregation such as
`sum(rate(x{namespace="other"}[5m]))` returns a row without that label. So the expression
is parsed (promql-parser) and each selector, wherever it sits (matrix selectors, subqueries,
function and aggregation arguments, both sides of binary operators), needs `namespace="a"`
or `namespace=~"a|b"` whose alternatives are literal allowed names. Anything that cannot be
proved confined (other regexes, `!=`, `!~`) is rejected before any request, with a message
a model can act on. A syntax error is returned before any request even without an allowlist.
"""
from __future__ import annotations

import re
from typing import Collection, Sequence

import promql_parser as pp

from .catalog import CLUSTER_SCOPED, allowlist_matcher, promql_string

NAMESPACE = "namespace"
_META = set(".+*?()[]{}|^$")
_EMPTY_BRACES = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)\{\}")
# Functions that read series besides their arguments: info() joins target_info implicitly.
_IMPLICIT_READS = frozenset({"info"})


class QueryRejected(ValueError):
    """PromQL that was not sent; str() says why and how to fix it."""

    def __init__(self, message: str, query: str):
        super().__init__(message)
        self.query = query


def _register_prometheus2_names() -> None:
    # The parser follows Prometheus 3, which renamed holt_winters; Prometheus 2.x servers
    # (Debian ships 2.42) still accept it, so a query valid for the server is not refused.
    try:
        pp.register_extra_functions([pp.Function("holt_winters", [pp.ValueType.Matrix, pp.ValueType.Scalar,
                                                                   pp.ValueType.Scalar], pp.ValueType.Vector)])
    except ValueError:  # a later parser version knows it already
        pass


_register_prometheus2_names()


def parse(query: object) -> pp.Expr:
    if not isinstance(query, str) or not query.strip():
        raise QueryRejected("query must be a non-empty PromQL string", str(query))
    try:
        return pp.parse(query)
    except ValueError as exc:
        raise QueryRejected(f"PromQL syntax error (query not sent): {exc}", query) from None


def check_query(query: object, allowlist: Sequence[str], cluster_metrics: Collection[str] = ()) -> None:
    """Raise QueryRejected unless `query` parses and, with an allowlist, every selector is confined.

    cluster_metrics names metrics that belong to no namespace (nodes, CoreDNS, probes); only the
    named-query catalog passes them, so a raw query cannot use them to skip the check.
    """
    expr = parse(query)
    if allowlist:
        _require_confined(str(query), _selectors(expr, str(query)), allowlist, cluster_metrics)


def check_series_match(match: object, allowlist: Sequence[str]) -> None:
    """The series API's match[] takes one selector, not an expression."""
    expr = parse(match)
    if not isinstance(expr, pp.VectorSelector):
        raise QueryRejected(f"match[] must be a series selector such as "
                            f"up{{{_example(allowlist)}}}, not an expression", str(match))
    if allowlist:
        _require_confined(str(match), [expr], allowlist, ())


def _example(allowlist: Sequence[str]) -> str:
    return f"{NAMESPACE}={promql_string(allowlist[0])}" if allowlist else 'job="x"'


def _selectors(expr: pp.Expr, query: str) -> list[pp.VectorSelector]:
    found: list[pp.VectorSelector] = []
    implicit: list[str] = []

    def visit(node: pp.Expr) -> None:
        if isinstance(node, pp.VectorSelector):
            found.append(node)
        elif isinstance(node, pp.Call) and node.func.name in _IMPLICIT_READS:
            implicit.append(node.func.name)

    pp.walk(expr, visit)
    if implicit:
        raise QueryRejected(f"query not sent: {implicit[0]}() reads series the query does not name, which a "
                            f"namespace allowlist cannot confine; use the series it would read explicitly", query)
    return found


def _require_confined(query: str, selectors: list[pp.VectorSelector], allowlist: Sequence[str],
                      cluster_metrics: Collection[str]) -> None:
    problems = []
    for sel in selectors:
        if _metric_name(sel) in cluster_metrics:
            continue
        why = _unconfined(sel, allowlist)
        if why and _metric_name(sel) in CLUSTER_SCOPED:
            why += "; it belongs to no namespace: read it with prom_named (node_conditions, filesystem_free, " \
                   "dns_errors, certificate_expiry, probe_success)"
        if why:
            problems.append(f"{_show(sel)} ({why})")
    if problems:
        allowed = ", ".join(allowlist)
        fix = f"{NAMESPACE}={promql_string(allowlist[0])}"
        if len(allowlist) > 1:
            fix += f" or {allowlist_matcher(allowlist)}"
        raise QueryRejected(f"query not sent: with a namespace allowlist ({allowed}) every metric selector needs "
                            f"a namespace matcher within it; add {fix} to: " + "; ".join(problems), query)


def _show(sel: pp.VectorSelector) -> str:
    """The selector as a model wrote it: `x offset 5m`, not the printer's `x{} offset 5m`."""
    return _EMPTY_BRACES.sub(r"\1", str(sel))


def _metric_name(sel: pp.VectorSelector) -> str | None:
    if sel.name:
        return sel.name
    return next((m.value for m in sel.matchers.matchers if m.name == "__name__" and m.op == pp.MatchOp.Equal), None)


def _unconfined(sel: pp.VectorSelector, allowlist: Sequence[str]) -> str | None:
    """Why the selector may reach another namespace, or None when it cannot."""
    base = list(sel.matchers.matchers)
    # `{a="x" or b="y"}`: each alternative group has to be confined on its own.
    for group in sel.matchers.or_matchers or [[]]:
        reasons = []
        for m in base + list(group):
            if m.name != NAMESPACE:
                continue
            why = _matcher_problem(m, allowlist)
            if why is None:
                break
            reasons.append(why)
        else:
            return "; ".join(reasons) or "no namespace matcher"
    return None


def _matcher_problem(m: pp.Matcher, allowlist: Sequence[str]) -> str | None:
    if m.op == pp.MatchOp.Equal:
        return None if m.value in allowlist else f"namespace {m.value!r} is not allowed"
    if m.op == pp.MatchOp.Re:
        names = regex_alternatives(m.value)
        if names is None:
            return f"regex {m} is not a list of literal namespace names"
        outside = [n for n in names if n not in allowlist]
        return f"namespace(s) {', '.join(map(repr, outside))} not allowed" if outside else None
    return f"{m} cannot confine a selector; use = or =~"


def regex_alternatives(pattern: str) -> list[str] | None:
    """`a|b\\.c` -> ["a", "b.c"]; None when the regex is more than literal alternatives.

    Prometheus anchors label regexes, so literal alternatives match exactly those names.
    Only punctuation may be escaped: `\\d`, `\\x..`, `\\Q` have meanings of their own.
    """
    names, cur, i = [], [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 >= len(pattern) or pattern[i + 1].isalnum():
                return None
            cur.append(pattern[i + 1])
            i += 2
            continue
        if c == "|":
            names.append("".join(cur))
            cur = []
        elif c in _META:
            return None
        else:
            cur.append(c)
        i += 1
    names.append("".join(cur))
    return names
