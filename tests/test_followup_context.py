"""What a follow-up is answered from: the questions the offline answers recognise, and the compaction of
the thread's stored evidence into a model's context (within its bound, the newest question in full)."""
from __future__ import annotations

import pytest

from agents.diagnosis import Diagnosis
from agents.followup.context import Earlier, Fetched, FollowupContext
from agents.followup.intents import parse

DIAGNOSIS = Diagnosis(category="oom_killed", component="cart", confidence=0.7, summary="cart is OOMKilled.")


@pytest.mark.parametrize("question, kind, subject, category", [
    ("why not DNS?", "why_not", "DNS", "dns_failure"),
    ("Is it OOM?", "why_not", "OOM", "oom_killed"),
    ("could it be the database?", "why_not", "database", "dependency_unavailable"),
    ("why not a bad deploy", "why_not", "bad deploy", "bad_deploy"),
    ("show me the logs of storefront-web", "logs", "storefront-web", None),
    ("logs for shop/cart please", "logs", "shop/cart", None),
    ("cart logs?", "logs", "cart", None),
    ("can I see the logs?", "logs", "", None),
    ("what changed?", "changed", "", None),
    ("any recent deploys?", "changed", "", None),
    ("which runbook should I follow?", "runbook", "", None),
])
def test_questions_the_offline_answers_recognise(question, kind, subject, category):
    intent = parse(question)
    assert intent is not None and (intent.kind, intent.subject, intent.category) == (kind, subject, category)


@pytest.mark.parametrize("question", ["what is the blast radius?", "who owns cart?", "summarise this for my boss"])
def test_other_questions_need_a_model(question):
    assert parse(question) is None


def _earlier(n: int, size: int) -> Earlier:
    lines = [f"Q{n}-line-{i} " + "x" * 80 for i in range(size)]
    return Earlier(number=n, asked_by="slack:U0ALICE", question=f"question {n}?", answer=f"answer {n}", engine="offline",
                   fetched=[Fetched(tool="search_logs", args={"app": "cart"}, summary=f"summary {n}", lines=lines,
                                    question=n)])


def test_render_keeps_the_newest_in_full_and_compacts_older_within_the_bound():
    ctx = FollowupContext(question="why not DNS?", asked_by="slack:U0BOB", number=5, diagnosis=DIAGNOSIS,
                          earlier=[_earlier(n, 40) for n in range(1, 5)], calls=["k8s_pods({}) -> ok"] * 500)
    whole = ctx.render(10**6)
    assert all(f"Q{n}-line-39" in whole for n in range(1, 5))  # everything fits a large bound
    small = ctx.render(9000)
    assert len(small) <= 9000
    assert "Q4-line-39" in small and "Q1-line-0" not in small  # the newest keeps its lines, the oldest not
    assert "Q1 (slack:U0ALICE): question 1?" in small  # but every question is still named
    assert small.endswith("why not DNS?\n</question>") and "oom_killed" in small
