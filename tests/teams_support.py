"""Shared by the Teams tests: our own activity fixtures (shaped like the recorded Teams requests in
../shared/datasets/teams, which the dataset tests use where present), settings pointing the real
botbuilder SDK and MSAL at tests/fake_teams.py, and the real server (build_app) with a real
Workflow and TeamsSurface over it, posting activities with signed Bot Framework tokens."""
from __future__ import annotations

import copy
import itertools
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.settings import Settings
from tests.fake_teams import FakeTeams
from tests.support import dataset

APP_ID = "5a0c6e0e-6a3b-4c59-9d2e-0b07c4a1b0e1"
SECRET = "teams-bot-client-secret"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
BOT = {"id": f"28:{APP_ID}", "name": "chatops"}
ALERTS = "19:0a1e7c5b2f4d4e8f9a6b3c2d1e0f9a8b@thread.tacv2"  # an alert channel (TEAMS_ALERT_CHANNELS)
OPS = "19:5f3e2d1c0b9a48776655443322110099@thread.tacv2"  # a channel where people ask
GROUP = "19:meeting_YTc4ZDNkNzItZmQ2Zi00@thread.v2"
PERSONAL = "a:1Gq3bT5pQw2zX9v8yK7uR6tS5oP4nM3lK2jI1hG0fE"
ALICE = {"id": "29:1AliceTeamsId-qS8uVvB3", "name": "Alice Ng", "aadObjectId": "a11ce000-0000-4000-8000-000000000001"}
BOB = {"id": "29:1BobTeamsId-7cTyWnD0", "name": "Bob Ruiz", "aadObjectId": "b0b00000-0000-4000-8000-000000000002"}
EVE = {"id": "29:1EveTeamsId-Mk2pQz9L", "name": "Eve Ito", "aadObjectId": "e5e00000-0000-4000-8000-000000000003"}
WORKFLOWS = {"id": "28:4b5c6d7e-flow-bot-0000-000000000000", "name": "Workflows"}  # Power Automate's bot
_ids = itertools.count(1_767_100_000_000)

KINDS = {ALERTS: "channel", OPS: "channel", GROUP: "groupChat", PERSONAL: "personal"}


def new_id() -> str:
    return str(next(_ids))


def activity(conversation: str, *, service_url: str, kind: str = "message", sender: dict = ALICE,
             text: str | None = None, mention: bool = False, root: str | None = None, **extra: Any) -> dict:
    """A Teams activity as the Bot Connector POSTs it: in a channel's reply chain `root` (a new post
    when None), a group chat or a personal chat; `mention` puts `<at>chatops</at>` in front of `text`."""
    conv_type = KINDS.get(conversation, "channel")
    aid = extra.pop("id", new_id())
    conv_id = f"{conversation};messageid={root or aid}" if conv_type == "channel" else conversation
    act: dict[str, Any] = {
        "type": kind, "id": aid, "timestamp": "2026-01-07T06:04:59.89Z", "channelId": "msteams",
        "serviceUrl": service_url, "from": dict(sender), "recipient": dict(BOT), "locale": "en-US",
        "conversation": {"id": conv_id, "conversationType": conv_type, "tenantId": TENANT,
                         **({"isGroup": True} if conv_type != "personal" else {})},
        "channelData": {"tenant": {"id": TENANT}, **({"channel": {"id": conversation},
                                                       "team": {"id": conversation, "name": "SRE"}}
                                                      if conv_type == "channel" else {})},
        "entities": [{"type": "clientInfo", "locale": "en-US", "platform": "Web"}]}
    if text is not None:
        act["textFormat"] = "plain"
        act["text"] = f"<at>{BOT['name']}</at> {text}" if mention else text
    if mention:
        act["entities"].insert(0, {"type": "mention", "text": f"<at>{BOT['name']}</at>", "mentioned": dict(BOT)})
    act.update(extra)
    return act


