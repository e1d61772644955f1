"""Scenario bundles (format v1): every committed bundle is valid, the loader hides the ground truth,
the validator catches broken bundles, and the generator reproduces the committed data."""
from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support import REPO, require_binary
from tools.scenario import (ACTIONS, CATEGORIES, ScenarioError, iter_scenarios, iter_sets, load_expected,
                            load_scenario)
from tools.scenario.check import check_many, check_scenario, main, render
from tools.scenario.openmetrics import check_openmetrics, parse_labels, split_sample

ROOT = REPO / "scenarios"
BUNDLES = iter_scenarios(ROOT)
IDS = [p.name for p in BUNDLES]
HANDMADE_ROOT = ROOT / "handmade"  # an evaluation set of its own (issue 14), see the handmade section below
HANDMADE = iter_scenarios(HANDMADE_ROOT)


# -- the committed bundles -------------------------------------------------------------------------
def test_enough_bundles_and_full_category_coverage():
    assert len(BUNDLES) >= 14
    cats = {load_expected(p)["category"] for p in BUNDLES}
    assert cats >= set(CATEGORIES) - {"unknown"}, f"missing: {set(CATEGORIES) - {'unknown'} - cats}"
    assert all(load_expected(p)["action"] in ACTIONS for p in BUNDLES)


def test_variety_of_shapes():
    scenarios = [load_scenario(p) for p in BUNDLES]
    assert sum(s.message is not None for s in scenarios) >= 3
    assert any(s.metrics_file is None for s in scenarios)
    assert any(s.logs_file is None for s in scenarios)
    assert any(s.k8s_dir is None for s in scenarios)
    # The same alert name must lead to different causes, so the name alone cannot decide.
    by_alert: dict[str, set[str]] = {}
    for p, s in zip(BUNDLES, scenarios):
        if s.alert:
            by_alert.setdefault(s.alert["labels"]["alertname"], set()).add(load_expected(p)["category"])
    assert len(by_alert.get("KubePodCrashLooping", ())) >= 3


@pytest.fixture(scope="module")
def reports():
    return {r.path: r for r in check_many(ROOT)}


@pytest.mark.parametrize("bundle", BUNDLES, ids=IDS)
def test_bundle_passes_check(bundle, reports):
    report = reports[bundle]
    assert report.ok, render(report)
    assert report.id == bundle.name
    assert not [w for w in report.warnings if "MB" in w], report.warnings  # every file under ~1.5 MB


@pytest.mark.slow
def test_bundles_backfill_with_promtool():
    require_binary("promtool")
    reports = check_many(ROOT, deep=True) + check_many(HANDMADE_ROOT, deep=True)
    bad = [r for r in reports if not r.ok]
    assert not bad, render(bad)
    with_metrics = [r for r in reports if "metrics" in r.sources]
    assert with_metrics and all("promtool backfill ok" in r.sources["metrics"] for r in with_metrics)


@pytest.mark.parametrize("bundle", BUNDLES + HANDMADE, ids=IDS + [p.name for p in HANDMADE])
def test_id_and_title_do_not_leak_the_answer(bundle):
    s = load_scenario(bundle)
    exp = load_expected(bundle)
    words = {exp["category"], exp["category"].replace("_", " "), exp["category"].replace("_", "-")}
    text = f"{s.id} {s.title}".lower()
    assert not any(w in text for w in words), text


def test_loader_never_exposes_expected():
    for bundle in BUNDLES:
        s = load_scenario(bundle)
        fields = {f.name for f in dataclasses.fields(s)}
        assert "expected" not in fields and not hasattr(s, "expected")
        rationale = load_expected(bundle).get("rationale", "")
        assert rationale and rationale not in repr(s)


def test_loader_does_not_even_read_expected(tmp_path):
    b = _copy(tmp_path, "sessions-job-failed")
    doc = yaml.safe_load((b / "scenario.yaml").read_text())
    doc["expected"] = "garbage"
    (b / "scenario.yaml").write_text(yaml.safe_dump(doc))
    s = load_scenario(b)
    assert s.id == "sessions-job-failed" and s.alert["labels"]["alertname"] == "KubeJobFailed"
    with pytest.raises(ScenarioError, match="expected"):
        load_expected(b)


