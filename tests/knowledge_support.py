"""A small runbook corpus for the knowledge-base tests (written into a temp folder)."""
from __future__ import annotations

from pathlib import Path

RUNBOOKS = {
    "oom.md": """---
title: Pod OOMKilled
services: [any]
categories: [oom_killed]
severity: [critical, warning]
---
# Pod OOMKilled

## Symptoms
Containers restart with reason OOMKilled and exit code 137. The JVM logs
java.lang.OutOfMemoryError: Java heap space shortly before the kill.

## Diagnosis
Compare container_memory_working_set_bytes with the memory limit of the container.

## Remediation
Raise the memory limit, or roll back the release that introduced the leak.
""",
    "pool-checkout.md": """---
title: Checkout connection pool exhausted
services: [checkout]
categories: [connection_pool_exhausted]
---
# Checkout connection pool exhausted

## Symptoms
HikariPool-1 - Connection is not available, request timed out after 30000ms.
p99 latency rises and 5xx errors follow.

## Remediation
Increase maximumPoolSize or restart the pods that leak connections.
""",
    "pool-payments.md": """---
title: Payments connection pool exhausted
services: [payments]
categories: [connection_pool_exhausted]
---
# Payments connection pool exhausted

## Symptoms
pgbouncer reports no more connections allowed; the payments connection pool is exhausted.

## Remediation
Scale pgbouncer or lower the per-pod pool size.
""",
    "disk.md": """---
title: Disk full on a node
services: [any]
categories: [disk_full]
severity: warning
---
# Disk full on a node

## Symptoms
write failed: No space left on device; kubelet reports DiskPressure.

## Remediation
Delete old container images and rotate logs.
""",
    "cert.txt": """TLS certificate expired.

Clients fail with x509: certificate has expired or is not yet valid.
Renew the certificate with cert-manager and restart the ingress controller.
""",
    "sub/dns.md": """---
title: DNS resolution failures
categories: [dns_failure]
---
# DNS resolution failures

## Symptoms
dial tcp: lookup payments-db on 10.96.0.10:53: no such host. CoreDNS pods are throttled.

## Remediation
Scale CoreDNS and check the NodeLocal DNSCache daemonset.
""",
}


def write_runbooks(folder: Path) -> Path:
    for name, text in RUNBOOKS.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder
