"""What arrives from Teams, as activity JSON, handed to the platform-neutral Workflow (bot/slack/app.py's
counterpart). bot/teams/endpoint.py authenticates and checks each activity first.

- Every message, conversationUpdate, installationUpdate and click stores the conversation's
  reference (bot/teams/references.py): proactive posts need it, also after a restart.
- `@bot diagnose <service | namespace/pod | alert text>` in a channel, group chat or personal chat
  (no mention needed there) → workflow.on_command; in a channel the investigation is answered in
  the message's reply chain. `@bot help`, and anything else said to the bot, answers with the
  usage: unlike a Slack mention, other text is not taken as a target, since a personal chat with
  the bot would otherwise turn every remark into an investigation.
- A reply that @mentions the bot in the reply chain of one of its posted diagnoses is a follow-up
  question about that incident (`workflow.on_followup`, bot/workflow/followup.py), answered in the
  chain; in any other chain the mention does what it did before. Chats have no reply chains, so
  follow-ups are asked in channels only.
- Posts in TEAMS_ALERT_CHANNELS by other bots, connectors and Workflows (Power Automate cards,
  prometheus-msteams, Grafana) are parsed with tools.intake.parse_teams_activity and diagnosed in
  their reply chain, deduplicated by alert fingerprint like Slack's; an edited alert post counts only
  when it now says resolved. Human posts there are never auto-diagnosed; the bot ignores itself.
- Approve/reject buttons: an `adaptiveCard/action` invoke (Action.Execute) or an Action.Submit
  message → workflow.on_click with the clicker's Identity (Entra object id and approver groups).
- Feedback buttons, with the same Identity: "Right cause" → workflow.on_feedback; "Wrong cause" →
  workflow.feedback_form, answered with the form card (bot/teams/feedback_cards.py), whose submit
  → workflow.on_feedback with the real cause and its line of text.
  The invoke is answered within CLICK_WAIT seconds with the refreshed card, or with a message only
  the clicker sees (a refusal); a slower click (an action being executed) is answered "working on
  it" and the card is updated for everyone when it finishes.
"""
from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from bot.background import Background
from bot.teams import cards, references
from bot.teams.feedback_cards import (VERB_CANCEL, VERB_SUBMIT, FeedbackClick, card_of_click, feedback_data,
                                     form_card)
from bot.teams.identity import TeamsIdentities
from bot.teams.references import bare_id, thread_of
from bot.teams.surface import CLICK, ClickReply, TeamsSurface
from bot.workflow.surface import MessageRef
from tools.intake import AlertGroup, parse_teams_activity

log = logging.getLogger(__name__)

PLATFORM = "teams"
CLICK_WAIT = 4.0  # seconds an invoke waits for the click's outcome; Teams gives up on invokes after ~5 s
_MENTION = re.compile(r"<at>[^<]{0,200}</at>", re.I)
NO_AAD_ID = ("Teams did not say who you are (this click carries no Entra object id), so the approval rules "
             "cannot be checked. Nothing was changed.")
WORKING = "Working on it: this card is updated for everyone when the action has run."


def usage(bot: str) -> str:
    at = f"@{bot}" if bot else "@bot"
    return (f"Usage: `{at} diagnose <service | namespace/pod | alert text>`, e.g. `{at} diagnose shop/checkout` or "
            f"`{at} diagnose KubePodCrashLooping shop/cart-7d9f8c6b5-x2kqz`. In a channel I answer in the "
            f"message's reply chain; alert posts in the alert channels are diagnosed without asking.")


def _kind(activity: dict) -> str:
    conv = activity["conversation"]
    return str(conv.get("conversationType") or ("groupChat" if conv.get("isGroup") else "personal"))


def _tenant(activity: dict) -> str | None:
    tenant = activity["conversation"].get("tenantId")
    if not tenant:
        data = activity.get("channelData") or {}
        tenant = (data.get("tenant") or {}).get("id") if isinstance(data.get("tenant"), dict) else None
    return str(tenant) if tenant else None