def test_loader_fields_and_alert_timestamps_stay_strings():
    s = load_scenario(ROOT / "shop-cart-crashloop")
    assert s.now.tzinfo is not None and s.now.year == 2026
    assert isinstance(s.alert["startsAt"], str)
    assert s.metrics_file and s.logs_file and s.k8s_dir and s.path == ROOT / "shop-cart-crashloop"
    assert "KubePodCrashLooping" in s.alert_text
    m = load_scenario(ROOT / "catalog-slo-burn")
    assert m.alert is None and m.alert_text.startswith("[FIRING:1] SLOBurnRateHigh")


def test_iter_scenarios_skips_tools_and_sorts():
    assert BUNDLES == sorted(BUNDLES)
    assert not any("_tools" in p.parts for p in BUNDLES)
    assert iter_scenarios(ROOT / "shop-cart-crashloop") == [ROOT / "shop-cart-crashloop"]


def test_loader_errors_name_file_and_problem(tmp_path):
    b = tmp_path / "x"
    b.mkdir()
    f = b / "scenario.yaml"
    f.write_text("id: x\ntitle: t\nalert: {status: firing, labels: {alertname: A}}\n")
    with pytest.raises(ScenarioError, match=r"scenario\.yaml: missing required key 'now'"):
        load_scenario(b)
    f.write_text("id: x\ntitle: t\nnow: '2026-10-01T10:00:00'\nmessage: hi\n")
    with pytest.raises(ScenarioError, match="no UTC offset"):
        load_scenario(b)
    f.write_text("id: x\ntitle: t\nnow: '2026-10-01T10:00:00Z'\nmessage: hi\nalert: {status: firing}\n")
    with pytest.raises(ScenarioError, match="exactly one of 'alert' or 'message'"):
        load_scenario(b)
    f.write_text("id: [x\n")
    with pytest.raises(ScenarioError, match="invalid YAML"):
        load_scenario(b)
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario(tmp_path / "missing")


# -- the validator catches broken copies ----------------------------------------------------------------
def _copy(tmp_path: Path, name: str) -> Path:
    dst = tmp_path / name
    shutil.copytree(ROOT / name, dst)
    return dst


def _problems(path: Path) -> str:
    r = check_scenario(path)
    assert not r.ok, "expected the check to fail"
    return "\n".join(r.problems)


def _edit_yaml(path: Path, fn) -> None:
    doc = yaml.safe_load(path.read_text())
    fn(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_copy_itself_is_ok(tmp_path):
    assert check_scenario(_copy(tmp_path, "shop-cart-crashloop")).ok


def test_catches_missing_eof(tmp_path):
    b = _copy(tmp_path, "shop-cart-crashloop")
    om = b / "metrics.om"
    om.write_text(om.read_text().replace("# EOF\n", ""))
    assert "does not end with '# EOF'" in _problems(b)


def test_catches_non_monotonic_counter(tmp_path):
    b = _copy(tmp_path, "shop-cart-crashloop")
    om = b / "metrics.om"
    lines = om.read_text().splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("http_requests_total{") and k > 0
             and lines[k + 1].split(" ")[0] == line.split(" ")[0])
    name, _, ts = lines[i + 1].rsplit(" ", 2)
    lines[i + 1] = f"{name} 0 {ts}"
    om.write_text("\n".join(lines) + "\n")
    assert re.search(r"counter http_requests_total\{.*\} decreased", _problems(b))


def test_catches_bad_category_and_action(tmp_path):
    b = _copy(tmp_path, "pricing-latency-p99")
    _edit_yaml(b / "scenario.yaml", lambda d: d["expected"].update(category="gremlins", action="reboot"))
    p = _problems(b)
    assert "'gremlins' is not in taxonomy v1" in p and "'reboot' is not an action type v1" in p


def test_catches_missing_alertname(tmp_path):
    b = _copy(tmp_path, "commerce-orders-crashloop")
    _edit_yaml(b / "scenario.yaml", lambda d: d["alert"]["labels"].pop("alertname"))
    assert "alert.labels.alertname is required" in _problems(b)


