"""Secret redaction: planted secrets never survive; ordinary log content is untouched."""
from __future__ import annotations

import json

import pytest

from tests.support import dataset
from tools.redact import Redactor, redact, redact_obj

PEM = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM2b\n"
       "q0Xq7yXlBv9c8kPz1WbN0Qx==\n-----END RSA PRIVATE KEY-----")
JWT = ("eyJhbGciOiJSUzI1NiIsImtpZCI6ImFiYyJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ."
       "c2lnbmF0dXJlLXBhcnQtMTIzNDU2Nzg5MA")

# (kind, planted secret value, text carrying it)
PLANTED = [
    ("bearer", "9aF3kLm0pQ7rS2tU5vW8xY1z", "GET /api Authorization: Bearer 9aF3kLm0pQ7rS2tU5vW8xY1z"),
    ("basic", "YWRtaW46czNjcjN0UGFzcw==", "curl -H 'Authorization: Basic YWRtaW46czNjcjN0UGFzcw==' http://svc"),
    ("aws_key_id", "AKIAQ3EGRTYUIOPLKJHG", "aws_access_key_id=AKIAQ3EGRTYUIOPLKJHG region=eu-west-1"),
    ("aws_secret", "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", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq8kd93Lq2"),
    ("gcp_api_key", "AIzaSyD4x9Qm2L7pR0vT3wK8nB5cJ6hF1gE2s0A", "maps call key AIzaSyD4x9Qm2L7pR0vT3wK8nB5cJ6hF1gE2s0A failed"),
    ("gcp_private_key", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
     json.dumps({"type": "service_account", "private_key":
                 "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"})),
    ("azure_conn", "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbA==",
     "DefaultEndpointsProtocol=https;AccountName=logs;AccountKey=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbA==;EndpointSuffix=core.windows.net"),
    ("azure_sas", "q8Zr%2FXk3Lm9%3D", "GET https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sig=q8Zr%2FXk3Lm9%3D&se=2025"),
    ("url_password", "Pg-S3cr3t-77", "connecting to postgres://orders:Pg-S3cr3t-77@db.prod.svc:5432/orders"),
    ("jdbc_password", "Jd8c!pass", "jdbc:mysql://db:3306/app?user=app&password=Jd8c!pass&useSSL=true"),
    ("ado_password", "Ad0Pa55w0rd", "Server=tcp:sql.example.com,1433;Database=app;User ID=app;Password=Ad0Pa55w0rd;Encrypt=True"),
    ("kv_password", "hunter2hunter2", "login attempt user=bob password=hunter2hunter2 result=ok"),
    ("yaml_secret", "s3cr3t-yaml-value", "client_secret: s3cr3t-yaml-value"),
    ("json_token", "tok_0a1b2c3d4e5f", '{"user":"x","api_token":"tok_0a1b2c3d4e5f"}'),
    ("jwt", JWT, f"validated service account token {JWT}"),
    ("pem", "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM2b", f"loaded key {PEM} from disk"),
    ("slack_bot", "xoxb-2847561930-4829105738201-QwErTyUiOpAsDfGhJkLzXcVb", "slack token xoxb-2847561930-4829105738201-QwErTyUiOpAsDfGhJkLzXcVb"),
    ("slack_user", "xoxp-1234567890-0987654321-1122334455-abcdef0123456789abcdef0123456789", "SLACK_USER_TOKEN=xoxp-1234567890-0987654321-1122334455-abcdef0123456789abcdef0123456789"),
    ("slack_app", "xapp-1-A05ABCDEF12-5678901234567-0a1b2c3d4e5f60718293a4b5c6d7e8f9", "socket mode xapp-1-A05ABCDEF12-5678901234567-0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
    ("slack_webhook", "T024BE7LD/B01ABCDEF12/kQ9vX3mN7pL2rT5wY8zA1bC4", "posting to https://hooks.slack.com/services/T024BE7LD/B01ABCDEF12/kQ9vX3mN7pL2rT5wY8zA1bC4"),
    ("teams_webhook", "IncomingWebhook/9f8e7d6c5b4a39281706f5e4d3c2b1a0/3c2b1a09",
     "teams https://contoso.webhook.office.com/webhookb2/1a2b3c4d-0000-4e5f-8a9b-0c1d2e3f4a5b@72f988bf/IncomingWebhook/9f8e7d6c5b4a39281706f5e4d3c2b1a0/3c2b1a09"),
    ("github_pat", "ghp_Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1Jh0Gf9Ed8Cb7A", "git clone https://ghp_Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1Jh0Gf9Ed8Cb7A@github.com/org/repo"),
    ("github_fine", "github_pat_11AB2CD3E0abcdefghijklmn_opqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUV", "GH=github_pat_11AB2CD3E0abcdefghijklmn_opqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUV"),
    ("anthropic", "sk-ant-api03-Xy9Zw8Vu7Ts6Rq5Po4Nm3Lk2Jh1Gf0Ed-AbCdEf", "ANTHROPIC_API_KEY=sk-ant-api03-Xy9Zw8Vu7Ts6Rq5Po4Nm3Lk2Jh1Gf0Ed-AbCdEf"),
    ("openai", "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56", "using key sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56 for embeddings"),
    ("stripe", "sk_live_51HfQ2kLmN0pQrStUvWxYz12", "charge failed with sk_live_51HfQ2kLmN0pQrStUvWxYz12"),
    ("high_entropy_key", "Q2x9Lm4Rt7Yw1Kp8Zs3Vn6B", "encryption_key=Q2x9Lm4Rt7Yw1Kp8Zs3Vn6B"),
    ("cli_flag", "Cl1Fl4gPw", "exec mysqldump --password Cl1Fl4gPw --host db"),
    ("sentry_dsn", "a1b2c3d4e5f6@o12345.ingest.sentry.io/678", "SENTRY_DSN=https://a1b2c3d4e5f6@o12345.ingest.sentry.io/678"),
]

# Prometheus-style labels and a Kubernetes pod spec (secret name in a sibling "name").
METRIC = ('http_requests_total{job="api",token="pr0m-T0ken-9z8y",instance="10.0.0.5:9090",'
          'api_key="k3y-in-label-42"} 17')
POD = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "checkout-7d9f8c6b5-x2kqz", "namespace": "shop"},
    "spec": {"containers": [{
        "name": "checkout", "image": "registry.example.com/checkout:1.4.2",
        "args": ["--db-password=Arg-Pa55-31", "--port=8080"],
        "env": [
            {"name": "DB_PASSWORD", "value": "EnvDbPa55!"},
            {"name": "STRIPE_SECRET", "value": "plain-stripe-secret-000"},
            {"name": "REDIS_URL", "value": "redis://:R3disPw@redis:6379/0"},
            {"name": "GITHUB_TOKEN", "value": "notatokenshape"},
            {"name": "LOG_LEVEL", "value": "debug"},
            {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "api", "key": "key"}}},
        ],
    }]},
    "auth": {"password": "nested-dict-pw", "username": "svc"},
    "headers": [{"name": "Authorization", "value": "Token opaque-h3ader-val"}],
}
POD_SECRETS = ["Arg-Pa55-31", "EnvDbPa55!", "plain-stripe-secret-000", "R3disPw", "notatokenshape",
               "nested-dict-pw", "opaque-h3ader-val"]
