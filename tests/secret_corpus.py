"""Fake secrets of 50 kinds, each in the text that carries it as real software would write it.

Values are generated from a seed (no real secret is stored anywhere), so each input path of a
leak test gets its own values and a leak names its path. Every carrier also holds a marker word
(letters only, so template mining keeps it) that shows the text itself did reach a sink, masked.
"""
from __future__ import annotations

import base64
import json
import random
import string
import uuid
from dataclasses import dataclass
from typing import Callable

B62 = string.ascii_letters + string.digits
B64 = B62 + "+/"
URLSAFE = B62 + "-_"
HEX = "0123456789abcdef"
UPPER_DIGITS = string.ascii_uppercase + "234567"
FRAGMENT = 12  # a leaked run of this many characters of a secret counts as a leak


@dataclass(frozen=True)
class Plant:
    kind: str
    secrets: tuple[str, ...]  # the random parts: none may appear outside the input
    text: str                 # the carrier, with the marker
    marker: str
    templated: bool = False   # logged repeatedly with changing numbers, so log mining templates it

    def lines(self, repeats: int = 5) -> list[str]:
        """The carrier as log lines: a templated kind comes back `repeats` times with other numbers."""
        if not self.templated:
            return [self.text]
        return [self.text.replace("attempt 1 ", f"attempt {n} ").replace(" C01 ", f" C0{n} ")
                for n in range(1, repeats + 1)]

    def fragments(self) -> set[str]:
        out: set[str] = set()
        for s in self.secrets:
            out |= {s} if len(s) <= FRAGMENT else {s[i:i + FRAGMENT] for i in range(len(s) - FRAGMENT + 1)}
        return out


