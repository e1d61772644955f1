"""Incidents reconstructed from recorded investigations (bench/recorded_eval.py): the generic kubectl
readers, and the offline engine's accuracy on the HolmesGPT recordings when the dataset is present.

The floors are what the engine reaches after the issue-14 fixes on this public set (which was used
while fixing, so it is not held out); a regression in the readers or the engine shows as a drop."""
from __future__ import annotations

import asyncio

from bench.recorded_eval import CASES, evaluate, label, mentioned, totals
from tests.support import dataset
from tools.scenario.kubectl_describe import describe_objects
from tools.scenario.kubectl_tables import pod_rows

CATEGORY_FLOOR = 14      # of 14 cases scored
FACTS_FLOOR = 23         # of 23 expected statements

_POD = """Name:             web-7d9f8b6c5-abcde
Namespace:        shop
Node:             node-a/10.0.0.7
Start Time:       Thu, 27 Feb 2025 07:30:28 +0100
Labels:           app=web
                  pod-template-hash=7d9f8b6c5
Status:           Running
Controlled By:  ReplicaSet/web-7d9f8b6c5
Containers:
  app:
    Image:         shop/web:1.2
    Command:
      /bin/sh
      -c
    Args:
      echo 'tried: db:5432'; exit 1
    State:          Waiting
      Reason:       CrashLoopBackOff
    Last State:     Terminated
      Reason:       OOMKilled
      Exit Code:    137
      Finished:     Thu, 27 Feb 2025 07:36:22 +0100
    Ready:          False
    Restart Count:  6
    Limits:
      memory:  100Mi
    Environment:
      DB_URL:  <set to the key 'url' in secret 'db'>  Optional: false
Events:
  Type     Reason   Age                   From     Message
  ----     ------   ----                  ----     -------
  Warning  BackOff  87s (x23 over 6m33s)  kubelet  Back-off restarting failed container app in pod web
"""


def test_describe_text_becomes_the_objects_it_states():
    pod, event = describe_objects("pod", _POD, None)
    meta, spec, status = pod["metadata"], pod["spec"], pod["status"]
    assert meta["labels"] == {"app": "web", "pod-template-hash": "7d9f8b6c5"}   # continuation line kept
    assert meta["ownerReferences"][0]["kind"] == "ReplicaSet" and spec["nodeName"] == "node-a"
    c = spec["containers"][0]
    assert c["args"] == ["echo 'tried: db:5432'; exit 1"]          # a script line is not read as a key
    assert c["resources"] == {"limits": {"memory": "100Mi"}}
    assert c["env"] == [{"name": "DB_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}]
    cs = status["containerStatuses"][0]
    assert cs["state"] == {"waiting": {"reason": "CrashLoopBackOff"}} and cs["restartCount"] == 6
    assert cs["lastState"]["terminated"] == {"reason": "OOMKilled", "exitCode": 137,
                                             "finishedAt": "2025-02-27T06:36:22Z"}
    assert (event["reason"], event["count"], event["lastTimestamp"], event["firstTimestamp"]) == \
        ("BackOff", 23, "@ago:87", "@ago:393")


def test_a_pod_table_row_implies_its_owner_and_state():
    text = ("NAME                     READY   STATUS             RESTARTS       AGE   NODE     LABELS\n"
            "web-7d9f8b6c5-abcde      0/1     CrashLoopBackOff   62 (2m6s ago)  2d    node-a   app=web,pod-template-hash=7d9f8b6c5\n"
            "export-x7k2p             0/1     Error              0              5m    node-a   job-name=export\n")
    web, job = pod_rows(text, "shop")
    assert web["metadata"]["ownerReferences"][0]["name"] == "web-7d9f8b6c5"
    assert web["status"]["containerStatuses"][0]["state"] == {"waiting": {"reason": "CrashLoopBackOff"}}
    assert web["status"]["containerStatuses"][0]["restartCount"] == 62
    assert job["metadata"]["ownerReferences"][0] == {**job["metadata"]["ownerReferences"][0], "kind": "Job",
                                                    "name": "export"}
    assert job["status"]["phase"] == "Failed"


def test_key_facts_need_every_identifier_and_half_the_words():
    assert mentioned("Pod `web-api` is OOM killed", "web-api was OOMKilled (exit 137)")   # CamelCase split
    assert not mentioned("Pod `cart-api` is OOM killed", "web-api was OOMKilled (exit 137)")   # its name missing
    assert not mentioned("Pod `web-api` is OOM killed", "web-api restarts (exit 137)")        # the reason missing
    assert not mentioned("issues connecting to `db:5432`", "web-api cannot reach db:5433")
    assert mentioned("Suggest increasing the limit", "increase the limit of app")   # silent e
    assert not mentioned("Suggest increasing the limit", "raise the limit of app")
    assert label(["The SSL certificate expired"]) == "certificate_expired"
    assert label(["This is not an issue"]) == "unknown"


def test_recorded_investigations_keep_their_accuracy():
    root = dataset(*CASES)
    rows = asyncio.run(evaluate(root, [], knowledge=False))
    tot = totals(rows)
    skipped = {r["case"]: r["skipped"] for r in rows if "skipped" in r}
    assert tot["cases"] == 14 and len(skipped) == 3, skipped
    assert all("Kubernetes" in why or "no tool output" in why for why in skipped.values()), skipped
    assert tot["category_correct"] >= CATEGORY_FLOOR, [(r["case"], r.get("got")) for r in rows]
    assert tot["facts_mentioned"] >= FACTS_FLOOR, tot