def _root(activity: dict) -> str | None:
    """The reply chain a channel message belongs to (its own id for a new post); None in chats."""
    if _kind(activity) != "channel":
        return None
    return thread_of(activity["conversation"]["id"]) or activity.get("id") or None


def _mentioned(activity: dict) -> bool:
    me = activity["recipient"]["id"]
    return any(e.get("type") == "mention" and isinstance(e.get("mentioned"), dict) and e["mentioned"].get("id") == me
               for e in activity.get("entities") or [])


def _text(activity: dict) -> str:
    """What was said, without the @mentions, whitespace folded."""
    return " ".join(_MENTION.sub(" ", activity.get("text") or "").split())


def _human(activity: dict) -> bool:
    """People have an Entra object id and a 29: id; bots, connectors and Workflows (28:) do not."""
    sender = activity["from"]
    return bool(sender.get("aadObjectId")) and not sender["id"].startswith("28:") and sender.get("role") != "bot"


def _click_reply(activity: dict, invoke: bool) -> ClickReply:
    sender = activity["from"]
    return ClickReply(user=sender.get("aadObjectId") or sender["id"], teams_id=sender["id"],
                      name=sender.get("name") or "", activity_id=activity.get("replyToId") or "", invoke=invoke)


class TeamsBot:
    def __init__(self, workflow: Any, surface: TeamsSurface, identities: TeamsIdentities,
                 alert_channels: frozenset[str], *, concurrency: int = 4, click_wait: float = CLICK_WAIT):
        self.workflow = workflow
        self.surface = surface
        self.identities = identities
        self.alert_channels = alert_channels
        self.click_wait = click_wait
        self.background = Background(concurrency)

    # ---- entry ------------------------------------------------------------------------------
    async def handle(self, activity: dict) -> dict | None:
        """The invoke response body for an invoke, else None (answered 200 at once; the work runs in
        the background, as a Slack event's does)."""
        kind = activity["type"]
        if activity["from"]["id"] == activity["recipient"]["id"]:
            return None  # our own activity echoed back
        if kind == "invoke":
            self.background.submit(self.remember(activity))
            return await self.on_invoke(activity)
        if kind in ("message", "messageUpdate", "conversationUpdate", "installationUpdate"):
            self.background.submit(self._dispatch(activity))
        return None

    async def _dispatch(self, activity: dict) -> None:
        await self.remember(activity)
        if activity["type"] == "message":
            await self.on_message(activity)
        elif activity["type"] == "messageUpdate":
            await self.on_alert_post(activity, edited=True)

    # ---- references ---------------------------------------------------------------------------
    async def remember(self, activity: dict) -> None:
        """Store (or forget) the references this activity tells about."""
        conv, tenant = bare_id(activity["conversation"]["id"]), _tenant(activity)
        data = activity.get("channelData") or {}
        team = data.get("team") if isinstance(data.get("team"), dict) else {}
        channel = data.get("channel") if isinstance(data.get("channel"), dict) else {}
        me = activity["recipient"]["id"]
        if any(m.get("id") == me for m in activity.get("membersRemoved") or []) or (
                activity["type"] == "installationUpdate" and str(activity.get("action", "")).startswith("remove")):
            await self._forget(conv)
            return
        base = self.surface.adapter.reference_of(activity)
        # Names arrive only with team and channel events; a later message keeps the stored one.
        name = ((channel.get("name") if channel.get("id") == conv else None)
                or (team.get("name") if team.get("id") == conv else None))
        found = [references.describe(base, conv, tenant, name)]
        if isinstance(channel.get("id"), str) and channel["id"] != conv:  # channelCreated, channelRenamed, …
            if data.get("eventType") == "channelDeleted":
                await self._forget(channel["id"])
            else:
                as_channel = {**base, "conversation": {**base["conversation"], "conversationType": "channel",
                                                       "isGroup": True}}
                found.append(references.describe(as_channel, channel["id"], tenant, channel.get("name")))
        for ref in found:
            await asyncio.to_thread(references.save, self.surface.factory, ref)
            self.surface.remember_reference(ref)

    async def _forget(self, conversation: str) -> None:
        await asyncio.to_thread(references.forget, self.surface.factory, conversation)
        self.surface.forget_reference(conversation)

    # ---- messages -----------------------------------------------------------------------------
    async def on_message(self, activity: dict) -> None:
        data = cards.action_data(activity.get("value"))
        if data is not None:  # an Action.Submit button (clients without Universal Actions)
            await self.click(activity, data, _click_reply(activity, invoke=False))
            return
        feedback = feedback_data(activity.get("value"))
        if feedback is not None:
            await self.feedback(activity, feedback, _click_reply(activity, invoke=False))
            return
        if not _human(activity):
            await self.on_alert_post(activity)
        elif _mentioned(activity) and await self.on_followup(activity):
            return
        elif _kind(activity) == "personal" or _mentioned(activity):
            await self.on_command(activity)

    async def on_followup(self, activity: dict) -> bool:
        """Ask the workflow whether this mention is a question in one of its diagnosis chains: True when
        it was taken (or refused with a reason, said in the chain), False when the mention is not one."""
        root, aid = _root(activity), activity.get("id")
        if not root or not aid or root == aid:  # a new post starts a chain: it is not a reply in one
            return False
        channel, sender = bare_id(activity["conversation"]["id"]), activity["from"]
        try:
            asked = await self.workflow.on_followup(_text(activity), platform=PLATFORM, channel=channel, thread=root,
                                                    user=sender.get("aadObjectId") or sender["id"], message_id=aid)
        except Exception as exc:
            log.exception("Teams follow-up in %s failed", channel[:120])
            await self.surface.post_text(channel, f"Sorry, the question could not be asked: {type(exc).__name__}.",
                                         thread=root)
            return True
        if asked.handled and asked.message:  # Teams has no private message: said in the chain, as on_command does
            await self.surface.post_text(channel, asked.message, thread=root)
        return asked.handled

    async def on_command(self, activity: dict) -> None:
        channel, root, bot = bare_id(activity["conversation"]["id"]), _root(activity), activity["recipient"].get("name")
        text = _text(activity)
        first, _, target = text.partition(" ")
        if first.lower() != "diagnose":  # help, or anything else: chatter must not start investigations
            await self.surface.post_text(channel, usage(bot or ""), thread=root)
            return
        sender = activity["from"]
        try:
            problem = await self.workflow.on_command(
                target, platform=PLATFORM, channel=channel, user=sender.get("aadObjectId") or sender["id"],
                request_id=f"{activity['conversation']['id']}:{activity.get('id') or ''}", thread=root)
        except Exception as exc:
            log.exception("Teams command in %s failed", channel[:120])
            problem = f"Sorry, the investigation could not start: {type(exc).__name__}."
        if problem:
            # The workflow words its usage for Slack's slash command; here the command is a mention.
            problem = problem.replace("`/diagnose", f"`@{bot or 'bot'} diagnose").replace("/diagnose", "diagnose")
            await self.surface.post_text(channel, problem, thread=root)

    async def on_alert_post(self, activity: dict, edited: bool = False) -> None:
        channel = bare_id(activity["conversation"]["id"])
        if channel not in self.alert_channels or _human(activity):
            return
        parsed = parse_teams_activity({**activity, "type": "message"})
        if not isinstance(parsed, AlertGroup):
            log.debug("post %s in %s is not an alert: %s", activity.get("id"), channel[:120], parsed.reason)
            return
        if edited:  # a re-rendered firing alert is not news; a resolve is
            resolved = [a for a in parsed.alerts if a.status == "resolved"]
            if not resolved:
                return
            parsed = parsed.model_copy(update={"alerts": resolved, "status": "resolved"})
        sender = activity["from"].get("name") or activity["from"]["id"]
        await self.workflow.on_alert_group(parsed, platform=PLATFORM, channel=channel, thread=_root(activity),
                                           source="teams", actor=f"teams:{sender}"[:200])

    # ---- clicks -------------------------------------------------------------------------------
    async def on_invoke(self, activity: dict) -> dict:
        data = cards.action_data(activity.get("value"))
        feedback = feedback_data(activity.get("value")) if data is None else None
        if data is None and feedback is None:
            return {"statusCode": 400, "type": "application/vnd.microsoft.error",
                    "value": {"code": "BadRequest", "message": "not an action of this bot's cards"}}
        reply = _click_reply(activity, invoke=True)
        work = asyncio.ensure_future(self.click(activity, data, reply) if data is not None
                                     else self.feedback(activity, feedback, reply))
        self.background.tasks.add(work)
        work.add_done_callback(self.background.tasks.discard)
        await asyncio.wait({work}, timeout=self.click_wait)
        reply.answered = True  # from now on, notes for the clicker go to the thread
        if reply.card is not None:
            return {"statusCode": 200, "type": cards.CONTENT_TYPE, "value": reply.card}
        return {"statusCode": 200, "type": "application/vnd.microsoft.activity.message",
                "value": reply.message or WORKING}

    async def _clicker(self, activity: dict, reply: ClickReply) -> tuple[str, str | None, bool]:
        """(channel, thread, whether the clicker can be identified) of a click, told when they cannot."""
        conv = activity["conversation"]["id"]
        channel, thread = bare_id(conv), thread_of(conv)
        CLICK.set(reply)  # this task's own context: the surface answers this click through it
        if not activity["from"].get("aadObjectId"):
            await self.surface.ephemeral(channel, reply.user, NO_AAD_ID, thread=thread)
            return channel, thread, False
        return channel, thread, True

    async def _identity(self, activity: dict) -> Any:
        sender = activity["from"]
        return await self.identities.resolve(sender["aadObjectId"], display=sender.get("name") or "",
                                             tenant=_tenant(activity))

    async def click(self, activity: dict, data: tuple[str, str, str], reply: ClickReply) -> None:
        decision, proposal_id, token = data
        channel, thread, known = await self._clicker(activity, reply)
        if not known:
            return
        try:
            identity = await self._identity(activity)
            await self.workflow.on_click(platform=PLATFORM, channel=channel,
                                         message=MessageRef(channel, reply.activity_id, thread),
                                         proposal_id=proposal_id, token=token, identity=identity, decision=decision)
        except Exception as exc:
            log.exception("Teams %s click on proposal %s failed", decision, proposal_id)
            await self.surface.ephemeral(channel, reply.user, f"Your {decision} could not be processed: "
                                         f"{type(exc).__name__}. Nothing was changed; try again or use "
                                         "`chatops proposals`.", thread=thread)

    async def feedback(self, activity: dict, click: FeedbackClick, reply: ClickReply) -> None:
        channel, thread, known = await self._clicker(activity, reply)
        if not known:
            return
        # The form's buttons name the diagnosis card they came from (an older client posts the form apart).
        ref = MessageRef(channel, card_of_click(click, self.surface.signer) or reply.activity_id, thread)
        try:
            args = dict(platform=PLATFORM, channel=channel, message=ref, diagnosis_id=click.diagnosis_id,
                        token=click.token, identity=await self._identity(activity))
            if click.verb == cards.VERB_RIGHT:
                await self.workflow.on_feedback(**args, verdict="right")
            elif click.verb == VERB_SUBMIT:
                await self.workflow.on_feedback(**args, verdict="wrong", category=click.category, note=click.note)
            elif click.verb == cards.VERB_WRONG:
                form = await self.workflow.feedback_form(**args)
                card = form_card(form, ref.ts, self.surface.signer) if form is not None else None
                if card is not None and reply.invoke:
                    reply.card = card  # replaces the card for the clicker only
                elif card is not None:
                    await self.surface.post_card(channel, thread, card)
            elif click.verb == VERB_CANCEL:
                reply.card = await self.surface.diagnosis_card(ref, click.diagnosis_id)
                reply.message = None if reply.card is not None else "Cancelled; nothing was recorded."
        except Exception as exc:
            log.exception("Teams feedback click on diagnosis %s failed", click.diagnosis_id)
            await self.surface.ephemeral(channel, reply.user, f"Your feedback could not be processed: "
                                         f"{type(exc).__name__}. Nothing was recorded; try again.", thread=thread)
