"""The PromQL namespace guard on its own: which expressions may be sent under an allowlist."""
from __future__ import annotations

import pytest

from agents.offline.gather import request_rate_query
from tools.prometheus.catalog import CLUSTER_SCOPED, ENTRIES, Filters
from tools.prometheus.guard import QueryRejected, check_query, check_series_match, regex_alternatives

ALLOW = ("shop", "pay")


def rejected(query: str, allowlist=ALLOW, **kwargs) -> str:
    with pytest.raises(QueryRejected) as info:
        check_query(query, allowlist, **kwargs)
    assert info.value.query == query
    return str(info.value)


def test_issue_example_is_rejected_with_a_fix_the_model_can_apply():
    msg = rejected('sum(rate(x{namespace="other"}[5m]))')
    assert msg.startswith("query not sent:")
    assert 'add namespace="shop" or namespace=~"shop|pay"' in msg
    assert "(shop, pay)" in msg
    assert "x{namespace=\"other\"} (namespace 'other' is not allowed)" in msg


@pytest.mark.parametrize("query", [
    'x{namespace="shop"}',
    'sum(rate(x{namespace="pay"}[5m]))',
    'sum by (service) (rate(x{namespace=~"shop|pay", code=~"5.."}[5m]))',
    'x{namespace=~"pay"}',
    '{__name__="x", namespace="shop"}',
    '{__name__=~"kube_pod_.*", namespace="shop"}',
    'x{namespace="shop"} / on (pod) group_left y{namespace=~"shop"}',
    'max_over_time(x{namespace="shop"}[1h:1m] offset 5m)',
    'x{namespace="shop"} @ 1700000000',
    'x{namespace="shop"} offset 1h',
    'topk(scalar(y{namespace="pay"}), x{namespace="shop"})',
    'x{namespace="shop", namespace!="pay"}',  # a further restriction of a confined selector
    'x{namespace="shop" or namespace="pay"}',
    'label_replace(x{namespace="shop"}, "a", "$1", "b", "(.*)")',
    'holt_winters(x{namespace="shop"}[1h], 0.5, 0.5)',  # Prometheus 2.x name of double_exponential_smoothing
    "vector(1)", "time()", "1 + 2",
])
def test_confined_expressions_pass(query):
    check_query(query, ALLOW)


@pytest.mark.parametrize("query, offending", [
    ("sum(rate(x[5m]))", "x (no namespace matcher)"),
    ('x{namespace="shop"} / y', "y (no namespace matcher)"),
    ('x{namespace="shop"} and on () y{job="a"}', 'y{job="a"} (no namespace matcher)'),
    ("max_over_time(y[1h:1m])", "y (no namespace matcher)"),
    ("y offset 5m", "y offset 5m (no namespace matcher)"),
    ("y @ 100", "(no namespace matcher)"),
    ('topk(scalar(y), x{namespace="shop"})', "y (no namespace matcher)"),
    ('quantile(scalar(sum(y)), x{namespace="shop"})', "y (no namespace matcher)"),
    ("absent(y)", "y (no namespace matcher)"),
    ("-y", "y (no namespace matcher)"),
    ('{__name__="y"}', "(no namespace matcher)"),
    ('{__name__=~".+"}', "(no namespace matcher)"),
    ('y{namespace=""}', "namespace '' is not allowed"),
    ('y{namespace="Shop"}', "namespace 'Shop' is not allowed"),
    ('y{namespace!="other"}', 'cannot confine a selector; use = or =~'),
    ('y{namespace!~"kube-.*"}', "cannot confine a selector"),
    ('y{namespace=~"sh.*"}', "is not a list of literal namespace names"),
    ('y{namespace=~".*"}', "is not a list of literal namespace names"),
    ('y{namespace=~"(?i)shop"}', "is not a list of literal namespace names"),
    ('y{namespace=~"shop\\\\d"}', "is not a list of literal namespace names"),
    ('y{namespace=~"shop|other"}', "namespace(s) 'other' not allowed"),
    ('y{namespace=~"shop|"}', "namespace(s) '' not allowed"),  # "" matches series without the label
    ('y{namespace="shop" or job="x"}', "no namespace matcher"),
])
def test_unconfined_selectors_are_named(query, offending):
    assert offending in rejected(query)


