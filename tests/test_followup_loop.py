"""A follow-up question runs through the one shared tool loop (agents/llm/loop.py), against the Anthropic and
the OpenAI-compatible fakes: it gets what a diagnosis gets. A malformed tool call is answered with its schema
errors and one corrective turn, a reduced result is read back through read_result, an invalid answer_question
gets a forced corrective turn, and a refusal hands the question to the offline answers."""
from __future__ import annotations

import json

import pytest

from agents.diagnosis import Diagnosis
from agents.followup.context import FollowupContext
from agents.followup.run import answer_followup
from agents.scope import TriggerScope
from tests.anthropic_support import make_tool
from tests.provider_kits import KITS
from tests.test_llm_loop import LINES, _last_result
from tools.base import ToolRegistry
from tools.redact import Redactor

pytestmark = [pytest.mark.parametrize("kit", KITS),
              pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")]

CTX = FollowupContext(question="what did cart log last?", asked_by="slack:U0ALICE", number=1,
                      diagnosis=Diagnosis(category="oom_killed", component="cart", confidence=0.7,
                                          summary="cart is OOMKilled."))
ANSWER_CHOICES = ({"type": "tool", "name": "answer_question"},
                  {"type": "function", "function": {"name": "answer_question"}})


def _forced(request) -> bool:  # noqa: ANN001
    return request.body.get("tool_choice") in ANSWER_CHOICES


def _asker(kit) -> tuple:  # noqa: ANN001
    """A model that sends a malformed call, then pods + logs, reads the end of the reduced logs result
    back with read_result, answers with an empty answer_question, then answers properly."""
    state: dict = {"turns": 0}

    def respond(req: dict) -> dict:
        state["turns"] += 1
        turn = state["turns"]
        if turn == 1:
            return kit.malformed("pods")
        if turn == 2:
            return kit.tool_use(("pods", {"q": "shop"}), ("logs", {"q": "cart"}))
        if turn == 3:
            found = json.loads(_last_result(kit, req))
            assert found.get("truncated") or found.get("reduced"), found
            state["found"] = found
            offset = max(0, found["full_chars"] - 300)
            return kit.tool_use(("read_result", {"result_id": found["result_id"], "offset": offset}))
        if turn == 4:
            state["page"] = json.loads(_last_result(kit, req))
            return kit.tool_use(("answer_question", {"answer": "   "}))
        return kit.tool_use(("answer_question", {"answer": "The last line: " + state["page"]["text"][-120:]}))
    return respond, state


async def test_a_followup_gets_the_loops_argument_check_read_result_and_forced_correction(kit):
    calls: list = []
    registry = ToolRegistry(redactor=Redactor()).register(
        make_tool("pods", {"restarts": 6}, calls=calls),
        make_tool("logs", lambda **_: {"lines": list(LINES)}))
    respond, state = _asker(kit)
    async with kit.fake(default=respond) as fake:
        result = await answer_followup(CTX, registry, TriggerScope(), kit.settings(fake, retry_base_delay=0.001))
    assert result.engine == kit.name and result.fallback_reason is None
    # The malformed call was answered with its schema errors and never ran; the corrected one did.
    assert calls == [{"q": "shop"}]
    [(content, is_error)] = kit.results(fake.requests[1]).values()
    assert is_error and "arguments of pods are invalid" in content and "did not run" in content
    # The model first saw the logs reduced; read_result gave back the end of the full result.
    assert "request 299 failed" not in fake.requests[2].raw
    page = state["page"]
    assert page["total_chars"] == state["found"]["full_chars"] and page["next_offset"] is None
    assert "request 299 failed" in page["text"] and "request 299 failed" in result.reply.text
    # The empty answer got one corrective turn, forced to answer_question; nothing before it was forced.
    assert len(fake.requests) == 5 and [_forced(r) for r in fake.requests] == [False] * 4 + [True]
    content, is_error = list(kit.results(fake.requests[4]).values())[-1]
    assert is_error and "answer_question input is invalid" in content
    # What the tools fetched is kept for the thread's later questions; tokens and cost are counted.
    assert [f.tool for f in result.reply.fetched] == ["pods", "logs"]
    assert result.tool_calls == 3 and result.usage.output_tokens > 0 and result.usage.cost_usd > 0


async def test_a_refusal_hands_the_question_to_the_offline_answers(kit):
    registry = ToolRegistry(redactor=Redactor()).register(make_tool("k8s_pods", {"items": []}))
    async with kit.fake([kit.refusal()]) as fake:
        result = await answer_followup(CTX, registry, TriggerScope(), kit.settings(fake, retry_base_delay=0.001))
    assert result.engine == "offline" and "refused" in result.fallback_reason and len(fake.requests) == 1
    assert result.reply.text == "I found no logs of cart: no log source is configured."  # the offline answer
