"""The engine's side of the wire: retries, API errors, redaction and prompt caching."""
from __future__ import annotations

import json
import time

import anthropic
import pytest

from agents.anthropic import EngineUnavailable
from agents.anthropic.retry import RetryPolicy, retry_after
from agents.trigger import Trigger
from tests.anthropic_support import VALID, engine_for, make_tool, runner_with
from tests.fake_anthropic import (FakeAnthropic, api_error, overloaded, rate_limited, server_error, submit,
                                  tool_use)
from tools.intake import Alert

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

TRIGGER = Trigger(kind="command", text="why is cart restarting?", namespace="shop", service="cart")


async def test_overloaded_is_retried_then_engine_unavailable():
    runner = runner_with(make_tool("pods", "ok"))
    async with FakeAnthropic(default=overloaded()) as fake:
        with pytest.raises(EngineUnavailable) as err:
            await engine_for(fake, max_retries=2).diagnose(TRIGGER, runner, {})
    assert len(fake.requests) == 3  # first try + 2 retries, no SDK retries on top
    assert err.value.status == 529 and "Overloaded" in err.value.reason
    assert sum("retry" in n for n in runner.tracer.notes) == 2


@pytest.mark.parametrize("failure", [overloaded(), server_error(), rate_limited()])
async def test_transient_failures_are_retried_mid_session(failure):
    runner = runner_with(make_tool("pods", "ok"))
    async with FakeAnthropic([tool_use(("pods", {"q": "a"})), failure, failure, submit(VALID)]) as fake:
        d = await engine_for(fake, max_retries=2).diagnose(TRIGGER, runner, {})
    assert d.category == "oom_killed" and len(fake.requests) == 4
    # The retried request is the same conversation, not a new turn.
    assert fake.requests[1].body == fake.requests[3].body


async def test_retry_after_is_honoured_and_capped():
    runner = runner_with(make_tool("pods", "ok"))
    async with FakeAnthropic([rate_limited(0.4), submit(VALID)]) as fake:
        started = time.monotonic()
        await engine_for(fake).diagnose(TRIGGER, runner, {})
        assert time.monotonic() - started >= 0.4
    async with FakeAnthropic([rate_limited(3600), submit(VALID)]) as fake:
        started = time.monotonic()
        d = await engine_for(fake, max_retry_delay=0.05).diagnose(TRIGGER, runner_with(), {})
        assert time.monotonic() - started < 1.0 and d.category == "oom_killed"


async def test_retry_wait_beyond_the_time_budget_gives_up_at_once():
    async with FakeAnthropic([rate_limited(60), submit(VALID)]) as fake:
        started = time.monotonic()
        with pytest.raises(EngineUnavailable) as err:
            await engine_for(fake, max_seconds=5).diagnose(TRIGGER, runner_with(), {})
    assert time.monotonic() - started < 1.0 and len(fake.requests) == 1
    assert "time budget" in err.value.reason


def test_backoff_grows_exponentially_with_jitter():
    policy = RetryPolicy(max_retries=5, base_delay=1.0, max_delay=10.0)
    for attempt, (lo, hi) in enumerate([(0.5, 1), (1, 2), (2, 4), (4, 8), (5, 10), (5, 10)]):
        delays = {policy.backoff(attempt, None) for _ in range(50)}
        assert all(lo <= x <= hi for x in delays) and len(delays) > 1
    assert policy.backoff(0, 7.5) == 7.5 and policy.backoff(0, 99) == 10.0
    assert retry_after({"retry-after-ms": "250"}) == 0.25
    assert retry_after({"retry-after": "3"}) == 3.0
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after({}) is None


@pytest.mark.parametrize("status,type_", [(400, "invalid_request_error"), (401, "authentication_error"),
                                          (403, "permission_error")])
async def test_client_errors_are_not_retried(status, type_):
    async with FakeAnthropic(default=api_error(status, type_, "the API says no")) as fake:
        with pytest.raises(EngineUnavailable) as err:
            await engine_for(fake).diagnose(TRIGGER, runner_with(), {})
    assert len(fake.requests) == 1
    assert err.value.status == status and "the API says no" in err.value.reason and type_ in err.value.reason


async def test_sdk_retries_are_disabled_on_a_given_client():
    async with FakeAnthropic(default=overloaded()) as fake:
        client = anthropic.AsyncAnthropic(api_key="sk-ant-x", base_url=fake.base_url, max_retries=5)
        engine = engine_for(fake, client=client, max_retries=0)
        with pytest.raises(EngineUnavailable):
            await engine.diagnose(TRIGGER, runner_with(), {})
    assert len(fake.requests) == 1


async def test_unreachable_api_is_engine_unavailable():
    from tests.support import free_port
    engine = engine_for(type("Nowhere", (), {"base_url": f"http://127.0.0.1:{free_port()}"}), max_retries=1)
    with pytest.raises(EngineUnavailable) as err:
        await engine.diagnose(TRIGGER, runner_with(), {})
    assert "APIConnectionError" in err.value.reason


SECRETS = {
    "annotation_password": "Sup3rS3cretPw!",
    "slack_token": "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "aws_key": "AKIAIOSFODNN7EXAMPLE",
    "url_password": "hunter2hunter2",
    "tool_api_key": "sk-live-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c",
    "bearer": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYXJ0In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
}