def test_functions_reading_unnamed_series_are_rejected():
    # info() joins target_info series the query never names: no matcher can confine them.
    assert "info() reads series the query does not name" in rejected('info(x{namespace="shop"})')
    check_query('info(x{namespace="shop"})', ())


def test_every_offending_selector_is_listed():
    msg = rejected('a{namespace="shop"} + b + c{namespace="other"}')
    assert "b (no namespace matcher)" in msg and "c{namespace=\"other\"}" in msg and "a{" not in msg


def test_escaped_literals_and_regex_alternatives():
    assert regex_alternatives("shop|pay") == ["shop", "pay"]
    assert regex_alternatives("pay\\.ments|a\\-b") == ["pay.ments", "a-b"]
    assert regex_alternatives("") == [""]
    for pattern in ("sh.p", "shop|pay.*", "(shop)", "[s]hop", "shop\\w", "^shop$", "shop\\"):
        assert regex_alternatives(pattern) is None, pattern
    check_query('x{namespace=~"pay\\\\.ments"}', ("pay.ments",))
    # Unescaped, the dot matches any character, e.g. a namespace "payXments".
    assert "not a list of literal namespace names" in rejected('x{namespace=~"pay.ments"}', ("pay.ments",))


def test_syntax_errors_are_returned_with_or_without_an_allowlist():
    for allowlist in ((), ALLOW):
        assert rejected("sum(rate(x[5m])", allowlist) == \
            "PromQL syntax error (query not sent): unclosed left parenthesis"
    assert "non-empty PromQL string" in rejected("  ")
    with pytest.raises(QueryRejected):
        check_query(None, ())


def test_without_an_allowlist_any_namespace_is_allowed():
    check_query('sum(rate(x{namespace="other"}[5m]))', ())
    check_query("sum(rate(x[5m]))", ())


def test_cluster_metrics_are_exempt_only_when_asked_for():
    q = "sum(rate(coredns_dns_responses_total[5m])) + count(kube_node_status_condition)"
    msg = rejected(q)
    assert "coredns_dns_responses_total (no namespace matcher; it belongs to no namespace: read it with " \
           "prom_named (node_conditions" in msg
    check_query(q, ALLOW, cluster_metrics=CLUSTER_SCOPED)
    check_query('{__name__="probe_success"}', ALLOW, cluster_metrics=CLUSTER_SCOPED)
    # The exemption is per metric name: a namespaced metric in the same query still needs a matcher.
    assert "x (no namespace matcher)" in rejected(q + " + x", cluster_metrics=CLUSTER_SCOPED)
    assert "(no namespace matcher)" in rejected('{__name__=~"probe_success|x"}', cluster_metrics=CLUSTER_SCOPED)


def test_series_match_must_be_one_confined_selector():
    check_series_match('{namespace="shop", __name__=~"kube_pod_.*"}', ALLOW)
    check_series_match("up", ())
    with pytest.raises(QueryRejected, match="no namespace matcher"):
        check_series_match("up", ALLOW)
    with pytest.raises(QueryRejected, match='must be a series selector such as up{namespace="shop"}'):
        check_series_match('sum(up{namespace="shop"})', ALLOW)


@pytest.mark.parametrize("filters", [{}, {"namespace": "pay"}, {"service": "cart", "pod": "cart-1", "node": "n1",
                                                                 "deployment": "cart", "container": "app"}])
def test_every_named_query_passes_the_guard_under_an_allowlist(filters):
    """What prom_named sends: confined, or reading cluster-scoped metrics only (nodes, CoreDNS, probes)."""
    f = Filters.parse(filters, ALLOW)
    for e in ENTRIES:
        built = [e.build(f, "60m"), *(b(f, "60m") for b in e.parts.values())]
        built += [e.population(f, "60m")] if e.population else []
        for q in built:
            check_query(q, ALLOW, cluster_metrics=CLUSTER_SCOPED)


def test_offline_engine_request_rate_query_passes_for_an_allowed_namespace():
    check_query(request_rate_query("shop"), ALLOW)
    assert "no namespace matcher" in rejected(request_rate_query(None))
