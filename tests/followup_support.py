"""Shared by the follow-up tests: the real Workflow over the shop-cart-crashloop scenario (Kubernetes and
OpenSearch fakes, no Prometheus), the scripted model's turns, and what the database recorded."""
from __future__ import annotations

import json
from contextlib import asynccontextmanager, contextmanager
from typing import Any, AsyncIterator, Iterator

from sqlalchemy import select

from agents.session import EngineSettings
from bot.models import AgentSession, Diagnosis as DiagnosisRow, Followup, ToolCall
from bot.remediation import ApprovalPolicy, Signer
from bot.workflow.service import Workflow
from tests.fake_anthropic import FakeAnthropic, submit, tool_use
from tests.support import REPO
from tools.actions import ActionExecutor
from tools.k8s import make_api_client
from tools.scenario.backends import ScenarioBackends
from tools.scenario.bundle import load_scenario

BUNDLE = REPO / "scenarios" / "shop-cart-crashloop"
POD = "cart-h28nlk7vcb-hsb6l"
SIGNER = Signer(b"0123456789abcdef0123456789abcdef")
LOGS_ARGS = {"namespace": "shop", "pod": POD, "previous": True, "tail_lines": 50}
FIRST = "show me the logs of storefront-web"
SECOND = "why not a dependency problem?"
# What the scripted model diagnoses first, and the revision its second follow-up answer makes.
DIAGNOSIS = {"category": "oom_killed", "component": "cart", "confidence": 0.7,
             "summary": "cart containers are OOMKilled (exit 137) at their 512Mi limit.",
             "evidence": [{"tool": "k8s_pods", "query": "k8s_pods(namespace=shop)",
                           "finding": "3 cart containers last terminated OOMKilled (exit 137), 7 restarts"}]}
REVISED = {"category": "bad_deploy", "component": "cart", "confidence": 0.8,
           "summary": "cart 1.43.0 (revision 15) leaks memory: roll back to 1.42.3.",
           "evidence": [{"tool": "k8s_pod_logs", "query": f"k8s_pod_logs(shop/{POD}, previous)",
                         "finding": "the crashing container runs 1.43.0, rolled out two days before"}],
           "proposals": [{"action_type": "rollback_deployment", "target": "cart", "namespace": "shop"},
                         {"action_type": "restart_deployment", "target": "payments", "namespace": "prod"}]}


@contextmanager
def scenario() -> Iterator[ScenarioBackends]:
    with ScenarioBackends(load_scenario(BUNDLE), use_prometheus=False) as backends:
        yield backends


def scenario_workflow(factory, surfaces: dict[str, Any], engine: EngineSettings, backends: ScenarioBackends,
                      **kw: Any) -> Workflow:
    async def sources():  # noqa: ANN202
        return backends.sources()

    executor = ActionExecutor(make_api_client(host=backends.config.kube_host), backends.ctx, verify_timeout=5)
    policy = ApprovalPolicy.build(medium=["slack:U0BOB", "console:alice"], high=["slack:U0BOB", "console:alice"])
    return Workflow(factory, surfaces, sources, engine, executor, concurrency=1, policy=policy, signer=SIGNER, **kw)


def model_engine(fake: Any) -> EngineSettings:
    return EngineSettings(engine="anthropic", api_key="sk-ant-api03-test", base_url=fake.base_url, max_steps=6,
                          retry_base_delay=0.001)


async def last_log_line(backends: ScenarioBackends) -> str:
    """The newest line of the crashing pod's previous logs, as the tool returns it."""
    result = await backends.sources().registry.run("k8s_pod_logs", LOGS_ARGS)
    return result.data["sections"][0]["lines"][-1]


def model_script(log_line: str, seen: list[dict]) -> list:
    """The diagnosis, then two follow-ups: the first fetches the pod's logs, the second must find them in
    its context (the stored evidence of the first) and revises the diagnosis without fetching again."""
    def first_answer(request: dict) -> dict:
        [result] = [b for b in request["messages"][-1]["content"] if b.get("type") == "tool_result"]
        assert log_line in result["content"] or json.dumps(log_line)[1:-1] in result["content"]
        return tool_use(("answer_question", {"answer": "The previous cart container logged normal requests "
                                                       "until it was killed (k8s_pod_logs, previous)."}))

    def second_answer(request: dict) -> dict:
        seen.append(request)
        return tool_use(("answer_question", {"answer": "Not a dependency: cart itself dies; the logs fetched for "
                                                       "question 1 show version 1.43.0.",
                                             "revised_diagnosis": REVISED}))

    return [submit(DIAGNOSIS), tool_use(("k8s_pod_logs", LOGS_ARGS)), first_answer, second_answer]


@asynccontextmanager
async def scripted_model() -> AsyncIterator[tuple[ScenarioBackends, Any, str, list[dict]]]:
    """The scenario and the scripted model (model_script) on the loopback Messages API: (backends, the
    model, the log line question 1 fetches, question 2's requests as they come)."""
    seen: list[dict] = []
    with scenario() as backends:
        line = await last_log_line(backends)
        async with FakeAnthropic(model_script(line, seen)) as model:
            yield backends, model, line, seen


def followups(factory) -> list[Followup]:
    with factory() as s:
        return list(s.execute(select(Followup).order_by(Followup.created_at)).scalars())


def diagnoses(factory) -> list[DiagnosisRow]:
    with factory() as s:
        return list(s.execute(select(DiagnosisRow).order_by(DiagnosisRow.version)).scalars())


def tool_calls(factory, session_id: str) -> list[tuple[str, dict]]:
    with factory() as s:
        return [(c.tool, c.arguments) for c in s.execute(select(ToolCall).where(ToolCall.session_id == session_id)
                                                         .order_by(ToolCall.id)).scalars()]


def session(factory, session_id: str) -> AgentSession:
    with factory() as s:
        return s.get(AgentSession, session_id)
