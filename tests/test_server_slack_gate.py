"""POST /slack/events before bolt (bot.slack.inbound): the signature first, then the shape.

Every malformed request gets a 4xx and exactly one log line, never a 500 or a traceback; signed
and unsigned variants alike. Slack's retries of an event that arrived are not handled twice, and a
replayed /diagnose carries its trigger_id to the workflow, which opens nothing for a repeat.
"""
from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
import time
from urllib.parse import parse_qsl, urlencode

import pytest

from bot.server import MAX_BODY
from tests.fake_slack import DEFAULT_TOKEN, FakeSlack
from tests.slack_support import fake, h  # noqa: F401  (shared fixtures)
from tests.slack_support import (ALERT_CHANNEL, OTHER_CHANNEL, SIGNING_SECRET, block_actions_body, event_body,
                                 eventually, slash_body, start_harness)
from tests.test_slack_app import CLASSIC, alert_attachments

FORM, JSON = "application/x-www-form-urlencoded", "application/json"


def _payload(obj) -> bytes:  # noqa: ANN001
    return urlencode({"payload": json.dumps(obj)}).encode()


CLICK = {"type": "block_actions", "user": {"id": "U0ALICE"}, "actions": [{"action_id": "proposal_approve",
                                                                         "value": "P1|tok"}]}

# (kind, content type, body, status when correctly signed)
MALFORMED = [
    ("empty JSON body", JSON, b"", 400),
    ("empty form body", FORM, b"", 400),
    ("unsupported content type", "text/plain", b"hello", 400),
    ("no content type", "application/octet-stream", b'{"type": "event_callback"}', 400),
    ("form that is not UTF-8", FORM, b"payload=\xff\xfe", 400),
    ("JSON that is not UTF-8", JSON, b'{"type": "\xff"}', 400),
    ("JSON with a byte-order mark", JSON, b"\xef\xbb\xbf{}", 400),
    ("form without payload or command", FORM, b"foo=bar", 400),
    ("payload that is not JSON", FORM, b"payload=%7Bnot", 400),
    ("payload that is a list", FORM, _payload([1, 2]), 400),
    ("payload that is a string", FORM, _payload("x"), 400),
    ("payload without type", FORM, _payload({}), 400),
    ("payload of an unknown type", FORM, _payload({"type": "zzz"}), 400),
    ("payload type that is a number", FORM, _payload({"type": 5}), 400),
    ("two payload fields", FORM, b"payload=%7B%7D&payload=%7B%7D", 400),
    ("payload nested 100,000 deep", FORM, b"payload=" + b"%5B" * 100_000, 400),
    ("JSON body that is not JSON", JSON, b"{not json", 400),
    ("JSON body that is a list", JSON, b"[1, 2]", 400),
    ("JSON body that is null", JSON, b"null", 400),
    ("JSON body without type", JSON, b"{}", 400),
    ("JSON body of an unknown type", JSON, b'{"type": "zzz"}', 400),
    ("event_callback without event", JSON, b'{"type": "event_callback"}', 400),
    ("event that is a string", JSON, b'{"type": "event_callback", "event": "x"}', 400),
    ("event text that is a number", JSON, b'{"type": "event_callback", "event": {"type": "message", "text": 5}}',
     400),
    ("url_verification without challenge", JSON, b'{"type": "url_verification"}', 400),
    ("url_verification challenge that is an object", JSON,
     b'{"type": "url_verification", "challenge": {"a": 1}}', 400),
    ("JSON body nested 100,000 deep", JSON, b"[" * 100_000, 400),
    ("form body that is JSON", FORM, b'{"type": "event_callback"}', 400),
    ("slash command this app does not have", FORM, b"command=%2Fother&text=hi", 400),
    ("block_actions without actions", FORM, _payload({**CLICK, "actions": []}), 400),
    ("block_actions actions that are a string", FORM, _payload({**CLICK, "actions": "x"}), 400),
    ("block_actions action_id that is a number", FORM, _payload({**CLICK, "actions": [{"action_id": 7}]}), 400),
    ("block_actions user that is a string", FORM, _payload({**CLICK, "user": "U0ALICE"}), 400),
    ("user id that is a list", FORM, _payload({**CLICK, "user": {"id": ["U0ALICE"]}}), 400),
    ("body over the size limit", FORM, b"x" * (MAX_BODY + 1), 413),
]


def signed(body: bytes, *, secret: str = SIGNING_SECRET, ts: int | str | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if ts is None else ts)
    mac = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={mac}"}