def secret_alert() -> Alert:
    return Alert(
        name="KubePodCrashLooping", status="firing", severity="critical", fingerprint="abc", source="alertmanager",
        labels={"namespace": "shop", "pod": "cart-7d9-x", "deployment": "cart"},
        annotations={"summary": f"cart crashloops; db password={SECRETS['annotation_password']}",
                     "description": f"token {SECRETS['slack_token']} aws {SECRETS['aws_key']}",
                     "api_token": "plain-token-in-an-annotation-value"})


@pytest.mark.parametrize("registry_masks", [True, False])
async def test_every_request_body_is_redacted(registry_masks):
    from tools.redact import Redactor

    def leaky(**_):
        return {"log": [f'config loaded "api_key": "{SECRETS["tool_api_key"]}"',
                        f"calling billing with Authorization: Bearer {SECRETS['bearer']}"]}

    runner = runner_with(make_tool("pod_logs", leaky), redactor=Redactor() if registry_masks else None)
    trigger = Trigger.from_alert(secret_alert())
    unavailable = {"opensearch": f"cannot connect to https://admin:{SECRETS['url_password']}@logs:9200"}
    async with FakeAnthropic([tool_use(("pod_logs", {"q": "cart"})), submit(VALID)]) as fake:
        d = await engine_for(fake).diagnose(trigger, runner, unavailable)
    assert d.category == "oom_killed" and len(fake.requests) == 2
    for raw in fake.bodies:
        for name, secret in SECRETS.items():
            assert secret not in raw, f"{name} leaked"
        assert "plain-token-in-an-annotation-value" not in raw
    # The masked content still reached the model.
    assert "[REDACTED" in fake.requests[0].raw and "KubePodCrashLooping" in fake.requests[0].raw
    assert "config loaded" in json.dumps(fake.requests[1].tool_results())


async def test_prompt_caching_breakpoints():
    runner = runner_with(make_tool("pods", "ok"), make_tool("events", "ok"))
    async with FakeAnthropic([tool_use(("pods", {"q": "a"})), submit(VALID)]) as fake:
        await engine_for(fake).diagnose(TRIGGER, runner, {})
    for req in fake.requests:
        body = req.body
        assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
        assert "cache_control" not in body["system"][1]  # the per-session context is after the cached prefix
        assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
        assert all("cache_control" not in t for t in body["tools"][:-1])
        marked = [b for m in body["messages"] for b in m["content"] if "cache_control" in b]
        assert marked == [body["messages"][-1]["content"][-1]]
    # This SDK version sends the key as a bearer token; older ones used x-api-key.
    headers = fake.requests[0].headers
    assert "sk-ant-api03-test" in (headers.get("x-api-key", "") + headers.get("authorization", ""))
    assert headers.get("anthropic-version")


async def test_fake_enforces_tool_result_pairing_like_the_api():
    """The engine tests rely on the fake rejecting a broken conversation, so check it does."""
    async with FakeAnthropic(default=submit(VALID)) as fake:
        client = anthropic.AsyncAnthropic(api_key="k", base_url=fake.base_url, max_retries=0)
        tool = {"name": "pods", "input_schema": {"type": "object"}}
        msgs = [{"role": "user", "content": "hi"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "pods", "input": {}}]},
                {"role": "user", "content": [{"type": "text", "text": "go on"}]}]
        with pytest.raises(anthropic.BadRequestError, match="toolu_1"):
            await client.messages.create(model="m", max_tokens=10, messages=msgs, tools=[tool])
        msgs[2]["content"] = [{"type": "tool_result", "tool_use_id": "toolu_2", "content": "x"}]
        with pytest.raises(anthropic.BadRequestError, match="unexpected `tool_use_id`"):
            await client.messages.create(model="m", max_tokens=10, messages=msgs, tools=[tool])
        msgs[2]["content"] = [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"}]
        reply = await client.messages.create(model="m", max_tokens=10, messages=msgs, tools=[tool])
    assert reply.stop_reason == "tool_use" and reply.content[0].id.startswith("toolu_")
    assert reply.usage.input_tokens > 0 and reply.usage.cache_read_input_tokens == 0


async def test_system_prompt_and_submit_tool():
    from agents.diagnosis import submit_schema
    from tools.taxonomy import ACTION_DESCRIPTIONS, CATEGORY_DESCRIPTIONS

    async with FakeAnthropic([submit(VALID)]) as fake:
        await engine_for(fake).diagnose(TRIGGER, runner_with(make_tool("pods", "ok")), {})
    body = fake.requests[0].body
    system = body["system"][0]["text"]
    for name, description in {**CATEGORY_DESCRIPTIONS, **ACTION_DESCRIPTIONS}.items():
        assert f"- {name}: {description}" in system
    assert "human's approval" in system and "untrusted data" in system and "coordinator" in system
    assert body["tools"][-1]["name"] == "submit_diagnosis"
    assert body["tools"][-1]["input_schema"] == submit_schema()
    assert body["max_tokens"] == 4096 and body["tool_choice"] == {"type": "auto"}