def test_catches_bad_yaml_in_k8s_and_scenario(tmp_path):
    b = _copy(tmp_path, "ml-pods-not-ready")
    (b / "k8s" / "broken.yaml").write_text("kind: Pod\nmetadata: {name: [oops\n")
    assert re.search(r"broken\.yaml: invalid YAML", _problems(b))
    (b / "scenario.yaml").write_text("id: ml-pods-not-ready\ntitle: [unclosed\n")
    assert "scenario.yaml: invalid YAML" in _problems(b)


def test_catches_objects_without_kind_or_name(tmp_path):
    b = _copy(tmp_path, "ml-pods-not-ready")
    (b / "k8s" / "extra.json").write_text('{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", '
                                          '"kind": "Pod", "metadata": {}}, {"metadata": {"name": "x"}}]}')
    p = _problems(b)
    assert "Pod needs metadata.name" in p and "needs apiVersion and kind" in p


def test_catches_metrics_problems(tmp_path):
    b = _copy(tmp_path, "search-rollout-stuck")
    om = b / "metrics.om"
    text = om.read_text()
    first_sample = next(line for line in text.splitlines() if not line.startswith("#"))
    name_labels = first_sample.rsplit(" ", 2)[0]
    text = text.replace("# EOF\n", f"{name_labels} 1\nmystery_metric 1 1790000000\n"
                                   f"{name_labels} 5 1999999999\n# EOF\n")
    om.write_text(text)
    p = _problems(b)
    assert "sample without timestamp" in p
    assert "mystery_metric has no preceding # TYPE" in p
    assert "after the scenario's now + 5m" in p


def test_catches_inconsistent_histogram(tmp_path):
    b = _copy(tmp_path, "pricing-latency-p99")
    om = b / "metrics.om"
    lines = om.read_text().splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("http_request_duration_seconds_count"))
    name, value, ts = lines[i].rsplit(" ", 2)
    lines[i] = f"{name} {int(value) + 1000} {ts}"
    om.write_text("\n".join(lines) + "\n")
    assert "_count" in _problems(b) and "+Inf bucket" in _problems(b)


def test_catches_bad_log_documents(tmp_path):
    b = _copy(tmp_path, "sessions-job-failed")
    with open(b / "logs.jsonl", "a") as f:
        f.write('{"@timestamp": "2026-09-30T03:01:00Z", "log": "x", "kubernetes": {"pod_name": "p"}}\n')
        f.write('{"log": "no time", "kubernetes": {"namespace_name": "sessions"}}\n')
        f.write("not json\n")
    p = _problems(b)
    assert "kubernetes.namespace_name" in p and "@timestamp" in p and "not JSON" in p


def test_catches_component_absent_from_bundle(tmp_path):
    b = _copy(tmp_path, "billing-error-rate")
    _edit_yaml(b / "scenario.yaml", lambda d: d["expected"].update(component="kube-dns-autoscaler-x"))
    assert "appears nowhere" in _problems(b)


def test_catches_badly_named_pod_log(tmp_path):
    b = _copy(tmp_path, "sessions-job-failed")
    ns_dir = b / "k8s" / "logs" / "sessions"  # the optional namespace folder is fine
    ns_dir.mkdir()
    (ns_dir / "redis-0.log").write_text("ready\n")
    assert check_scenario(b).ok
    (b / "k8s" / "logs" / "Session Cleanup.txt").write_text("x\n")
    assert "pod log files are named" in _problems(b)


def test_render_and_cli(tmp_path, capsys, reports):
    text = render(list(reports.values()))
    assert f"{len(BUNDLES)} bundles, {len(BUNDLES)} ok, 0 failing" in text
    assert re.search(r"metrics: [\d,]+ series, [\d,]+ samples, 2026-\d\d-\d\dT", text)
    assert re.search(r"k8s: \d+ Deployment, \d+ ReplicaSet, \d+ Pod, \d+ Event", text)
    assert main([str(ROOT / "ml-pods-not-ready")]) == 0
    assert main([str(tmp_path)]) == 1
    assert "no scenario bundles found" in capsys.readouterr().out


# -- the handmade set (issue 14): valid and varied (the engine's accuracy on it: tests/test_metamorphic.py) ---
HEARTBEATS = {"Watchdog", "DeadMansSwitch", "InfoInhibitor"}


