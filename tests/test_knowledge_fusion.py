"""Weighted reciprocal-rank fusion and the identifier share that sets the dense weight."""
from __future__ import annotations

import pytest

from knowledge.retrieve import RRF_K, exact_token_share, fuse, signal_weights


@pytest.mark.parametrize("query, share", [
    ("the site feels slow since this morning", 0.0),
    ("OOMKilled exit code 137", 0.5),  # OOMKilled, 137
    ("lookup catalog.prod.svc.cluster.local on 10.96.0.10:53", 0.5),
    ("couldn't find key REDIS_PASSWORD in Secret billing/invoice-env", 2 / 7),
    ("", 0.0),
    ("--- ... !!!", 0.0),
])
def test_exact_token_share(query, share):
    assert exact_token_share(query) == pytest.approx(share)


def test_dense_weight_falls_with_identifiers_and_never_goes_negative():
    prose, mixed, quoted = (signal_weights(q) for q in (
        "pods keep dying under load", "pod restarts OOMKilled exit 137", "x509 0x1f 10.0.0.1:443"))
    assert prose == (1.0, 1.0)
    assert mixed[0] == 1.0 and 0.0 < mixed[1] < 1.0
    assert quoted == (1.0, 0.0)


def test_fuse_rewards_agreement_and_respects_weights():
    lexical = [(0, 10, 9.0), (1, 11, 5.0), (2, 12, 1.0)]
    dense = [(2, 22, 0.9), (1, 21, 0.8), (3, 23, 0.7)]
    both = fuse([lexical, dense], (1.0, 1.0))
    assert {d for d, _, _ in both[:2]} == {1, 2}  # found by both signals beats first by one
    assert both[0][2] == pytest.approx(1 / (RRF_K + 3) + 1 / (RRF_K + 1))
    assert {d: ci for d, ci, _ in both}[2] == 12  # the lexical ranking picks the shown section
    bm25_only = fuse([lexical, dense], (1.0, 0.0))
    assert [d for d, _, _ in bm25_only][:3] == [0, 1, 2]