class _Gen:
    def __init__(self, seed: str):
        self.rng = random.Random(seed)

    def s(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def digits(self, n: int) -> str:
        return str(self.rng.randint(10 ** (n - 1), 10 ** n - 1))

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def token(self, alphabet: str, n: int) -> str:
        """A random token with upper case, lower case and a digit. A bare token lacking one of them
        is not masked (tools.redact.looks_like_token): 0.7% of random 28-character tokens lack a digit."""
        while True:
            v = self.s(alphabet, n)
            if any(c.isdigit() for c in v) and v.lower() != v and v.upper() != v:
                return v

    def b64(self, raw_len: int) -> str:
        return base64.b64encode(bytes(self.rng.getrandbits(8) for _ in range(raw_len))).decode()


def _pem(g: _Gen, label: str) -> tuple[tuple[str, ...], str]:
    body = (g.s(B64, 64), g.s(B64, 64), g.s(B64, 44) + "==")
    return body, f"-----BEGIN {label}-----\n" + "\n".join(body) + f"\n-----END {label}-----"


def _jwt(g: _Gen) -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    claims = {"iss": "kubernetes/serviceaccount", "sub": f"system:serviceaccount:shop:{g.s(string.ascii_lowercase, 8)}",
              "jti": g.uuid()}
    return f"{part({'alg': 'RS256', 'kid': g.s(URLSAFE, 22)})}.{part(claims)}.{g.s(URLSAFE, 86)}"


# kind -> (generator of the secret parts and the carrier text with {m} for the marker)
Spec = Callable[[_Gen], tuple[tuple[str, ...], str]]


def _one(make: Callable[[_Gen], str], carrier: str) -> Spec:
    def spec(g: _Gen) -> tuple[tuple[str, ...], str]:
        v = make(g)
        return (v,), carrier.replace("{v}", v)
    return spec


def _sa_json(g: _Gen) -> tuple[tuple[str, ...], str]:
    key_id, body = g.s(HEX, 40), (g.s(B64, 64), g.s(B64, 40) + "==")
    pem = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(body) + "\n-----END PRIVATE KEY-----\n"
    doc = {"type": "service_account", "project_id": "shop-prod", "private_key_id": key_id, "private_key": pem,
           "client_email": "{m}@shop-prod.iam.gserviceaccount.com"}
    return (key_id, *body), "loaded credentials " + json.dumps(doc)


def _pem_spec(label: str) -> Spec:
    def spec(g: _Gen) -> tuple[tuple[str, ...], str]:
        body, pem = _pem(g, label)
        return body, "{m} read key file:\n" + pem
    return spec


def _teams_webhook(g: _Gen) -> tuple[tuple[str, ...], str]:
    key, tail = g.s(HEX, 32), g.uuid()
    url = f"https://acme.webhook.office.com/webhookb2/{g.uuid()}@{g.uuid()}/IncomingWebhook/{key}/{tail}"
    return (key, tail), f"{{m}} teams notify via {url} failed: 429"


def _slack_webhook(g: _Gen) -> tuple[tuple[str, ...], str]:
    path = f"T{g.s(UPPER_DIGITS, 8)}/B{g.s(UPPER_DIGITS, 10)}/{g.s(B62, 24)}"
    return (path,), f"{{m}} posting to https://hooks.slack.com/services/{path} returned 404"


def _azure_sas(g: _Gen) -> tuple[tuple[str, ...], str]:
    sig = g.s(B62, 43).replace("a", "%2F", 2) + "%3D"
    return (sig,), (f"{{m}} GET https://acct.blob.core.windows.net/backups/db.bak?sv=2022-11-02&ss=b&sig={sig}"
                    f"&se=2026-10-07T00:00:00Z 403")


def _basic(g: _Gen) -> str:
    return base64.b64encode(f"svc-{g.s(string.ascii_lowercase, 5)}:{g.s(B62, 18)}".encode()).decode()


def _docker_auth(g: _Gen) -> tuple[tuple[str, ...], str]:
    auth = _basic(g)
    return (auth,), '{m} wrote config {"auths": {"registry.acme.io": {"auth": "' + auth + '"}}}'


SPECS: dict[str, Spec] = {
    "bearer_header": _one(lambda g: g.s(B62, 36), "{m} GET /api/v1/orders 401 Authorization: Bearer {v}"),
    "basic_header": _one(_basic, "{m} proxy request with header Authorization: Basic {v}"),
    "aws_access_key_id": _one(lambda g: "AKIA" + g.s(UPPER_DIGITS, 16), "{m} assumed role with {v} in eu-west-1"),
    "aws_secret_key_bare": _one(lambda g: g.token(B64, 40), "{m} rotated IAM credentials, the new secret is {v} now"),
    "aws_session_token": _one(lambda g: "IQoJb3JpZ2luX2VjE" + g.s(B64, 180),
                              "{m} signed request x-amz-security-token: {v}"),
    "gcp_api_key": _one(lambda g: "AIza" + g.s(URLSAFE, 35), "{m} maps client using {v} got 403"),
    "gcp_oauth_token": _one(lambda g: "ya29." + g.s(URLSAFE, 120), "{m} refreshed access with ya29 {v}"),
    "gcp_service_account": _sa_json,
    "pem_rsa": _pem_spec("RSA PRIVATE KEY"),
    "pem_openssh": _pem_spec("OPENSSH PRIVATE KEY"),
    "pem_ec": _pem_spec("EC PRIVATE KEY"),
    "jwt": _one(_jwt, "{m} validated service account token {v}"),
    "slack_bot_token": _one(lambda g: f"xoxb-{g.digits(10)}-{g.digits(13)}-{g.s(B62, 24)}",
                            "{m} slack notify attempt 1 failed for {v} channel C01 after 2s"),
    "slack_user_token": _one(lambda g: f"xoxp-{g.digits(10)}-{g.digits(10)}-{g.digits(13)}-{g.s(HEX, 32)}",
                             "{m} using user token {v}"),
    "slack_app_token": _one(lambda g: f"xapp-1-A0{g.s(UPPER_DIGITS, 9)}-{g.digits(13)}-{g.s(HEX, 64)}",
                            "{m} socket mode attempt 1 connect with {v} channel C01 refused"),
    "slack_webhook": _slack_webhook,
    "teams_webhook": _teams_webhook,
    "github_pat": _one(lambda g: "ghp_" + g.s(B62, 36), "{m} git clone https://{v}@github.com/acme/infra.git"),
    "github_fine_grained": _one(lambda g: f"github_pat_11{g.s(UPPER_DIGITS, 20)}_{g.s(B62, 59)}",
                                "{m} GH_TOKEN github {v}"),
    "gitlab_pat": _one(lambda g: "glpat-" + g.s(URLSAFE, 20), "{m} runner registered with {v}"),
    "npm_token": _one(lambda g: "npm_" + g.s(B62, 36), "{m} //registry.npmjs.org/:_authToken={v}"),
    "pypi_token": _one(lambda g: "pypi-AgEIcHlwaS5vcmc" + g.s(URLSAFE, 150), "{m} twine upload with {v}"),
    "anthropic_key": _one(lambda g: f"sk-ant-api03-{g.s(URLSAFE, 93)}AA", "{m} model client key {v} rejected"),
    "openai_key": _one(lambda g: "sk-proj-" + g.s(URLSAFE, 48), "{m} embeddings client key {v}"),
    "stripe_secret": _one(lambda g: "sk_live_" + g.s(B62, 48), "{m} charge failed with {v}"),
    "stripe_restricted": _one(lambda g: "rk_live_" + g.s(B62, 48), "{m} refund client {v} lacks scope"),
    "stripe_webhook": _one(lambda g: "whsec_" + g.s(B62, 32), "{m} verifying signature with {v}"),
    "sendgrid_key": _one(lambda g: f"SG.{g.s(URLSAFE, 22)}.{g.s(URLSAFE, 43)}", "{m} mail send via {v} denied"),
    "twilio_api_key_sid": _one(lambda g: "SK" + g.s(HEX, 32), "{m} twilio client {v} created"),
    "twilio_api_secret_bare": _one(lambda g: g.token(B62, 32), "{m} twilio api secret rotated, now {v}"),
    "twilio_auth_token": _one(lambda g: g.s(HEX, 32), "{m} TWILIO_AUTH_TOKEN={v}"),
    "mailchimp_key": _one(lambda g: f"{g.s(HEX, 32)}-us{g.rng.randint(1, 21)}", "{m} mailchimp sync using {v}"),
    "discord_bot_token": _one(lambda g: f"M{g.s(B62, 23)}.{g.s(URLSAFE, 6)}.{g.s(URLSAFE, 27)}",
                              "{m} discord bot login {v}"),
    "telegram_bot_token": _one(lambda g: f"{g.digits(9)}:AA{g.s(URLSAFE, 33)}", "{m} telegram sendMessage bot{v} 401"),
    "square_oauth_secret": _one(lambda g: "sq0csp-" + g.s(URLSAFE, 43), "{m} square oauth client {v}"),
    "artifactory_key": _one(lambda g: "AKCp" + g.s(B62, 69), "{m} artifactory api key {v} accepted"),
    "azure_storage_key": _one(lambda g: g.b64(64),
                              "{m} DefaultEndpointsProtocol=https;AccountName=logs;AccountKey={v};"
                              "EndpointSuffix=core.windows.net"),
    "azure_sas": _azure_sas,
    "postgres_url_password": _one(lambda g: g.s(B62, 18), "{m} connecting to postgres://orders:{v}@db.prod.svc:5432/orders"),
    "redis_url_password": _one(lambda g: g.s(B62, 18), "{m} redis client redis://:{v}@redis-master:6379/0"),
    "jdbc_password": _one(lambda g: g.s(B62, 16), "{m} jdbc:mysql://db:3306/app?user=app&password={v}&useSSL=true"),
    "ado_connection_string": _one(lambda g: g.s(B62, 16),
                                  "{m} Server=tcp:sql.acme.net,1433;Database=app;User ID=app;Password={v};Encrypt=True"),
    "kv_password": _one(lambda g: g.s(B62, 14), "{m} login attempt user=bob password={v} result=ok"),
    "yaml_client_secret": _one(lambda g: g.s(B62, 24), "{m} config client_secret: {v}"),
    "json_api_token": _one(lambda g: g.s(B62, 24), '{m} {"user": "svc", "api_token": "{v}"}'),
    "cli_password_flag": _one(lambda g: g.s(B62, 14), "{m} exec mysqldump --password {v} --host db"),
    "sentry_dsn": _one(lambda g: g.s(HEX, 32), "{m} SENTRY_DSN=https://{v}@o450123.ingest.sentry.io/5501234"),
    "docker_config_auth": _docker_auth,
    "cookie_header": _one(lambda g: g.s(URLSAFE, 40), "{m} request headers:\nCookie: session={v}; theme=dark"),
    "api_key_header": _one(lambda g: g.s(B62, 32), "{m} x-api-key: {v}"),
    "encryption_key": _one(lambda g: g.s(B62, 32), "{m} encryption_key={v}"),
    "vault_token": _one(lambda g: "hvs." + g.token(B62, 90), "{m} vault login ok with {v}"),
    "high_entropy_in_sentence": _one(lambda g: g.token(B62, 28), "{m} user pasted {v} into the search box"),
}
TEMPLATED = {"slack_bot_token", "slack_app_token"}


def corpus(path: str) -> list[Plant]:
    """One plant per kind, with values and markers of their own for this input path."""
    g = _Gen(f"secret-corpus:{path}")
    code = "".join(c for c in path.lower() if c.isalpha())[:3].ljust(3, "x")
    plants = []
    for i, (kind, spec) in enumerate(SPECS.items()):
        secrets, text = spec(g)
        marker = f"mk{code}{string.ascii_lowercase[i // 26]}{string.ascii_lowercase[i % 26]}"
        plants.append(Plant(kind, secrets, text.replace("{m}", marker), marker, kind in TEMPLATED))
    return plants