def _alertname(s) -> str:
    if s.alert:
        return s.alert["labels"]["alertname"]
    m = re.search(r"\[(?:FIRING|Triggered)[^\]]*\]\s*(?:\[P\d\]\s*)?(\w+)", s.message)
    return m.group(1) if m else ""


def test_handmade_is_a_set_of_its_own():
    assert len(HANDMADE) >= 12
    assert not set(HANDMADE) & set(BUNDLES), "the generated set's tests must not see the handmade bundles"
    assert iter_sets(ROOT) == {ROOT: BUNDLES, HANDMADE_ROOT: HANDMADE}
    assert iter_sets(HANDMADE_ROOT) == {HANDMADE_ROOT: HANDMADE}


def test_bench_scores_sets_apart():
    from bench.diagnose_eval import per_set, select_sets, summary_line

    assert select_sets([str(ROOT)], nested=False) == {"scenarios": BUNDLES}
    assert select_sets([str(ROOT)], nested=True) == {"scenarios": BUNDLES, "scenarios/handmade": HANDMADE}
    rows = [{"set": "a", "category_ok": True, "component_ok": False, "action_ok": True, "tool_calls": 2,
             "context_bytes": 8, "est_tokens": 2, "seconds": 1.0, "diagnosis_seconds": 0.25},
            {"set": "b", "category_ok": False, "component_ok": False, "action_ok": True, "tool_calls": 4,
             "context_bytes": 8, "est_tokens": 2, "seconds": 1.0, "diagnosis_seconds": 0.5}]
    sets = per_set(rows)
    assert (sets["a"]["category_accuracy"], sets["b"]["category_accuracy"]) == (1.0, 0.0)
    # The diagnosis alone is reported apart from the replay's start-up (issue 15's figure).
    assert (sets["a"]["mean_diagnosis_seconds"], sets["b"]["mean_diagnosis_seconds"]) == (0.25, 0.5)
    assert "diagnosis alone 0.50 s" in summary_line("b", sets["b"])


@pytest.fixture(scope="module")
def handmade_reports():
    return {r.path: r for r in check_many(HANDMADE_ROOT)}


@pytest.mark.parametrize("bundle", HANDMADE, ids=[p.name for p in HANDMADE])
def test_handmade_bundle_passes_check(bundle, handmade_reports):
    report = handmade_reports[bundle]
    assert report.ok, render(report)
    assert report.id == bundle.name
    assert sum(f.stat().st_size for f in bundle.rglob("*") if f.is_file()) < 1_000_000, "keep bundles small"


def test_handmade_covers_sources_kinds_and_shapes():
    scenarios = [load_scenario(p) for p in HANDMADE]
    kinds = set()
    for s in scenarios:
        for f in (s.k8s_dir.glob("*.yaml") if s.k8s_dir else ()):
            kinds.update(o.get("kind") for d in yaml.safe_load_all(f.read_text()) for o in d.get("items", [d]))
    assert kinds >= {"Job", "CronJob", "StatefulSet", "DaemonSet", "NetworkPolicy", "Node"}
    names = {_alertname(s) for s in scenarios}
    assert names >= {"KubeJobFailed", "KubePodCrashLooping", "KubeContainerWaiting", "CPUThrottlingHigh",
                     "KubeStatefulSetReplicasMismatch", "KubeDaemonSetRolloutStuck", "Watchdog",
                     "NodeMemoryHighUtilization"}
    messages = [s.message for s in scenarios if s.message]
    assert any("**Firing**" in m for m in messages), "a Grafana notification"
    assert any(m.startswith("[Triggered") for m in messages), "a Datadog monitor"
    assert any(not m.startswith("[") for m in messages), "a human question"
    assert sum(s.metrics_file is None for s in scenarios) >= 6
    assert sum(s.metrics_file is None and s.logs_file is None for s in scenarios) >= 2


def test_handmade_heartbeats_follow_the_labelling_convention():
    beats = [(p, load_scenario(p)) for p in HANDMADE if _alertname(load_scenario(p)) in HEARTBEATS]
    assert len(beats) >= 2
    for p, s in beats:
        exp = load_expected(p)
        assert (exp["category"], exp["action"], exp["component"]) == ("unknown", "none", _alertname(s)), p.name


