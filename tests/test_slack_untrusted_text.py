"""Text we did not write reaches Slack escaped, everywhere (top-level `text` included), and evidence
links survive only on the configured backends' hosts.

The end-to-end case runs the real Workflow with the Anthropic engine against the loopback
Anthropic fake, whose model answers with hostile text and links, and posts through the real
SlackSurface to the loopback Slack fake.
"""
from __future__ import annotations

import json
import re

import pytest

from agents.diagnosis import Diagnosis, Evidence
from bot.evidence_links import hosts_from_settings, link_hosts, safe_url, with_safe_links
from bot.slack import blocks as bk
from bot.workflow.surface import DiagnosisPost
from tests.slack_support import fake  # noqa: F401  (shared fixture)
from tests.slack_support import OTHER_CHANNEL, eventually, settings, slash_body, start_harness
from tests.test_slack_blocks import MEDIUM

ATTACKS = ["<!channel>", "<!here>", "<@U0ADMIN>", "<https://evil.example|Slack SSO>", "<#C0SECRET>",
           "<!subteam^S0ONCALL>"]
HOSTILE = " ".join(ATTACKS) + " & co"
PROM = "http://prometheus.internal:9090"

# What our own markup may look like: links to allowed hosts and date tokens. Anything else between
# < and > in what Slack parses would be control syntax smuggled in by someone else's text.
OWN_MARKUP = re.compile(r"<(?:http://prometheus\.internal:9090/[^|>]*\|open|!date\^\d+\^[^>]*)>")


def parsed_texts(payload: object, top: bool = True) -> list[str]:
    """The texts Slack parses for markup: a message's top-level `text` and every mrkdwn object
    (plain_text, used for headers, buttons and confirm dialogs, is shown literally)."""
    if isinstance(payload, str):
        return [payload]
    if isinstance(payload, list):
        return [t for item in payload for t in parsed_texts(item, False)]
    if not isinstance(payload, dict):
        return []
    texts = [payload["text"]] if isinstance(payload.get("text"), str) and (top or payload.get("type") == "mrkdwn") \
        else []
    for key, value in payload.items():
        if key != "text" or not isinstance(value, str):
            texts += parsed_texts(value, False)
    return texts


def smuggled(payload: object) -> list[str]:
    return [m for text in parsed_texts(payload) for m in re.findall(r"<[^<>]*>", OWN_MARKUP.sub("", text))]


def hostile_diagnosis() -> Diagnosis:
    return Diagnosis(
        category="oom_killed", component=f"cart {HOSTILE}", confidence=0.8, summary=f"cart is OOMKilled. {HOSTILE}",
        evidence=[Evidence(tool="prom_query", query=f"up {HOSTILE}", finding=f"graph {HOSTILE}",
                           link=f"{PROM}/graph?g0.expr=up"),
                  Evidence(tool="search_logs", finding="sign in again", link="https://evil.example/login"),
                  Evidence(tool="search_logs", finding="js", link="javascript:alert(document.cookie)"),
                  Evidence(tool="search_logs", finding="creds", link="http://user:pw@prometheus.internal:9090/x"),
                  Evidence(tool="search_logs", finding="data", link="data:text/html,<script>alert(1)</script>")],
        unavailable_sources=[f"opensearch: {HOSTILE}"])


def test_the_top_level_text_of_a_diagnosis_is_escaped():
    d = with_safe_links(hostile_diagnosis(), {"prometheus.internal"})
    text, blocks = bk.diagnosis(DiagnosisPost("INC1", "S1", d))
    for attack in ATTACKS:
        assert attack not in text, attack
    assert "&lt;!channel&gt;" in text and "&amp;lt;" not in text  # escaped once, not twice
    assert sum("&lt;!channel&gt;" in t for t in parsed_texts(blocks)) >= 4  # summary, component, evidence, sources
    assert smuggled({"text": text, "blocks": blocks}) == []
    assert f"<{PROM}/graph?g0.expr=up|open>" in json.dumps(blocks)  # the allowed link is still a link


def test_the_top_level_text_of_a_posted_proposal_is_escaped():
    from dataclasses import replace

    hostile = replace(MEDIUM, action_text=f"set resources shop/cart {HOSTILE}")
    text, blocks = bk.proposal_message(hostile, f"Undo available for {HOSTILE}")
    assert smuggled({"text": text, "blocks": blocks}) == []
    assert "&lt;!here&gt;" in text


@pytest.mark.parametrize("url", [
    "https://evil.example/login", "javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,x",
    "ftp://prometheus.internal/x", "http://user:pw@prometheus.internal:9090/",
    "http://prometheus.internal@evil.example/", "https://prometheus.internal.evil.example/",
    "http://prometheus.internal:99999/", "http://prometheus.internal\\.evil/",
    "http://prometheus.internal/a b", "http://prometheus.internal/\x1b[2J", "//prometheus.internal/x", "",
    "http://" + "p" * 2000, None, 42])