def installed(conversation: str, *, service_url: str) -> dict:
    """The conversationUpdate Teams sends when the app is added to a team, chat or personal scope."""
    act = activity(conversation, service_url=service_url, kind="conversationUpdate", membersAdded=[dict(BOT)])
    act["conversation"]["id"] = conversation
    if act["conversation"]["conversationType"] == "channel":  # added to a team: its General channel
        act["channelData"] = {"tenant": {"id": TENANT}, "eventType": "teamMemberAdded",
                              "team": {"id": conversation, "name": "SRE"}}
    return act


def invoke(card: dict, verb: str, *, service_url: str, sender: dict = ALICE, conversation: str = ALERTS,
           root: str | None = None, data: dict | None = None) -> dict:
    """The `adaptiveCard/action` invoke a click on `card`'s Action.Execute button `verb` sends."""
    button = find_button(card["content"] if "content" in card else card, verb)
    value = {"action": {"type": "Action.Execute", "verb": verb, "data": data if data is not None else button["data"]},
             "trigger": "manual"}
    return activity(conversation, service_url=service_url, kind="invoke", sender=sender, root=root,
                    name="adaptiveCard/action", value=value, replyToId=card.get("activity_id"))


def submit(card: dict, verb: str, *, service_url: str, sender: dict = ALICE, conversation: str = ALERTS,
           root: str | None = None) -> dict:
    """The message an older client sends for the button's Action.Submit fallback."""
    button = find_button(card["content"] if "content" in card else card, verb)
    return activity(conversation, service_url=service_url, sender=sender, root=root,
                    value=copy.deepcopy(button["fallback"]["data"]), replyToId=card.get("activity_id"))


def elements(node: Any) -> list[dict]:
    """Every object inside a card, depth first."""
    if isinstance(node, dict):
        return [node] + [e for v in node.values() for e in elements(v)]
    if isinstance(node, list):
        return [e for v in node for e in elements(v)]
    return []


def find_button(card: dict, verb: str) -> dict:
    found = [e for e in elements(card) if e.get("type") == "Action.Execute" and e.get("verb") == verb]
    assert found, f"no {verb} button on the card"
    return found[0]


def card_of(posted) -> dict:  # noqa: ANN001 (fake_teams.Posted)
    """The Adaptive Card a posted activity carries, with the activity's id (what a click replies to)."""
    [att] = posted.activity["attachments"]
    return {**att["content"], "activity_id": posted.id}


def texts(card: dict) -> str:
    """Every TextBlock and fact of a card, joined, as Markdown shows it: what a reader sees."""
    out: list[str] = []
    for e in elements(card):
        if e.get("type") == "TextBlock":
            out.append(e.get("text", ""))
        elif e.get("type") == "FactSet":
            out.extend(f"{f.get('title')}: {f.get('value')}" for f in e.get("facts", []))
    return re.sub(r"\\(.)", r"\1", "\n".join(out).replace("\u2060", ""))


def recorded(name: str) -> dict:
    """A recorded Teams → bot request body from the shared datasets (botbuilder-js integrationBot
    recordings, or teams.net's test activities); skips when the datasets are absent."""
    if name.endswith(".json"):
        path = dataset("teams", "teams.net", "test", "Microsoft.Teams.Apps.UnitTests", name)
        return json.loads(path.read_text())["activity"]
    path = dataset("teams", "botbuilder-js", "libraries", "botbuilder", "tests", "teams", "integrationBot",
                   "recordings", f"{name}-request-integrationBot.json")
    return json.loads(path.read_text())["body"]


def as_ours(act: dict, service_url: str, conversation: str | None = None) -> dict:
    """A recorded activity addressed to our bot and our fake: serviceUrl, recipient, the bot's
    mention, and optionally the conversation (kept in its recorded shape, e.g. `;messageid=`)."""
    act = copy.deepcopy(act)
    old = act["recipient"]["id"]
    act["serviceUrl"], act["recipient"] = service_url, dict(BOT)
    for e in act.get("entities") or []:
        if e.get("type") == "mention" and (e.get("mentioned") or {}).get("id") == old:
            e["mentioned"] = dict(BOT)
    if conversation is not None:
        _, sep, thread = act["conversation"]["id"].partition(";messageid=")
        act["conversation"]["id"] = conversation + (sep + thread if sep else "")
    return act