METRIC_SECRETS = ["pr0m-T0ken-9z8y", "k3y-in-label-42"]


def test_planted_secrets_never_survive() -> None:
    assert len({kind for kind, _, _ in PLANTED}) >= 20
    for kind, secret, text in PLANTED:
        assert secret in text  # the plant is real
        out = redact(text)
        assert secret not in out, (kind, out)
        assert "REDACTED" in out, kind
    metric = redact(METRIC)
    for secret in METRIC_SECRETS:
        assert secret not in metric
    assert 'job="api"' in metric and 'instance="10.0.0.5:9090"' in metric


def test_pod_json_env_and_nested_secrets() -> None:
    out = redact_obj(POD)
    text = json.dumps(out)
    for secret in POD_SECRETS:
        assert secret not in text, secret
    env = {e["name"]: e for e in out["spec"]["containers"][0]["env"]}
    assert env["LOG_LEVEL"]["value"] == "debug"
    assert env["API_KEY"]["valueFrom"] == POD["spec"]["containers"][0]["env"][5]["valueFrom"]
    assert out["metadata"] == POD["metadata"]
    assert out["auth"] == "[REDACTED]"  # secret-looking key masks its whole value
    assert out["spec"]["containers"][0]["args"][1] == "--port=8080"
    assert POD["spec"]["containers"][0]["env"][0]["value"] == "EnvDbPa55!"  # input not mutated
    # Also as the text an agent would see (kubectl get pod -o json).
    as_text = redact(json.dumps(POD))
    for secret in ["Arg-Pa55-31", "R3disPw", "nested-dict-pw"]:
        assert secret not in as_text