# How each request is (not) signed, and the status it must get whatever the body: 401 before any parse.
SIGNINGS = {
    "signed": lambda body: signed(body),
    "unsigned": lambda body: {},
    "forged": lambda body: signed(body, secret="not-the-signing-secret"),
    "stale": lambda body: signed(body, ts=int(time.time()) - 6 * 60),
    "from the future": lambda body: signed(body, ts=int(time.time()) + 6 * 60),
    "garbled timestamp": lambda body: {**signed(body), "X-Slack-Request-Timestamp": "12e3"},
    "garbled signature": lambda body: {**signed(body), "X-Slack-Signature": "v1=deadbeef"},
}


async def test_malformed_requests_get_4xx_and_one_log_line_never_a_500(h, caplog):
    caplog.set_level(logging.INFO)
    answered: list[tuple[str, str, int]] = []
    for kind, content_type, body, status in MALFORMED:
        for signing, headers in SIGNINGS.items():
            caplog.clear()
            resp = await h.client.post("/slack/events", data=body,
                                       headers={"Content-Type": content_type, **headers(body)})
            answered.append((kind, signing, resp.status))
            want = status if signing == "signed" or status == 413 else 401
            assert resp.status == want, (kind, signing, resp.status, await resp.text())
            assert "error" in await resp.json()
            loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
            assert [r.name for r in loud] == ["bot.server"], (kind, signing, [r.getMessage() for r in loud])
            assert str(want) in loud[0].getMessage() and "\n" not in loud[0].getMessage()
            assert not [r for r in caplog.records if r.exc_info], (kind, signing)
    assert not h.workflow.commands and not h.workflow.alerts and not h.workflow.clicks
    assert not h.fake.calls()  # nothing reached bolt, so not even auth.test
    errors = [a for a in answered if a[2] >= 500]
    print(f"malformed inputs tried: {len(MALFORMED)} kinds x {len(SIGNINGS)} signings = {len(answered)} requests; "
          f"answered 500: {len(errors)}")
    assert not errors


def _mutations(obj, path=()):  # noqa: ANN001, ANN202
    """Every field down to three levels replaced by values of the wrong type."""
    if len(path) >= 3:
        return
    items = obj.items() if isinstance(obj, dict) else list(enumerate(obj[:1])) if isinstance(obj, list) else []
    for key, value in items:
        if isinstance(obj, dict):
            for wrong in (None, 7, True, "x", [], {}, [1], [{}]):
                yield path + (key,), wrong
        yield from _mutations(value, path + (key,))


def _with(obj, path, value):  # noqa: ANN001, ANN202
    obj = copy.deepcopy(obj)
    at = obj
    for p in path[:-1]:
        at = at[p]
    at[path[-1]] = value
    return obj


async def test_signed_requests_with_fields_of_the_wrong_type_never_get_a_500(h, caplog):
    caplog.set_level(logging.INFO)
    message = {"ts": "1700000000.000100", "text": "x", "blocks": []}
    click = json.loads(dict(parse_qsl(block_actions_body("proposal_approve", "P1|tok", channel=ALERT_CHANNEL,
                                                         message=message)))["payload"])
    mention = json.loads(event_body("test_events__valid_event_body.json", channel=ALERT_CHANNEL, event_id="Ev1",
                                    text="<@U0FAKEBOT> shop/cart"))
    bodies = [(FORM, urlencode({"payload": json.dumps(_with(click, p, v))})) for p, v in _mutations(click)]
    bodies += [(JSON, json.dumps(_with(mention, p, v))) for p, v in _mutations(mention)]
    statuses = []
    for content_type, body in bodies:
        resp = await h.client.post("/slack/events", data=body.encode(),
                                   headers={"Content-Type": content_type, **signed(body.encode())})
        statuses.append(resp.status)
    assert len(bodies) > 300 and 500 not in statuses, statuses.count(500)
    assert statuses.count(400) > 100 and statuses.count(200) > 100  # both refusals and valid variants seen
    crashes = [r for r in caplog.records if r.name in ("aiohttp.server", "slack_bolt.AsyncApp")
               or "unhandled error in the Slack app" in r.getMessage()]
    assert not crashes, [r.getMessage() for r in crashes[:3]]


