"""Issue 14: reading failures the way an SRE does (crashed runs, durations, DNS in every language),
saying what was observed (summaries, ruled-out hypotheses, labels, observed parameters, the incident's
clock)."""
from __future__ import annotations

import json
from datetime import datetime

import pytest

from agents.diagnosis import Diagnosis, Evidence, RuledOut
from agents.offline.crashlog import explain
from agents.offline.durations import durations, slow_calls
from agents.offline.features import extract
from agents.offline.logsig import classify
from agents.offline.remedy import propose
from agents.offline.rules_pod import oom_killed
from agents.session import EngineSettings, run_diagnosis
from bot.render_text import render_diagnosis
from bot.slack import blocks as slack_blocks
from bot.teams import cards as teams_cards
from bot.workflow.surface import DiagnosisPost
from tests.bundle_support import diagnose, kit
from tests.offline_support import NOW, ctx_of, obs, pod, pods_obs
from tools.scenario.backends import ScenarioBackends
from tools.scenario.bundle import load_scenario
from tools.taxonomy import CATEGORIES, category_label
from tools.textclip import clip_middle

EXPECTED = {"category": "unknown", "component": "-", "action": "none", "rationale": "built by a test"}


@pytest.mark.parametrize(("lines", "code", "kind", "detail", "hint"), [
    (["starting backup", "/opt/backup.sh: line 14: syntax error near unexpected token `fi'"], 2, "shell_syntax", "", ""),
    (["sh: 1: mongodumpp: not found"], 127, "command_not_found", "mongodumpp", "did you mean mongodump?"),
    (['exec: "migrate-db": executable file not found in $PATH'], 128, "command_not_found", "migrate-db", ""),
    (["/entrypoint.sh: line 3: S3_BUCKET: parameter not set"], 1, "missing_env", "S3_BUCKET", ""),
    (["Traceback (most recent call last):", "KeyError: 'KAFKA_BROKERS'"], 1, "missing_env", "KAFKA_BROKERS", ""),
    (["panic: required key DATABASE_DSN missing value"], 2, "missing_env", "DATABASE_DSN", ""),
    (["FileNotFoundError: [Errno 2] No such file or directory: '/etc/sync/rules.yaml'"], 1, "missing_file",
     "/etc/sync/rules.yaml", ""),
    (['Error: couldn\'t find key api-token in Secret jobs/notifier'], None, "missing_key", "api-token", ""),
    (['dial tcp 10.44.1.9:6380: connect: connection refused'], 1, "refused", "10.44.1.9:6380", ""),
])
def test_a_failed_run_is_explained_by_its_decisive_line(lines, code, kind, detail, hint):
    why = explain(lines, code, known_words=["--archive"])
    assert (why.kind, why.detail, why.hint) == (kind, detail, hint)
    assert why.line == lines[-1] or why.line in lines  # verbatim, never paraphrased


def test_durations_across_formats_and_not_retry_delays():
    seen = {t: durations(t) for t in (
        'level=info msg="resized" took=3.25s', "export took 12.5 seconds", '{"duration_ms": 2210.5, "path": "/q"}',
        "handler duration=1.8s", '"GET /v1/items HTTP/1.1" 200 in 2300ms', "  Order Load (1850.3ms)  SELECT 1",
        "(1.250) SELECT * FROM items", "# Query_time: 4.1  Lock_time: 0.0", "retrying in 5 seconds")}
    assert [round(max(v), 3) if v else None for v in seen.values()] == \
        [3.25, 12.5, 2.211, 1.8, 2.3, 1.85, 1.25, 4.1, None]
    slow = slow_calls(["took=0.2s", "took=4.5s", "took=5.0s", "nothing timed here"])
    assert (slow.count, slow.total, slow.slowest) == (2, 3, 5.0)