def test_secret_objects_and_shapes() -> None:
    secret = {"kind": "Secret", "metadata": {"name": "db"}, "data": {"user": "YXBw", "pw": "c2VjcmV0"}}
    out = redact_obj(secret)
    assert out["data"] == {"user": "[REDACTED]", "pw": "[REDACTED]"} and out["metadata"] == {"name": "db"}
    assert redact_obj(("password=x1", 3, None, ["token: abc9"])) == ("password=[REDACTED]", 3, None,
                                                                     ["token: [REDACTED]"])


def test_replacement_keeps_key_and_says_what() -> None:
    assert redact("password=hunter2") == "password=[REDACTED]"
    assert redact("Authorization: Bearer 9aF3kLm0pQ7rS2tU5vW8xY1z") == "Authorization: Bearer [REDACTED:bearer]"
    assert redact('{"api_key": "abc123xyz"}') == '{"api_key": "[REDACTED]"}'
    assert redact("key AKIAQ3EGRTYUIOPLKJHG") == "key [REDACTED:aws_access_key_id]"
    assert redact("postgres://u:p4ss@h/db") == "postgres://u:[REDACTED]@h/db"


def test_extra_patterns() -> None:
    r = Redactor(extra_patterns=[r"cust-(?P<secret>\d{6})", r"INTERNAL-[A-Z]{4}-\d+"])
    assert r.redact("customer cust-123456 ref INTERNAL-ABCD-77 ok") == \
        "customer cust-[REDACTED:custom] ref [REDACTED:custom] ok"
    assert redact("customer cust-123456") == "customer cust-123456"  # default is unaffected


@pytest.mark.parametrize("line", [
    "pod checkout-7d9f8c6b5-x2kqz OOMKilled after 12ms on node ip-10-0-3-17 (10.0.3.17:10250)",
    "GET /api/v1/orders/8812 200 in 1.5s from 192.168.1.20 trace_id=4bf92f3577b34da6a3ce929d0e0e4736",
    "Failed password for invalid user admin from 173.234.31.186 port 38926 ssh2",
    "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4",
    "basic authentication is disabled; bearer tokens are required",
    "token bucket refilled; tokens_used=1234 max_tokens=4096 token_count=5",
    "Back-off restarting failed container checkout in pod checkout-7d9f8c6b5-x2kqz_shop(3f2b8a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b)",
    'level=error ts=2024-05-01T10:00:00Z caller=scrape.go:1313 msg="Scrape failed" err="context deadline exceeded" duration=3m20s',
    "Processed session termination for sessionid: 0x14ede63a5a70002",
    "secretKeyRef api/key not found; mounting volume secret-volume",
])
def test_ordinary_lines_unchanged(line: str) -> None:
    assert redact(line) == line


def test_loghub_samples_unchanged() -> None:
    changed = []
    for path in sorted(dataset("loghub").glob("*/*_2k.log")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if redact(line) != line:
                changed.append(line)
    assert changed == []