def settings(fake: FakeTeams, **over: Any) -> Settings:
    base = dict(teams_app_id=APP_ID, teams_app_password=SECRET, teams_openid_metadata_url=fake.openid_url,
                teams_login_url=fake.login_url, teams_graph_url=fake.graph_url, teams_alert_channels=ALERTS)
    base.update(over)
    return Settings(_env_file=None, **{k: v for k, v in base.items() if v is not None})


@dataclass
class TeamsHarness:
    fake: FakeTeams
    workflow: Any
    client: TestClient
    bot: Any  # bot.teams.app.TeamsBot

    async def post(self, act: dict, token: str | None = "valid", *, raw: bytes | None = None):
        """POST an activity to /api/messages with a valid Bot Framework token ("valid"), another
        token, or none."""
        if token == "valid":
            token = self.fake.token_for(APP_ID, act.get("serviceUrl"))
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        return await self.client.post("/api/messages", data=raw if raw is not None else json.dumps(act),
                                      headers=headers)

    async def settle(self, timeout: float = 60) -> None:
        """Until the background handling and the jobs it queued are done."""
        await self.bot.background.drain(timeout)
        drain = getattr(self.workflow, "drain", None)
        if drain is not None:
            await drain(timeout)
        await self.bot.background.drain(timeout)


async def start(fake: FakeTeams, workflow: Any, **settings_over: Any) -> TeamsHarness:
    from bot.server import build_app
    from bot.teams.endpoint import TEAMS

    app = build_app(settings(fake, **settings_over), workflow)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return TeamsHarness(fake, workflow, client, app[TEAMS])


def teams_surface(fake: FakeTeams, factory: Any, signer: Any, **settings_over: Any):
    """A real TeamsSurface (TeamsAdapter over the fake) as `chatops serve` builds it."""
    from bot.teams.adapter import TeamsAdapter
    from bot.teams.config import teams_config
    from bot.teams.surface import TeamsSurface

    return TeamsSurface(TeamsAdapter(teams_config(settings(fake, **settings_over))), factory, signer)


# ---- fixtures (import them into a test module) ------------------------------------------------
@pytest.fixture
def fake_teams(monkeypatch):
    """The fakes, with MSAL (requests) trusting their throwaway CA."""
    with FakeTeams({APP_ID: SECRET}) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca_path))
        yield fake


@pytest.fixture
def sqlite_factory(tmp_path):
    from bot import migrate
    from bot.db import make_engine, session_factory

    engine = make_engine(f"sqlite:///{tmp_path / 'chatops.db'}")
    migrate.upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


SIGNER_KEY = b"0123456789abcdef0123456789abcdef"


def no_sources():
    """A sources provider with no backend at all: the offline engine says what it could not use."""
    from tools.base import ToolContext, ToolRegistry
    from tools.redact import Redactor
    from tools.sources import Sources

    async def sources() -> Sources:
        return Sources(registry=ToolRegistry(redactor=Redactor()), ctx=ToolContext(),
                       unavailable={"prometheus": "PROMETHEUS_URL is not set"})
    return sources


def workflow(fake: FakeTeams, factory: Any, *, approvers: tuple[str, ...] = (), sources: Any = None,
             executor: Any = None, surfaces: dict | None = None, **policy_kw: Any):
    """The real Workflow (offline engine) with a real TeamsSurface over the fakes."""
    from agents.session import EngineSettings
    from bot.remediation import ApprovalPolicy, Signer
    from bot.workflow.service import Workflow

    signer = Signer(SIGNER_KEY)
    surface = teams_surface(fake, factory, signer)
    return Workflow(factory, {"teams": surface, **(surfaces or {})}, sources or no_sources(),
                    EngineSettings(engine="offline"), executor, concurrency=2,
                    policy=ApprovalPolicy.build(medium=approvers, **policy_kw), signer=signer)