@pytest.mark.parametrize("line", [
    "dial tcp: lookup rates.fx.svc.cluster.local on 10.96.0.10:53: read udp 10.8.1.4:5123->10.96.0.10:53: i/o timeout",
    "java.net.UnknownHostException: rates.fx.svc.cluster.local",
    # urllib3 on musl (Alpine): no glibc wording, only "[Errno -3] Try again"
    "NameResolutionError(\"<urllib3.connection.HTTPSConnection object>: Failed to resolve 'rates.fx' "
    "([Errno -3] Try again)\")",
    "Error: getaddrinfo EAI_AGAIN rates.fx.svc.cluster.local",
    "curl: (6) Could not resolve host: rates.fx.svc.cluster.local",
])
def test_resolver_failures_in_every_language_are_dns(line):
    assert classify(line) == "dns_resolver"


def test_nxdomain_in_other_languages_is_a_missing_name():
    assert classify("Error: getaddrinfo ENOTFOUND rates.fx.svc.cluster.local") == "dns_nxdomain"
    assert classify("socket.gaierror: [Errno -2] Name or service not known") == "dns_nxdomain"


def test_a_memory_proposal_starts_from_the_observed_limit():
    ctx = ctx_of(pods_obs("shop", pod("cart-h28nlk7vcb-hsb6l", "Deployment/cart (via ReplicaSet/cart-h28nlk7vcb)",
                                      ready=False, restarts=6, state="waiting", reason="CrashLoopBackOff",
                                      last_reason="OOMKilled", last_exit=137, limits={"memory": "100Mi"})),
                 focus=("cart",), namespace="shop")
    h = oom_killed(ctx)
    (p,) = propose(h, ctx)
    assert p.parameters["memory_limit"] == "192Mi" and "(100Mi -> 192Mi)" in p.rationale  # not "128Mi -> ..."


def _gpu_pending():
    k = kit()
    b = k.Bundle("t-gpu", "KubeDeploymentReplicasMismatch for vision/detector", "2026-10-01T08:00:00Z", EXPECTED)
    b.nodes(["w1", "w2", "w3"], ["10.5.0.1", "10.5.0.2", "10.5.0.3"], ["z1", "z2", "z3"], cpu=32, memory_gi=128)
    msg = "0/3 nodes are available: 3 Insufficient amd.com/gpu. preemption: 0/3 nodes are available."
    detector = k.ctr("detector", "registry.example/vision/detector:2", cpu="2", mem="8Gi")
    detector["resources"] = {"requests": {"cpu": "2", "memory": "8Gi", "amd.com/gpu": "2"},
                             "limits": {"amd.com/gpu": "2"}}
    w = b.deployment("vision", "detector", [detector], replicas=1, ready=0, revisions=[(40, None, None)], created=40)
    p = b.pod(w, None, [], created=39, pending=msg)
    b.event("vision", ("Pod", p), "FailedScheduling", msg, first=39, last=1, count=9, type="Warning",
            source="default-scheduler")
    b.alert = k.kp_alert(b, {"alertname": "KubeDeploymentReplicasMismatch", "deployment": "detector",
                             "namespace": "vision", "severity": "warning"}, started=20)
    return b


async def test_an_extended_resource_no_node_offers_is_said_as_such(tmp_path):
    d = (await diagnose(_gpu_pending(), tmp_path)).diagnosis
    assert (d.category, d.component, d.proposals) == ("unschedulable", "detector", [])
    assert "no node offers 2 amd.com/gpu" in d.summary and "add capacity" not in d.summary


async def test_the_timeline_runs_on_the_incidents_clock_not_the_wall_clock(tmp_path):
    # A replay weeks in the past, diagnosed without a moment given: the tools' clock dates it.
    path = _gpu_pending().write(tmp_path)
    sc = load_scenario(path)
    with ScenarioBackends(sc, use_prometheus=False) as backends:
        sources = backends.sources()
        try:
            from bench.diagnose_eval import trigger_for
            trigger = trigger_for(sc).model_copy(update={"at": None})
            d = (await run_diagnosis(trigger, sources.registry, sources.unavailable,
                                     settings=EngineSettings(engine="offline"))).diagnosis
        finally:
            sources.close()
    times = [datetime.fromisoformat(t.time.replace("Z", "+00:00")) for t in d.timeline]
    assert times and all(sc.now.replace(hour=0) <= t <= sc.now for t in times)
    assert any("started firing" in t.event for t in d.timeline)