async def test_valid_requests_still_pass_the_gate(h, fake):
    challenge = json.dumps({"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                            "type": "url_verification"})
    resp = await h.client.post("/slack/events", data=challenge.encode(),
                               headers={"Content-Type": JSON, **signed(challenge.encode())})
    assert resp.status == 200 and "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in await resp.text()
    ssl_check = b"ssl_check=1&token=abc"
    assert (await h.client.post("/slack/events", data=ssl_check,
                                headers={"Content-Type": FORM, **signed(ssl_check)})).status == 200
    body = slash_body("shop/cart", response_url=fake.response_url("ok")).encode()
    resp = await h.client.post("/slack/events", data=body,
                               headers={"Content-Type": f"{FORM}; charset=utf-8", **signed(body)})
    assert resp.status == 200 and await eventually(lambda: h.workflow.commands)


def _alert_event(event_id: str) -> bytes:
    return event_body(CLASSIC, channel=ALERT_CHANNEL, event_id=event_id, text="",
                      attachments=alert_attachments()).encode()


async def test_slack_retries_of_an_event_that_arrived_are_not_handled_again(h, caplog):
    caplog.set_level(logging.INFO, logger="bot.server")
    # A retry after a timeout: the first delivery reached some replica (maybe another one, whose
    # in-process memory this one cannot see), so this event id is new here and must still not run.
    body = _alert_event("EvRetried")
    resp = await h.client.post("/slack/events", data=body, headers={
        "Content-Type": JSON, "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout", **signed(body)})
    assert resp.status == 200
    await eventually(lambda: h.workflow.alerts, 0.5)
    assert not h.workflow.alerts
    assert [r.getMessage() for r in caplog.records if "retry" in r.getMessage()] == [
        "Slack retry 1 of event EvRetried (http_timeout): a repeat, acknowledged without handling it again"]

    # Slack says its first attempt never connected: this retry is the only delivery, handled once.
    body = _alert_event("EvNeverArrived")
    for n in ("1", "2"):
        resp = await h.client.post("/slack/events", data=body, headers={
            "Content-Type": JSON, "X-Slack-Retry-Num": n, "X-Slack-Retry-Reason": "connection_failed",
            **signed(body)})
        assert resp.status == 200
    assert await eventually(lambda: h.workflow.alerts)
    await eventually(lambda: len(h.workflow.alerts) > 1, 0.5)
    assert len(h.workflow.alerts) == 1


async def test_a_replayed_diagnose_carries_its_trigger_id(h, fake):
    body = slash_body("shop/cart", response_url=fake.response_url("r")).encode()
    trigger_id = dict(parse_qsl(body.decode()))["trigger_id"]
    assert trigger_id
    for _ in range(3):  # the same signed request, replayed within the five-minute window
        assert (await h.client.post("/slack/events", data=body, headers={"Content-Type": FORM,
                                                                         **signed(body)})).status == 200
    assert await eventually(lambda: len(h.workflow.commands) == 3)
    assert {c["request_id"] for c in h.workflow.commands} == {trigger_id}


@pytest.fixture
async def real_workflow_server(migrated):
    """build_app over the real Workflow and database; sessions cannot start (no data sources),
    which this test does not need: it counts incidents and "Investigating" posts."""
    from agents.session import EngineSettings
    from bot.slack.surface import SlackSurface, make_client
    from bot.workflow.service import Workflow

    _, factory = migrated

    async def no_sources():
        raise RuntimeError("no data sources in this test")

    with FakeSlack() as fake_slack:
        wf = Workflow(factory, {"slack": SlackSurface(make_client(DEFAULT_TOKEN, fake_slack.url))}, no_sources,
                      EngineSettings(engine="offline"), None, concurrency=1)
        harness = await start_harness(fake_slack, workflow=wf)
        try:
            yield harness, factory
        finally:
            await harness.client.close()
            await wf.drain(10)


async def test_a_replayed_diagnose_opens_one_investigation(real_workflow_server):
    from sqlalchemy import func, select

    from bot.models import Incident

    h, factory = real_workflow_server
    body = slash_body("shop/cart", response_url=h.fake.response_url("r")).encode()
    for _ in range(3):
        assert (await h.client.post("/slack/events", data=body, headers={"Content-Type": FORM,
                                                                         **signed(body)})).status == 200
    def investigating() -> list[dict]:
        return [m for m in h.fake.messages(OTHER_CHANNEL) if "Investigating `shop/cart`" in (m.get("text") or "")]

    assert await eventually(investigating)
    await eventually(lambda: len(investigating()) > 1, 1.0)  # give the replays time to (not) open anything
    assert len(investigating()) == 1
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 1