def test_links_off_the_allowed_hosts_or_unsafe_are_refused(url):
    assert not safe_url(url, {"prometheus.internal", "grafana.internal"})


@pytest.mark.parametrize("url", ["http://prometheus.internal:9090/graph?g0.expr=rate(x[5m])&g0.tab=0",
                                 "https://PROMETHEUS.internal/graph", "https://grafana.internal:3000/d/abc?var=a|b"])
def test_links_on_allowed_hosts_pass(url):
    assert safe_url(url, {"prometheus.internal", "grafana.internal"})


def test_allowed_hosts_come_from_the_backend_urls_and_the_extra_setting():
    s = settings(prometheus_url=PROM, opensearch_url="https://search.internal:9200",
                 evidence_link_hosts="grafana.internal, https://kibana.internal:5601/app")
    assert hosts_from_settings(s) == {"prometheus.internal", "search.internal", "grafana.internal", "kibana.internal"}
    assert link_hosts(None, "", extra=["", " "]) == frozenset()


def test_with_safe_links_drops_only_the_bad_links_and_keeps_the_evidence():
    d = hostile_diagnosis()
    safe = with_safe_links(d, {"prometheus.internal"})
    assert [e.link for e in safe.evidence] == [f"{PROM}/graph?g0.expr=up", None, None, None, None]
    assert [e.finding for e in safe.evidence] == [e.finding for e in d.evidence]
    assert d.evidence[1].link == "https://evil.example/login"  # the recorded diagnosis is not changed
    assert all(e.link is None for e in with_safe_links(d, ()).evidence)  # no hosts configured: no links


async def test_user_text_in_replies_to_a_command_is_escaped(fake):  # noqa: F811
    reply = f"I could not find a service, pod or alert in '{HOSTILE}'."
    h = await start_harness(fake, workflow_kw={"command_reply": reply})
    try:
        await h.form(slash_body(HOSTILE, channel=OTHER_CHANNEL, response_url=fake.response_url("esc")))
        assert await eventually(lambda: fake.responses("esc"))
        [answer] = fake.responses("esc")
        assert smuggled(answer) == [] and "&lt;!channel&gt;" in answer["text"]

        fake.fail("response_url", error="expired_url", status=404, retry_after=None)
        await h.form(slash_body(HOSTILE, channel=OTHER_CHANNEL, response_url=fake.response_url("gone")))
        assert await eventually(lambda: fake.ephemerals)
        assert smuggled(fake.ephemerals[-1]["text"]) == [] and "&lt;@U0ADMIN&gt;" in fake.ephemerals[-1]["text"]
    finally:
        await h.client.close()


async def test_model_text_and_links_reach_slack_escaped_and_filtered(migrated, fake):  # noqa: F811
    """The Workflow (with PROMETHEUS_URL's host allowed) posts a model's hostile diagnosis."""
    from agents.session import EngineSettings
    from bot.remediation import ApprovalPolicy, Signer
    from bot.slack.surface import SlackSurface, make_client
    from bot.workflow.service import Workflow
    from tests.fake_anthropic import FakeAnthropic, submit
    from tests.fake_slack import DEFAULT_TOKEN
    from tools.base import ToolContext, ToolRegistry
    from tools.redact import Redactor
    from tools.sources import Sources

    _, factory = migrated
    fake.add_channel(OTHER_CHANNEL)
    answer = hostile_diagnosis().model_dump(mode="json", exclude_none=True)

    async def sources() -> Sources:
        return Sources(registry=ToolRegistry(redactor=Redactor()), ctx=ToolContext(), unavailable={})

    async with FakeAnthropic([submit(answer)]) as model:
        engine = EngineSettings(engine="anthropic", api_key="sk-ant-api03-test", base_url=model.base_url,
                                retry_base_delay=0.001)
        wf = Workflow(factory, {"slack": SlackSurface(make_client(DEFAULT_TOKEN, fake.url))}, sources, engine, None,
                      concurrency=1, policy=ApprovalPolicy.build(),
                      signer=Signer(b"0123456789abcdef0123456789abcdef"),
                      link_hosts=hosts_from_settings(settings(prometheus_url=PROM)))
        assert await wf.on_command("shop/cart", platform="slack", channel=OTHER_CHANNEL, user="U0ALICE") is None
        await wf.drain(30)

    posted = [c for c in fake.calls("chat.postMessage") if (c.arg("blocks") or [{}])[0].get("type") == "header"]
    assert len(posted) == 1, [c.arg("text") for c in fake.calls("chat.postMessage")]
    message = {"text": posted[0].arg("text"), "blocks": posted[0].arg("blocks")}
    assert smuggled(message) == []
    dump = json.dumps(message)
    assert f"<{PROM}/graph?g0.expr=up|open>" in dump
    for bad in ("evil.example/login", "javascript:", "user:pw@", "data:text"):
        assert bad not in dump, bad
    assert "&lt;https://evil.example|Slack SSO&gt;" in message["text"]
