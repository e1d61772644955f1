"""Adaptive Cards for Teams: golden JSON for each card, structural validation, both click paths,
escaping read back by a CommonMark parser, and Teams' message size limit under hostile sizes.

Goldens live in tests/golden/teams/; regenerate after an intended change with
UPDATE_GOLDENS=1 .venv/bin/pytest tests/test_teams_cards.py
"""
from __future__ import annotations

import base64
import copy
import json
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from markdown_it import MarkdownIt

from agents.diagnosis import Diagnosis, Evidence, SimilarIncident, TimelineEntry
from bot.charts import render_series_png
from bot.remediation import confirm_text
from bot.remediation.views import refused
from bot.teams import cards as tc
from bot.teams.markdown import WJ, esc
from bot.workflow.surface import DiagnosisPost, ProgressView
from bot.teams.feedback_cards import form_card
from tests.feedback_support import ANSWERED, FORM, FRESH
from tests.remediation_support import SIGNER
from tests.support import REPO, check_golden, dataset
from tests.teams_card_support import CardError, elements, validate_card
from tests.test_slack_blocks import HIGH, MEDIUM, post, view

GOLDEN = REPO / "tests" / "golden" / "teams"
ALICE = "teams:c5e99701-2a32-49c1-a660-4629ceeb8c61"  # AAD object ids, as the approval policy names them
BOB = "teams:6b703ce3-6d14-4fe6-b90c-dc5f03657ae4"
CHART = "https://chatops.example/teams/charts/5f0c.png"
PROM_LINK = "http://prometheus:9090/graph?g0.expr=container_memory_working_set_bytes&g0.tab=0"

REFUSED = refused("rollback_deployment", "payments", "prod", {}, "HIGH",
                  "outside this incident's scope: deployment prod/payments is not on the alert's owner chain",
                  "INC42", rationale="payments errors rose at the same time")
CRIT = view("P-crit", "cordon_node", "node-1", "CRITICAL", namespace=None, required=2, requested_by=BOB)
UNDO = view("P-undo", "scale_deployment", "cart", "MEDIUM", parameters={"replicas": 3}, undo_of="P-scale",
            rationale=None, requested_by=ALICE)


def decided(v, state: str, approvers: tuple[str, ...] = ()):  # noqa: ANN001
    return replace(v, state=state, offerable=False, token="", approvers=approvers, reason=f"already {state}")


def base() -> dict:
    return tc.diagnosis_card(post(MEDIUM, HIGH, REFUSED), CHART)


def no_proposals() -> dict:
    d = Diagnosis(category="unknown", component=None, confidence=0.2,
                  summary="The evidence does not point at one cause.\nMetrics and logs could not be read.",
                  evidence=[Evidence(tool="k8s_pods", query="namespace=shop", finding="all pods Running, 0 restarts")],
                  unavailable_sources=["prometheus: connection refused (http://prometheus:9090)",
                                       "opensearch: HTTP 503 from http://opensearch:9200"])
    return tc.diagnosis_card(DiagnosisPost("INC43", "S8", d, engine="anthropic",
                                           fallback_reason="529 overloaded after 3 retries"))


def critical_once() -> tuple[dict, object]:
    once = replace(CRIT, approvals_received=1, approvers=(ALICE,),
                   confirm_text=confirm_text(CRIT.action_text, "CRITICAL", 2, 1))
    return tc.refresh_proposal(tc.diagnosis_card(post(CRIT)), once,
                               "Alice Example approved (more approvals needed): approval recorded; 1 more needed"), once