def test_titles_come_from_the_label_map_everywhere():
    assert set(CATEGORIES) <= {c for c in CATEGORIES if category_label(c)}
    assert (category_label("dns_failure"), category_label("oom_killed"), category_label("cpu_throttling")) == \
        ("DNS failure", "OOM killed", "CPU throttling")


def test_rejected_hypotheses_render_apart_from_the_evidence_on_every_surface():
    d = Diagnosis(category="config_error", component="ledger-compact", summary="Configuration error.", confidence=0.7,
                  evidence=[Evidence(tool="k8s_pod_logs", finding="bash: line 1: rsyncc: command not found")],
                  ruled_out=[RuledOut(category="image_pull_error", component="status-page",
                                      reason="status-page is not the alert's subject")])
    said = "Image pull error in status-page: status-page is not the alert"
    text = render_diagnosis(d)
    evidence, _, rest = text.partition("Considered and ruled out:")
    assert said in rest and "status-page" not in evidence and "rsyncc" in evidence
    # Slack: its own section, titled from the label map; the evidence section does not name it.
    _, blocks = slack_blocks.diagnosis(DiagnosisPost("INC1", "S1", d))
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    ruled = [t for t in sections if t.startswith("*Considered and ruled out*")]
    assert len(ruled) == 1 and said in ruled[0].replace("&#x27;", "'").replace("&#39;", "'")
    assert not any("status-page" in t for t in sections if t.startswith("*Evidence*"))
    assert blocks[0]["text"]["text"].startswith("Diagnosis: Configuration error · ledger-compact")
    # Teams: a separate container, after the evidence.
    card = teams_cards.diagnosis_card(DiagnosisPost("INC1", "S1", d))
    ids = [el.get("id") for el in card["body"]]
    assert ids.index("diagnosis_evidence") < ids.index("diagnosis_ruled_out")
    by_id = {el.get("id"): json.dumps(el, ensure_ascii=False) for el in card["body"]}
    assert "status-page" in by_id["diagnosis_ruled_out"] and "status-page" not in by_id["diagnosis_evidence"]


def test_a_long_decisive_line_is_clipped_on_the_noise_side_at_token_boundaries():
    line = "ERROR sync failed " + " ".join(f"field{i}=value{i}" for i in range(80)) + " cause=connection refused"
    clipped = clip_middle(line, 200)
    assert clipped.startswith("ERROR sync failed") and clipped.endswith("cause=connection refused")
    head, _, tail = clipped.partition(" …[")
    assert head.split()[-1] in line.split() and tail.split("] ", 1)[1].split()[0] in line.split()


def test_a_long_log_line_keeps_its_decisive_tail_through_feature_extraction():
    # The error detail comes last in many JSON loggers; a head-only cut lost it mid-token.
    tail = '"error":"Post \\"https://api.stripe.com/v1/payment_intents\\": dial tcp 10.0.3.7:443: connect: connection refused"}'
    line = '{"level":"error","msg":"charge failed","request":{' + ",".join(f'"h{i}":"v{i}"' for i in range(60)) + "}," + tail
    logs = obs("k8s_pod_logs", {"sections": [{"container": "api", "lines": [line]}]}, pod="pay-6f7c9-abcde",
               namespace="shop")
    templates = obs("search_logs", {"templates": [{"template": "<*>", "count": 3, "example": line}]},
                    namespace="shop")
    hits = extract([logs, templates], NOW).logs
    assert len(hits) == 2 and len(line) > 600
    for h in hits:
        assert h.example.startswith('{"level":"error"')
        assert h.example.endswith(tail), h.example