@pytest.mark.parametrize("bundle", HANDMADE, ids=[p.name for p in HANDMADE])
def test_handmade_rationale_cites_public_sources(bundle):
    rationale = load_expected(bundle)["rationale"]
    assert re.search(r"Sources?:", rationale)
    # owner/repo#issue, owner/repo path/in/repo, or a documentation URL without its scheme
    assert re.search(r"[\w.-]+/[\w.-]+(#\d+| [\w.-]+/[\w./-]+)|[a-z0-9-]+\.(io|org|com|dev)/", rationale)


def test_handmade_builder_reproduces_committed_bundles(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "_handmade" / "build.py"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    _assert_reproduced(HANDMADE, tmp_path)


@pytest.mark.parametrize("bundle", HANDMADE, ids=[p.name for p in HANDMADE])
def test_handmade_bundle_loads_into_the_fakes(bundle):
    from tools.k8s import FakeKubeAPI
    from tools.opensearch.fake_api import FakeOpenSearch

    s = load_scenario(bundle)
    if s.k8s_dir:
        FakeKubeAPI().load_dir(s.k8s_dir)  # raises on a kind the fake does not serve
    if s.logs_file:
        assert FakeOpenSearch.from_jsonl(s.logs_file).docs


def test_network_policies_are_served_by_the_kubernetes_fake():
    from kubernetes import client

    from tools.k8s import FakeKubeAPI, make_api_client

    fake = FakeKubeAPI()
    fake.load_dir(HANDMADE_ROOT / "recsys-error-rate" / "k8s")
    with fake:
        net = client.NetworkingV1Api(make_api_client(fake.url))
        policies = {p.metadata.name: p for p in net.list_namespaced_network_policy("recsys").items}
    assert set(policies) == {"default-deny-egress", "allow-ingress-from-gateway"}
    deny = policies["default-deny-egress"].spec
    assert deny.policy_types == ["Egress"] and all(p.port != 53 for rule in deny.egress for p in rule.ports)


# -- OpenMetrics reader details ------------------------------------------------------------------------
def test_openmetrics_labels_and_exemplars():
    assert parse_labels(r'a="x\"y",b="c\\d",c="e\nf"') == {"a": 'x"y', "b": "c\\d", "c": "e\nf"}
    name, labels, v, ts = split_sample('foo_total{le="0.1",x="}"} 3 1790000000 # {trace_id="abc"} 1 1790000000')
    assert (name, labels, v, ts) == ("foo_total", {"le": "0.1", "x": "}"}, "3", "1790000000")
    with pytest.raises(ValueError):
        parse_labels('a="x",a="y"')


def test_openmetrics_accepts_prometheus_style_counter_family_and_flags_interleaving():
    ok = check_openmetrics(["# TYPE c_total counter", "c_total 1 10", "c_total 2 70", "# EOF"])
    assert not ok.problems and ok.series == 1 and ok.samples == 2 and ok.step == 60
    bad = check_openmetrics(["# TYPE a gauge", "a 1 10", "# TYPE b gauge", "b 1 10", "a 2 70", "# EOF"])
    assert any("appear again after another family" in p for p in bad.problems)
    dec = check_openmetrics(["# TYPE c counter", "c_total 5 10", "c_total 4 70", "# EOF"])
    assert any("decreased from 5 to 4" in p for p in dec.problems)


# -- the generator reproduces the committed bundles -----------------------------------------------------
@pytest.mark.slow
def test_generator_reproduces_committed_bundles(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "_tools" / "generate.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    _assert_reproduced(BUNDLES, tmp_path)


def _assert_reproduced(bundles: list[Path], fresh_root: Path) -> None:
    """Every committed bundle file exists, byte for byte, under fresh_root/<bundle id>/ and nothing else does."""
    for bundle in bundles:
        committed = sorted(p.relative_to(bundle) for p in bundle.rglob("*") if p.is_file())
        fresh = sorted(p.relative_to(fresh_root / bundle.name) for p in (fresh_root / bundle.name).rglob("*")
                       if p.is_file())
        assert committed == fresh, bundle.name
        for rel in committed:
            assert (bundle / rel).read_bytes() == (fresh_root / bundle.name / rel).read_bytes(), f"{bundle.name}/{rel}"
