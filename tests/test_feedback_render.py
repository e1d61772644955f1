"""How feedback looks: the Slack modal's golden (the Block Kit and card goldens of the feedback area
are in test_slack_blocks.py and test_teams_cards.py, tests/golden/{slack,teams}/feedback_*), both
click paths read back, the feedback area replaced in place with nothing else moving, and Slack's
and Teams' limits holding with the feedback area at its largest.

Regenerate after an intended change with UPDATE_GOLDENS=1 .venv/bin/pytest tests/test_feedback_render.py
"""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
from slack_sdk.models.views import View

from bot.feedback import Verdict
from bot.slack import blocks as bk
from bot.slack.feedback_modal import CATEGORY_BLOCK, STALE, Submission, modal, read_submission
from bot.teams import cards as tc
from bot.teams.feedback_cards import VERB_CANCEL, VERB_SUBMIT, card_of_click, feedback_data, form_card
from bot.workflow.surface import MessageRef
from tests.feedback_support import ANSWERED, FORM, FRESH
from tests.remediation_support import SIGNER
from tests.support import REPO, check_golden
from tests.teams_card_support import elements, validate_card
from tests.test_slack_blocks import HIGH, MEDIUM, post, validate
from tests.test_teams_cards import _huge_post, _real_chart_data_uri

SLACK = REPO / "tests" / "golden" / "slack"


def with_feedback(*proposals, view=FRESH):
    return replace(post(*proposals), feedback=view)


def test_slack_modal_golden_and_its_submission():
    view = modal(FORM, MessageRef("C0OPS", "1700000000.000200", "1700000000.000100"))
    View(**view).validate_json()
    check_golden(SLACK / "feedback_modal.json", view)
    values = {CATEGORY_BLOCK: {"category": {"selected_option": {"value": "dns_failure"}}},
              "feedback_note": {"note": {"value": "coredns"}}}
    assert read_submission({**view, "state": {"values": values}}) == Submission(
        "D42", "feedback.tok-D42", MessageRef("C0OPS", "1700000000.000200", "1700000000.000100"), "dns_failure",
        "coredns")
    assert read_submission({**view, "private_metadata": "{"}) == {CATEGORY_BLOCK: STALE}
    values[CATEGORY_BLOCK]["category"]["selected_option"]["value"] = "made_up"
    assert read_submission({**view, "state": {"values": values}}) == {CATEGORY_BLOCK: "Pick the real cause."}


def test_slack_feedback_area_is_replaced_in_place_and_escaped():
    blocks = bk.diagnosis(with_feedback(MEDIUM, HIGH))[1]
    new = bk.replace_feedback(blocks, ANSWERED)
    assert [b.get("block_id") for b in new] == [b.get("block_id") for b in blocks]
    assert [b for b in new if "feedback" not in b.get("block_id", "")] == \
        [b for b in blocks if "feedback" not in b.get("block_id", "")]
    text = next(b for b in new if b.get("block_id") == "feedback:D42")["elements"][0]["text"]
    assert text.splitlines() == ["✓ Right cause — <@U0BOB>, console:alice",
                                 "✗ Wrong cause — teams:6b703ce3-6d14-4fe6-b90c-dc5f03657ae4: real cause DNS failure: "
                                 "'coredns ConfigMap edited &lt;!channel&gt;'"]
    # a proposal's update leaves the feedback alone, and the feedback goes below the proposals
    approved = bk.replace_proposal(new, replace(MEDIUM, state="succeeded", offerable=False, token=""), "done")
    assert next(b for b in approved if b.get("block_id") == "feedback:D42") == \
        next(b for b in new if b.get("block_id") == "feedback:D42")
    assert [b.get("block_id") for b in approved][-2:] == ["feedback:D42", "feedback_actions:D42"]
    assert bk.replace_feedback(bk.diagnosis(post(MEDIUM))[1], ANSWERED) is None  # no feedback area to replace


def test_slack_limits_hold_with_many_proposals_and_answers():
    from tests.test_slack_blocks import view as proposal_view

    many = replace(FRESH, verdicts=tuple(Verdict(f"console:{'<' * 150}{i}", "wrong", "slow_query", "<" * 300)
                                         for i in range(40)))
    props = [proposal_view(f"P{i}", "set_resources", "n" * 200, "CRITICAL", required=2) for i in range(30)]
    blocks = bk.diagnosis(with_feedback(*props, view=many))[1]
    validate(blocks)
    assert [b.get("block_id") for b in blocks][-2:] == ["feedback:D42", "feedback_actions:D42"]
    assert "…and 37 earlier corrections" in json.dumps(blocks, ensure_ascii=False)  # counted, not cut off


def test_teams_buttons_and_form_come_back_as_feedback_clicks():
    card = tc.diagnosis_card(with_feedback(MEDIUM))
    for verb in (tc.VERB_RIGHT, tc.VERB_WRONG):
        [button] = [a for a in elements(card, "Action.Execute") if a["verb"] == verb]
        invoke = feedback_data({"action": {"type": "Action.Execute", "verb": verb, "data": button["data"]}})
        submit = feedback_data(button["fallback"]["data"])
        assert invoke == submit and (invoke.verb, invoke.diagnosis_id, invoke.token) == (verb, "D42",
                                                                                          "feedback.tok-D42")
        assert tc.action_data({"action": {"verb": verb, "data": button["data"]}}) is None  # never an approval
    form = form_card(FORM, "1767100000001", SIGNER)
    [record] = [a for a in elements(form, "Action.Execute") if a["verb"] == VERB_SUBMIT]
    got = feedback_data({"action": {"verb": VERB_SUBMIT, "data": {**record["data"], "category": "dns_failure",
                                                                  "note": "coredns"}}})
    assert (got.message, got.category, got.note) == ("1767100000001", "dns_failure", "coredns")
    assert card_of_click(got, SIGNER) == "1767100000001"  # the card it names is signed for this diagnosis
    assert card_of_click(replace(got, message="1767100000002"), SIGNER) is None
    assert card_of_click(replace(got, diagnosis_id="D43"), SIGNER) is None
    assert [a["associatedInputs"] for a in elements(form, "Action.Execute")] == ["auto", "none"]
    assert feedback_data({"action": {"verb": VERB_CANCEL, "data": {"diagnosis_id": "D42"}}}) is None  # no token
    assert feedback_data({"action": {"verb": "feedback_other", "data": record["data"]}}) is None


@pytest.mark.parametrize("fill", ["x", "<"])  # "<" needs an escape for every character: the worst case
def test_teams_limits_hold_with_the_feedback_area_at_its_largest(fill):
    huge = replace(_huge_post(fill), feedback=FRESH)
    card = tc.diagnosis_card(huge, _real_chart_data_uri())
    validate_card(card)
    assert tc.card_size(card) <= tc.MAX_CARD_BYTES
    worst = replace(FRESH, verdicts=tuple(Verdict(f"console:{fill * 300}{i}", "wrong" if i % 2 else "right",
                                                  "slow_query", fill * 300) for i in range(60)))
    section = tc.feedback_section(worst)
    assert tc.card_size(section) <= tc.FEEDBACK_MAX
    refreshed = tc.refresh_feedback(card, worst)
    validate_card(refreshed)
    assert tc.card_size(refreshed) <= tc.MAX_CARD_BYTES
    assert elements(refreshed, "ActionSet")[-1]["actions"][0]["verb"] == tc.VERB_RIGHT  # the buttons survive