CASES = {
    "progress_starting": lambda: tc.progress_card(ProgressView("INC42", 0, None, "starting")),
    "progress_step": lambda: tc.progress_card(ProgressView("INC42", 3, 12, "prom_named: ok")),
    "progress_done": lambda: tc.progress_card(ProgressView("INC42", 9, 12, "done: 9 tool calls in 2.1s", done=True)),
    "text_note": lambda: tc.text_card(":white_check_mark: Resolved: KubePodCrashLooping stopped firing. "
                                      "Closing this incident."),
    "diagnosis_medium_high_refused": base,
    "diagnosis_no_proposals_unavailable": no_proposals,
    "proposal_undo": lambda: tc.proposal_card(UNDO, "Undo available for scale deployment shop/cart (replicas=6)"),
    "refreshed_approved_executed": lambda: tc.refresh_proposal(
        base(), decided(MEDIUM, "succeeded", (ALICE,)),
        "Alice Example approved; executed: deployment shop/cart memory limit set to 512Mi, rollout complete"),
    "refreshed_rejected": lambda: tc.refresh_proposal(base(), decided(HIGH, "rejected"),
                                                      f"Bob Example rejected: rejected by {BOB}"),
    "refreshed_expired": lambda: tc.refresh_proposal(base(), decided(MEDIUM, "expired"),
                                                     "expired after 30 min without approval"),
    "refreshed_awaiting_second_approval": lambda: critical_once()[0],
    "feedback_diagnosis": lambda: tc.diagnosis_card(replace(post(MEDIUM), feedback=FRESH)),
    "feedback_answered": lambda: tc.refresh_feedback(tc.diagnosis_card(replace(post(MEDIUM), feedback=FRESH)),
                                                     ANSWERED),
    "feedback_form": lambda: form_card(FORM, "1767100000001", SIGNER),
    "refreshed_failed": lambda: tc.refresh_proposal(
        base(), decided(HIGH, "failed", (ALICE,)),
        "Alice Example approved; execution failed: rollout of shop/cart did not converge within 120s"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name):
    card = CASES[name]()
    validate_card(card)
    assert tc.card_size(card) <= tc.MAX_CARD_BYTES
    check_golden(GOLDEN / f"{name}.json", card)


def test_validator_rejects_what_teams_would_not_call_back():
    card = base()
    validate_card(card)
    bad = copy.deepcopy(card)
    next(a for a in elements(bad, "Action.Execute")).pop("verb")
    with pytest.raises(CardError, match="needs a verb"):
        validate_card(bad)
    bad = copy.deepcopy(card)
    next(a for a in elements(bad, "Action.Submit"))["title"] = " "
    with pytest.raises(CardError, match="title"):
        validate_card(bad)
    with pytest.raises(CardError, match="never a connector MessageCard"):
        validate_card({"@type": "MessageCard", "@context": "http://schema.org/extensions", "text": "hi"})
    bad = copy.deepcopy(card)
    bad["body"][0]["colour"] = "Good"
    with pytest.raises(CardError, match="unknown properties"):
        validate_card(bad)


def test_validator_accepts_a_card_from_teams_own_tests():
    """The validator is not stricter than Teams: a bot's Adaptive Card from the teams.net tests passes."""
    activity = json.loads(dataset("teams", "teams.net", "test", "Microsoft.Teams.Apps.BotBuilder.UnitTests", "TestData",
                                  "AdaptiveCardActivity.json").read_text())
    (att,) = activity["attachments"]
    assert att["contentType"] == tc.CONTENT_TYPE
    validate_card(att["content"])


def test_attachment_and_card_kind():
    for name, make in CASES.items():
        card = make()
        att = tc.attachment(card)
        assert att == {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        dump = json.dumps(card)
        assert card["version"] == "1.5" and card["msteams"] == {"width": "Full"}, name
        assert "MessageCard" not in dump and "@type" not in dump, name  # never an O365 connector card


def _invoke(action: dict) -> dict:
    """The value of the `adaptiveCard/action` invoke Teams sends for a click on `action`."""
    return {"action": {"type": "Action.Execute", "title": action["title"], "verb": action["verb"],
                       "data": action["data"]}, "trigger": "manual"}


def test_buttons_call_back_on_both_paths():
    card = base()
    executes = elements(card, "Action.Execute")
    assert {(a["verb"], a["data"]["proposal_id"]) for a in executes} == {
        (v, p) for v in (tc.VERB_APPROVE, tc.VERB_REJECT) for p in ("P-med", "P-high")}  # the refused one has none
    for a in executes:
        decision = "approve" if a["verb"] == tc.VERB_APPROVE else "reject"
        pid = a["data"]["proposal_id"]
        expected = (decision, pid, f"v1.tok-{pid}")
        assert tc.action_data(_invoke(a)) == expected
        fallback = a["fallback"]
        assert fallback["type"] == "Action.Submit" and fallback["title"] == a["title"]
        assert fallback["data"] == {"verb": a["verb"], **a["data"]} and "msteams" not in fallback["data"]
        # Action.Submit arrives as a message whose value is the data (Teams may add keys of its own)
        assert tc.action_data(fallback["data"]) == expected
        assert tc.action_data({**fallback["data"], "msteams": {"clientInfo": "x"}}) == expected
        assert a["style"] == ("positive" if decision == "approve" else "destructive") == fallback["style"]
    titles = {a["data"]["proposal_id"]: a["title"] for a in executes if a["verb"] == tc.VERB_APPROVE}
    assert titles["P-high"].startswith("⚠️ Approve HIGH risk: rollback deployment shop/cart")
    assert titles["P-med"] == "Approve: set resources shop/cart (container=cart, memory_limit=512Mi)"


def _section(card: dict, pid: str) -> dict:
    return next(el for el in card["body"] if el.get("id") == f"proposal:{pid}")


def _texts(el: dict) -> list[str]:
    return [t["text"] for t in elements(el, "TextBlock")]


def test_confirm_text_is_shown_right_above_the_buttons():
    card = base()
    for pid, risk in (("P-med", "MEDIUM"), ("P-high", "HIGH")):
        items = _section(card, pid)["items"]
        assert items[-1]["type"] == "ActionSet"
        confirm = items[-2]
        assert confirm["type"] == "TextBlock" and f"Risk {risk}." in confirm["text"]
        assert "Needs 1 approval from an allowed approver" in confirm["text"]
    high = _section(card, "P-high")["items"][-2]
    assert high["text"].startswith("⚠️ This will rollback deployment shop/cart.") and high["color"] == "Attention"
    assert "cannot approve your own request" in high["text"]  # HIGH: no self-approval, said before the click
    refused_section = _section(card, "refused-2")
    assert not elements(refused_section, "ActionSet")
    assert any(t.startswith("⛔ Not offered: outside this incident's scope: deployment prod/payments")
               for t in _texts(refused_section))


def test_recorded_teams_invoke():
    """Teams' own recorded `adaptiveCard/action` invoke: another card's Action.Execute (no verb of
    ours) is not a decision; the same invoke carrying our button's verb and data is."""
    recorded = json.loads(dataset("teams", "teams.net", "test", "Microsoft.Teams.Apps.UnitTests",
                                  "TeamsActivityTests__jsonInvoke.json").read_text())["activity"]
    assert recorded["name"] == "adaptiveCard/action"
    assert tc.action_data(recorded["value"]) is None
    ours = next(a for a in elements(base(), "Action.Execute") if a["verb"] == tc.VERB_REJECT)
    value = copy.deepcopy(recorded["value"])
    value["action"].update(verb=ours["verb"], data=ours["data"], title=ours["title"])
    assert tc.action_data(value) == ("reject", ours["data"]["proposal_id"], ours["data"]["token"])


GOOD = {"proposal_id": "P-med", "token": "v1.tok-P-med"}


@pytest.mark.parametrize("value", [
    None, "proposal_approve|P-med|tok", 42, [], {}, {"action": "Action.Execute"}, {"text": "approve"},
    {"action": {"type": "Action.Execute", "verb": tc.VERB_APPROVE}},                       # no data
    {"action": {"type": "Action.Execute", "verb": tc.VERB_APPROVE, "data": "P-med|tok"}},  # data not an object
    {"action": {"type": "Action.Execute", "verb": tc.VERB_APPROVE, "data": {"proposal_id": "P-med"}}},  # no token
    {"action": {"type": "Action.Execute", "verb": "refresh_card", "data": GOOD}},          # another verb
    {"action": {"type": "Action.Execute", "verb": [tc.VERB_APPROVE], "data": GOOD}},       # unhashable verb
    {"action": {"type": "Action.OpenUrl", "verb": tc.VERB_APPROVE, "data": GOOD}},
    {"action": {"type": "Action.Execute", "verb": tc.VERB_APPROVE, "data": {**GOOD, "token": ""}}},
    {"action": {"type": "Action.Execute", "verb": tc.VERB_APPROVE, "data": {**GOOD, "token": 7}}},
    {"action": {"type": "Action.Execute", "verb": tc.VERB_APPROVE, "data": {**GOOD, "token": "x" * 513}}},
    {"action": {"type": "Action.Execute", "verb": tc.VERB_APPROVE, "data": {**GOOD, "proposal_id": "P med"}}},
    {"action": {"type": "Action.Execute", "verb": tc.VERB_APPROVE, "data": {**GOOD, "proposal_id": "P\nmed"}}},
    {**GOOD},                                                                               # Submit without a verb
    {**GOOD, "verb": "approve"},
    {"verb": tc.VERB_REJECT, "proposal_id": None, "token": "t"},
    {"verb": tc.VERB_REJECT, "proposal_id": {"$ne": ""}, "token": "t"},
])
def test_action_data_rejects_what_is_not_our_button(value):
    assert tc.action_data(value) is None


# ---- escaping --------------------------------------------------------------------------------

MD = MarkdownIt("commonmark", {"html": True}).enable("strikethrough")  # stricter than Teams: raw HTML on


def shown(text: str) -> tuple[str, set[str]]:
    """What a CommonMark client shows for a TextBlock's text: its plain text, and every markup
    token it produced (links, emphasis, code, headings, lists, HTML...)."""
    plain, kinds = [], set()
    for tok in MD.parse(text):
        if tok.type != "inline":
            kinds.add(tok.type)
            continue
        for child in tok.children or []:
            kinds.add(child.type)
            plain.append(child.content if child.type in ("text", "code_inline") else " ")
        plain.append(" ")
    return " ".join("".join(plain).replace(WJ, "").split()), kinds - {"paragraph_open", "paragraph_close", "text",
                                                                       "softbreak"}


HOSTILE = [
    "[click](https://evil.example) and [ref][x] and ![img](https://evil.example/a.png)",
    "[x]: https://evil.example",
    "**bold** __bold__ *it* _it_ `code` ~~struck~~ ***",
    "<at>Alice</at> <b>x</b> <img src=x onerror=alert(1)> <https://evil.example> <!channel>",
    "&lt;at&gt;Alice&lt;/at&gt; &#91;click&#93; &amp;",
    "# heading", "- item", "+ item", "1. item", "2) item", "> quote", "---", "    indented code",
    "C:\\path\\to and \\*not emphasis\\* and \\[x\\](https://evil.example) and trailing \\",
    "snake_case_name __init__ _leading trailing_ a_b_",
    "{{DATE(2025-03-04T10:30:00Z, SHORT)}} {{TIME(2025-03-04T10:30:00Z)}}",
    "x](https://evil.example) ]: https://evil.example",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_escape_shows_hostile_text_literally(text):
    out = esc(text)
    plain, markup = shown(out)
    assert markup == set(), f"{text!r} became markup {markup}"
    assert plain == " ".join(text.split())
    # the mobile (shared-model) parser honours none of CommonMark's link escapes: no link syntax,
    # no tag, no entity and no text function may survive in the raw text at all
    assert not re.search(r"\]\(|\]\[|\]:|<[A-Za-z/!?]|&[A-Za-z#]|\{\{", out), out


def test_escape_newlines_and_controls():
    assert esc("line one\n\n\nline two\r\n- three", multiline=True) == f"line one\n\nline two\n\n{WJ}- three"
    assert esc("line one\nline two") == "line one line two"  # one line where one line belongs
    assert esc("a\u202eb\x1b[31mc\x00d") == "ab[31mcd"     # bidi override and control characters removed
    assert esc("x" * 50, 10) == "x" * 9 + "…"              # cut before escaping, never inside an escape
    assert esc("<" * 20, 5) == ("<" + WJ) * 4 + "…"


def _hostile_post() -> DiagnosisPost:
    h = " [click](https://evil.example) **b** <at>Alice</at> {{DATE(2025-01-01T00:00:00Z)}} &#91;"
    d = Diagnosis(category="oom_killed", component="cart" + h, confidence=0.9, summary="summary" + h + "\n# x",
                  evidence=[Evidence(tool="t" + h, query="q" + h, finding="f" + h, time="t" + h, link=PROM_LINK),
                            Evidence(tool="t", finding="javascript link", link="javascript:alert(1)")],
                  timeline=[TimelineEntry(time="t" + h, event="e" + h)],
                  similar_incidents=[SimilarIncident(id="i", title="s" + h, source="src" + h, action="act" + h)],
                  unavailable_sources=["u" + h])
    evil = view("P-evil", "restart_deployment", "cart", "HIGH", rationale="r" + h, approvers=(ALICE + h,))
    return DiagnosisPost("INC" + h, "S" + h, d, [evil, refused("delete_pod", "x", "prod", {}, "MEDIUM", "why" + h,
                                                                  None)], fallback_reason="f" + h)


@pytest.mark.parametrize("name", sorted(CASES))
def test_our_own_markup_renders_as_meant(name):
    """Bold, italics and the evidence link are all the markup a card uses, and none of its escapes
    shows: no stray backslash, asterisk or underscore reaches the reader."""
    for block in elements(CASES[name](), "TextBlock"):
        plain, markup = shown(block["text"])
        assert markup <= {"strong_open", "strong_close", "em_open", "em_close", "link_open", "link_close"}, block
        assert "\\" not in plain and "*" not in plain.replace("cart-.*", "") and WJ not in plain, block


def test_only_our_links_survive_a_hostile_card():
    p = _hostile_post()
    card = tc.refresh_proposal(tc.diagnosis_card(p), replace(p.proposals[0], approvals_received=1),
                               "note [n](https://evil.example) <at>Bob</at>")
    validate_card(card)
    texts = [t["text"] for t in elements(card, "TextBlock")] + \
        [f["value"] for fs in elements(card, "FactSet") for f in fs["facts"]]
    hrefs = []
    for text in texts:
        for tok in MD.parse(text):
            for child in tok.children or []:
                assert child.type not in ("html_inline", "image"), text
                if child.type == "link_open":
                    hrefs.append(child.attrs["href"])
        assert "<at>" not in text and "](https://evil" not in text and "&#91;" not in text
        assert "{{DATE(2025-01-01" not in text
    assert hrefs == [PROM_LINK]  # the evidence link on an allowed host, nothing else
    assert "javascript:" not in json.dumps(card)
    # what the hostile strings said is still there to read
    assert any("[click](https://evil.example) **b** <at>Alice</at>" in shown(t)[0] for t in texts)


def test_evidence_link_is_percent_encoded_not_broken():
    d = Diagnosis(category="unknown", confidence=0.1, summary="s",
                  evidence=[Evidence(tool="prom", finding="graph", link="https://prom.example/g?q=rate(x[5m])*2")])
    card = tc.diagnosis_card(DiagnosisPost(None, "S1", d))
    line = next(t for t in _texts(card) if t.startswith("• graph"))
    assert line.endswith("[open](https://prom.example/g?q=rate%28x%5B5m%5D%29%2A2)")
    (tok,) = [c for t in MD.parse(line) for c in t.children or [] if c.type == "link_open"]
    assert tok.attrs["href"] == "https://prom.example/g?q=rate%28x%5B5m%5D%29%2A2"


# ---- sizes -----------------------------------------------------------------------------------

def _huge_post(chart_fill: str = "x") -> DiagnosisPost:
    long = chart_fill * 5000
    d = Diagnosis(category="unknown", component="c" * 300, confidence=0.2, summary=chart_fill * 1200,
                  evidence=[Evidence(tool="t", query=long, finding=f"{i} " + long, time=long,
                                     link="https://prometheus/" + "p" * 1400) for i in range(60)],
                  timeline=[TimelineEntry(time="t", event=long) for _ in range(40)],
                  similar_incidents=[SimilarIncident(id=str(i), title=long, action=long) for i in range(30)],
                  unavailable_sources=[long] * 9)
    props = [view(f"{i:032x}", "set_resources", chart_fill * 200, "CRITICAL", required=2, rationale=long,
                  token="v1." + "A" * 43, parameters={"container": "c" * 300, "memory_limit": "1Gi"})
             for i in range(30)]  # ids and tokens as long as real ones (uuid4 hex, v1.<HMAC-SHA256 base64url>)
    return DiagnosisPost("INC1", "S1", d, proposals=props, chart_title=long)


def _real_chart_data_uri() -> str:
    now = datetime(2025, 3, 4, 10, 30, tzinfo=timezone.utc)
    series = [{"metric": {"pod": f"cart-{i}"},
               "values": [[(now - timedelta(minutes=60 - m)).timestamp(), str(100 + (m * 7 + i * 13) % 17 + m)]
                          for m in range(60)]} for i in range(3)]
    png = render_series_png(series, "memory working set", now - timedelta(minutes=20), now)
    return "data:image/png;base64," + base64.b64encode(png).decode()


@pytest.mark.parametrize("fill", ["x", "<"])  # "<" needs an escape for every character: the worst case
def test_limits_hold_for_huge_diagnoses_and_every_refresh(fill):
    chart = _real_chart_data_uri()
    assert len(chart) > tc.MAX_CARD_BYTES  # a real chart as a data URI can never fit a Teams message
    card = tc.diagnosis_card(_huge_post(fill), chart)
    validate_card(card)
    assert tc.card_size(card) <= tc.MAX_CARD_BYTES < 28 * 1024
    dump = json.dumps(card, ensure_ascii=False)
    assert "more proposals: chatops proposals list" in dump  # the rest is counted, not dropped silently
    assert "(chatops session show S1)" in dump and "Chart left out" in dump and not elements(card, "Image")
    shown_ids = [el["id"].split(":", 1)[1] for el in card["body"] if el.get("id", "").startswith("proposal:")]
    assert shown_ids and elements(card, "ActionSet")
    # every later state of every proposal, with the longest note and most approvers, still fits
    note = fill * 5000
    for pid in shown_ids:
        v = next(p for p in _huge_post(fill).proposals if p.proposal_id == pid)
        for later in (replace(v, approvals_received=1, approvers=(fill * 300,) * 9), decided(v, "succeeded", (ALICE,)),
                      decided(v, "failed"), decided(v, "rejected"), decided(v, "expired")):
            card = tc.refresh_proposal(card, later, note)
            assert tc.card_size(card) <= tc.MAX_CARD_BYTES, (pid, later.state)
            assert tc.card_size(_section(card, pid)) <= tc.PROPOSAL_MAX
    validate_card(card)


def test_a_chart_that_only_just_fits_is_kept_and_left_out_by_a_refresh_that_would_not_fit():
    head = "data:image/png;base64,"
    with_chart = tc.diagnosis_card(post(MEDIUM, HIGH, REFUSED), head + "AAAA")
    chart = head + "A" * (4 + tc.MAX_CARD_BYTES - 200 - tc.card_size(with_chart))
    card = tc.diagnosis_card(post(MEDIUM, HIGH, REFUSED), chart)
    assert [i["url"] for i in elements(card, "Image")] == [chart] and tc.card_size(card) == tc.MAX_CARD_BYTES - 200
    small = tc.refresh_proposal(card, decided(MEDIUM, "rejected"), "Bob Example rejected")
    assert elements(small, "Image")  # a refresh that does not grow the card keeps the chart
    grown = tc.refresh_proposal(card, decided(HIGH, "failed", (ALICE,) * 9), "<" * 5000)
    validate_card(grown)
    assert tc.card_size(grown) <= tc.MAX_CARD_BYTES
    assert not elements(grown, "Image") and any(t.startswith("Chart left out") for t in _texts(grown))
    assert _section(grown, "P-med") == _section(card, "P-med")


def test_chart_url_kinds():
    pixel = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 60).decode()
    for url, kept in ((CHART, True), (pixel, True), ("javascript:alert(1)", False),
                      ("data:text/html;base64,PHNjcmlwdD4=", False), ("https://user:pw@evil.example/a.png", False)):
        card = tc.diagnosis_card(post(MEDIUM), url)
        validate_card(card)
        assert [i["url"] for i in elements(card, "Image")] == ([url] if kept else []), url
    assert not elements(tc.diagnosis_card(post(MEDIUM)), "Image")


# ---- refresh ---------------------------------------------------------------------------------

def test_refresh_touches_only_that_proposal():
    card = base()
    before = copy.deepcopy(card)
    new = tc.refresh_proposal(card, decided(HIGH, "rejected"), "Bob Example rejected")
    assert card == before  # a copy, the original is left alone
    validate_card(new)
    assert [el for el in new["body"] if el.get("id") != "proposal:P-high"] == \
        [el for el in card["body"] if el.get("id") != "proposal:P-high"]
    high = _section(new, "P-high")
    assert not elements(high, "ActionSet") and "🚫 Rejected" in _texts(high) and "Bob Example rejected" in _texts(high)
    assert elements(_section(new, "P-med"), "ActionSet")
    assert tc.refresh_proposal(card, replace(HIGH, proposal_id="P-other"), "x") is None
    assert tc.refresh_proposal(card, REFUSED, "x") is None  # refused proposals were never stored
    assert tc.refresh_proposal({"type": "AdaptiveCard"}, HIGH) is None


def test_refresh_states_say_who_and_what():
    done = tc.refresh_proposal(base(), decided(MEDIUM, "succeeded", (ALICE,)), "Alice Example approved; executed: ok")
    texts = _texts(_section(done, "P-med"))
    assert "✅ Executed and verified" in texts and f"Approved by {ALICE}" in texts
    assert not elements(_section(done, "P-med"), "ActionSet")
    expired = tc.refresh_proposal(base(), decided(MEDIUM, "expired"), "expired after 30 min without approval")
    assert "⌛ Expired without a decision" in _texts(_section(expired, "P-med"))

    card, once = critical_once()
    crit = _section(card, "P-crit")
    status = next(t for t in _texts(crit) if t.startswith("🟠"))
    assert "needs 1 more approval (1/2)" in status and "{{DATE(2025-03-04T10:30:00Z, SHORT)}}" in status
    assert f"Approved by {ALICE}" in _texts(crit)
    assert "Needs 1 more approval from a different allowed approver" in crit["items"][-2]["text"]
    approve = next(a for a in elements(crit, "Action.Execute") if a["verb"] == tc.VERB_APPROVE)
    assert tc.action_data(_invoke(approve)) == ("approve", "P-crit", once.token)


def test_refresh_on_a_standalone_undo_card():
    card = tc.proposal_card(UNDO, "Undo available for scale deployment shop/cart (replicas=6)")
    new = tc.refresh_proposal(card, decided(UNDO, "succeeded", (BOB,)), "Bob Example approved; executed: ok")
    validate_card(new)
    assert new["body"][0] == card["body"][0] and new["body"][0]["text"].startswith("↩️ Undo available")
    assert not elements(new, "ActionSet") and elements(card, "ActionSet")


def test_progress_and_note_texts():
    card = tc.progress_card(ProgressView(None, 2, None, "k8s_pods: <error>"))
    assert [t["text"] for t in card["body"]] == [f"⏳ Investigating… step 2 · k8s_pods: <{WJ}error>"]
    note = tc.text_card(":x: Diagnosis failed: ValueError: bad <at>x</at>\n:hourglass: later :unknown_code:")
    assert note["body"][0]["text"] == f"❌ Diagnosis failed: ValueError: bad <{WJ}at>x<{WJ}/at>\n\n⌛ later :unknown_code:"
