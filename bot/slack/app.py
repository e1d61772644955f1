"""The slack-bolt AsyncApp: what arrives from Slack, handed to the platform-neutral Workflow.

- `/diagnose <service | ns/pod | alert text>`: acknowledged at once (Slack allows 3 s; a
  diagnosis takes minutes), then `workflow.on_command`; its complaint about a bad argument goes
  back to the user only (response_url, ephemeral).
- Messages in SLACK_ALERT_CHANNELS posted by *bots* (Alertmanager's Slack notifier, Grafana,
  PagerDuty, Datadog...; `bot_id` or subtype `bot_message`) are parsed with
  tools.intake.parse_slack_message; an alert is diagnosed in that message's thread, anything
  else is chatter and ignored silently. Messages from humans are never auto-diagnosed, even if
  they look like an alert: people quote and discuss alerts there, and a pasted alert must not
  start an investigation nobody asked for; `/diagnose` or a mention asks explicitly. An edited
  alert message (message_changed) counts only when it now says *resolved*: edits that merely
  re-render a firing alert (unfurls, counters) would otherwise post "still firing" noise.
- Mentioning the bot in the thread of one of its posted diagnoses asks a follow-up question about
  that incident (`workflow.on_followup`, bot/workflow/followup.py), answered in the thread; in any
  other thread whose parent is an alert it diagnoses that alert; a mention with text elsewhere
  works like /diagnose.
- The bot ignores itself: bolt's ignoring_self_events plus a check of bot_id/user (also inside
  message_changed) against auth.test, so its own replies in alert channels never loop.
- Approve/reject buttons (`proposal_approve` / `proposal_reject`, value `<proposal id>|<token>`)
  are acknowledged at once and forwarded to `workflow.on_click` with the clicker's Identity
  (user groups included); the workflow updates the message or answers the clicker ephemerally.
- Feedback buttons (`feedback_right` / `feedback_wrong`, value `<diagnosis id>|<token>`), with the
  same Identity: "Right cause" goes to `workflow.on_feedback`; "Wrong cause" asks the workflow
  whether the clicker may answer, then opens a modal (bot/slack/feedback_modal.py) with the click's
  trigger_id, whose view_submission records the real cause through `workflow.on_feedback`.
- Clicks and submissions by a user of another workspace than the bot token's (Slack Connect) are
  refused before any of that, privately and audited (`workflow.refuse_click`).
"""
from __future__ import annotations

import logging
import re
from collections import OrderedDict
from typing import Any, Iterable

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.background import Background
from bot.remediation import Identity
from bot.slack.blocks import APPROVE, FEEDBACK_RIGHT, FEEDBACK_WRONG, REJECT, esc
from bot.slack.feedback_modal import CALLBACK, Submission, modal, read_submission
from bot.slack.identity import SlackIdentities
from bot.slack.inbound import Handled
from bot.slack.surface import SlackSurface
from bot.workflow.surface import MessageRef
from tools.intake import AlertGroup, parse_slack_message

log = logging.getLogger(__name__)

COMMAND = "/diagnose"
PLATFORM = "slack"
_MENTION = re.compile(r"<@[UW][A-Z0-9]+(\|[^>]*)?>")
_CHATTER_SUBTYPES = {"channel_join", "channel_leave", "channel_topic", "channel_purpose", "channel_name",
                     "message_deleted", "message_replied", "pinned_item", "unpinned_item", "group_join",
                     "group_leave", "ekm_access_denied", "thread_broadcast_deleted"}
# What the listeners below handle; bot.server refuses anything else before bolt sees it.
HANDLED = Handled(commands=frozenset({COMMAND}), events=frozenset({"message", "app_mention"}),
                  actions=frozenset({APPROVE, REJECT, FEEDBACK_RIGHT, FEEDBACK_WRONG}),
                  views=frozenset({CALLBACK}))
FOREIGN = ("Buttons here answer only members of this workspace; your click came from another one, "
           "so nothing was done.")
MENTION_USAGE = ("Mention me in the thread of an alert to diagnose it, or use "
                 "`/diagnose <service | namespace/pod | alert text>`.")


class _Seen:
    """Recently handled event ids, in this process. Slack's redeliveries of an event that did arrive
    are already answered before bolt (bot.server); this catches the rest within one process. A
    second replica has its own memory, so there the database dedupe decides: the alert fingerprint
    for alert messages, the request id (event id) for mention commands."""

    def __init__(self, size: int = 2000):
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first_time(self, event_id: str | None) -> bool:
        if not event_id:
            return True
        if event_id in self._ids:
            return False
        self._ids[event_id] = None
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return True


def _is_bot(message: dict) -> bool:
    return bool(message.get("bot_id")) or message.get("subtype") == "bot_message"


def _is_self(message: dict, context: Any) -> bool:
    own_bot, own_user = context.get("bot_id"), context.get("bot_user_id")
    return bool((own_bot and message.get("bot_id") == own_bot) or (own_user and message.get("user") == own_user))


def workspace_of(body: dict) -> tuple[str, str]:
    """(team id, Enterprise Grid org id) of whoever clicked: the user's own team first (in a shared
    channel the payload's `team` can be the channel's host), else the payload's."""
    user, team, org = (body.get(k) if isinstance(body.get(k), dict) else {} for k in ("user", "team", "enterprise"))
    return str(user.get("team_id") or team.get("id") or ""), str(org.get("id") or team.get("enterprise_id") or "")


def at_home(theirs: tuple[str, str], team_id: str | None, enterprise_id: str | None) -> bool:
    """Whether a clicker of `theirs` belongs where the bot token does (auth.test): the same workspace,
    or the same Enterprise Grid organisation (an org-wide install)."""
    team, org = theirs
    return bool(team and team == team_id) or bool(org and org == enterprise_id)


def _sender(message: dict) -> str:
    profile = message.get("bot_profile") if isinstance(message.get("bot_profile"), dict) else {}
    return str(profile.get("name") or message.get("username") or message.get("bot_id") or message.get("user") or "")


def create_bolt_app(workflow: Any, *, client: AsyncWebClient, signing_secret: str | None,
                    alert_channels: Iterable[str], identities: SlackIdentities,
                    surface: SlackSurface | None = None) -> AsyncApp:
    """The bolt app. `signing_secret` may be None only in Socket Mode (requests are not signed there)."""
    # Signatures are verified on the exact bytes by bot/slack/inbound.py before anything reaches
    # bolt (Socket Mode requests are not signed at all), and the server may hand bolt a re-encoded
    # body (see bot/server.py: bolt's form parser loses commands containing "payload"), so bolt's
    # own check, which would need the original bytes, is off.
    app = AsyncApp(client=client, signing_secret=signing_secret or "", name="chatops",
                   ignoring_self_events_enabled=True, request_verification_enabled=False)
    alert_channels = frozenset(alert_channels)
    seen = _Seen()
    intake = Background(concurrency=4)

    async def tell(channel: str, user: str, text: str, thread: str | None = None) -> None:
        try:
            kw = {"thread_ts": thread} if thread else {}
            await client.chat_postEphemeral(channel=channel, user=user, text=esc(text), **kw)
        except SlackApiError as exc:
            log.warning("could not tell %s in %s: %s", user, channel, exc.response.get("error"))

    # ---- /diagnose --------------------------------------------------------------------------
    @app.command(COMMAND)
    async def diagnose(ack, command, respond):  # noqa: ANN001
        await ack()  # first, always: Slack shows an error after 3 s, a diagnosis takes minutes
        # Starting an investigation (DB rows, the "Investigating…" post) runs in a small bounded
        # pool, not inline: a burst of 200 commands must not starve the loop writing the acks.
        intake.submit(start_command(command, respond))

    async def start_command(command, respond):  # noqa: ANN001, ANN202
        channel, user = command.get("channel_id", ""), command.get("user_id", "")
        try:
            # trigger_id is unique per invocation: a replayed or re-sent request opens nothing new
            problem = await workflow.on_command(command.get("text") or "", platform=PLATFORM, channel=channel,
                                                user=user, request_id=command.get("trigger_id") or None)
        except SlackApiError as exc:
            err = exc.response.get("error")
            problem = (f"I cannot post in this channel ({err}). Invite me with `/invite @chatops-bot` and try again."
                       if err in ("not_in_channel", "channel_not_found") else f"Slack refused my message: {err}.")
            log.warning("/diagnose in %s failed: %s", channel, err)
        except Exception as exc:
            log.exception("/diagnose in %s failed", channel)
            problem = f"Sorry, the investigation could not start: {type(exc).__name__}."
        if problem:
            try:  # response_url works even where the bot is not a member; it answers errors as a status
                sent = await respond(text=esc(problem), response_type="ephemeral", replace_original=False)
                ok = getattr(sent, "status_code", 200) == 200
            except Exception:
                log.info("response_url failed", exc_info=True)
                ok = False
            if not ok:  # expired or unreachable response_url: an ephemeral message still reaches them
                await tell(channel, user, problem)

    # ---- alert channels -----------------------------------------------------------------------
    @app.event("message")
    async def on_message(event, body, context):  # noqa: ANN001
        channel = event.get("channel")
        if channel not in alert_channels or not seen.first_time(body.get("event_id")):
            return
        subtype = event.get("subtype")
        if subtype in _CHATTER_SUBTYPES:
            return
        message = event.get("message") if subtype == "message_changed" and isinstance(event.get("message"), dict) \
            else event
        if _is_self(event, context) or _is_self(message, context) or not _is_bot(message):
            return
        parsed = parse_slack_message(event)
        if not isinstance(parsed, AlertGroup):
            log.debug("message %s in %s is not an alert: %s", message.get("ts"), channel, parsed.reason)
            return
        if subtype == "message_changed":
            resolved = [a for a in parsed.alerts if a.status == "resolved"]
            if not resolved:
                return
            parsed = parsed.model_copy(update={"alerts": resolved, "status": "resolved"})
        thread = message.get("thread_ts") or message.get("ts")
        try:
            await workflow.on_alert_group(parsed, platform=PLATFORM, channel=channel, thread=thread, source="slack",
                                          actor=f"slack:{_sender(message)}"[:200])
        except Exception:
            log.exception("alert message %s in %s could not be handled", thread, channel)

    @app.event("app_mention")
    async def on_mention(event, body, context):  # noqa: ANN001
        if _is_bot(event) or _is_self(event, context) or not seen.first_time(body.get("event_id")):
            return
        channel, user, thread = event.get("channel", ""), event.get("user", ""), event.get("thread_ts")
        text = _MENTION.sub("", event.get("text") or "").strip()
        try:
            if thread:
                # In the thread of one of our diagnoses, a mention is a follow-up question about it.
                asked = await workflow.on_followup(text, platform=PLATFORM, channel=channel, thread=thread, user=user,
                                                   message_id=event.get("ts") or body.get("event_id") or "")
                if asked.handled:
                    if asked.message:
                        await tell(channel, user, asked.message, thread)
                    return
                resp = await client.conversations_replies(channel=channel, ts=thread, limit=1)
                parent = (resp.get("messages") or [{}])[0]
                parsed = parse_slack_message({**parent, "channel": channel})
                if isinstance(parsed, AlertGroup) and parsed.alerts:
                    await workflow.on_alert_group(parsed, platform=PLATFORM, channel=channel, thread=thread,
                                                  source="slack", actor=f"slack:{user}")
                    return
            problem = await workflow.on_command(text, platform=PLATFORM, channel=channel, user=user,
                                                request_id=body.get("event_id") or None) if text else MENTION_USAGE
        except Exception as exc:
            log.exception("mention in %s failed", channel)
            problem = f"Sorry, that did not work: {type(exc).__name__}."
        if problem:
            await tell(channel, user, problem, thread)

    # ---- buttons ------------------------------------------------------------------------------
    async def clicked(body: dict, action: dict, what: str) -> tuple[MessageRef, str, str, str] | None:
        """(the clicked message, the clicker's user id, the subject id, the token) of a button whose
        value is `<id>|<token>`; None after telling the clicker the button is not valid."""
        user = body.get("user") or {}
        container = body.get("container") or {}
        message = body.get("message") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id", "")
        ts = container.get("message_ts") or message.get("ts", "")
        thread = container.get("thread_ts") or message.get("thread_ts")
        subject, sep, token = str(action.get("value") or "").partition("|")
        if not sep or not subject or not token:
            await tell(channel, user.get("id", ""), f"That button is not a valid {what} button.", thread)
            return None
        if surface is not None and isinstance(message.get("blocks"), list):
            surface.remember(channel, ts, message.get("text") or "", message["blocks"])  # freshest copy
        return MessageRef(channel, ts, thread), user.get("id", ""), subject, token

    async def clicker(body: dict, context: Any, ref: MessageRef, subject: str, event: str):  # noqa: ANN202
        """The clicker's Identity (user groups included), or None after refusing a user of another
        workspace (audited as `event` on `subject`): in a channel shared with another organisation
        (Slack Connect) their clicks reach us signed like anyone's, but the approver lists, user groups
        and requesters the rules speak of are this workspace's."""
        user = body.get("user") or {}
        display = user.get("username") or user.get("name") or ""
        theirs, ours = workspace_of(body), context.get("authorize_result")
        if ours is not None and at_home(theirs, ours.team_id, ours.enterprise_id):
            return await identities.resolve(user.get("id", ""), display=display)
        await workflow.refuse_click(platform=PLATFORM, channel=ref.channel, message=ref,
                                    identity=Identity(PLATFORM, user.get("id", ""), display=display), event=event,
                                    subject=subject, reason=FOREIGN, kind="other_workspace", team=theirs[0][:40])
        return None

    @app.action(re.compile(f"^({APPROVE}|{REJECT})$"))
    async def on_proposal_click(ack, body, action, context):  # noqa: ANN001
        await ack()
        decision = "approve" if action.get("action_id") == APPROVE else "reject"
        found = await clicked(body, action, "approval")
        if found is None:
            return
        ref, user, proposal_id, token = found
        try:
            identity = await clicker(body, context, ref, f"proposal/{proposal_id}", "approval.denied")
            if identity is not None:
                await workflow.on_click(platform=PLATFORM, channel=ref.channel, message=ref, proposal_id=proposal_id,
                                        token=token, identity=identity, decision=decision)
        except Exception as exc:
            log.exception("%s click on proposal %s failed", decision, proposal_id)
            await tell(ref.channel, user, f"Your {decision} could not be processed: {type(exc).__name__}. "
                       "Nothing was changed; try again or use `chatops proposals`.", ref.thread)

    @app.action(re.compile(f"^({FEEDBACK_RIGHT}|{FEEDBACK_WRONG})$"))
    async def on_feedback_click(ack, body, action, context):  # noqa: ANN001
        await ack()
        found = await clicked(body, action, "feedback")
        if found is None:
            return
        ref, user, diagnosis_id, token = found
        try:
            identity = await clicker(body, context, ref, f"diagnosis/{diagnosis_id}", "feedback.denied")
            if identity is None:
                return
            if action.get("action_id") == FEEDBACK_RIGHT:
                await workflow.on_feedback(platform=PLATFORM, channel=ref.channel, message=ref,
                                           diagnosis_id=diagnosis_id, token=token, identity=identity, verdict="right")
                return
            form = await workflow.feedback_form(platform=PLATFORM, channel=ref.channel, message=ref,
                                                diagnosis_id=diagnosis_id, token=token, identity=identity)
            if form is not None:  # the trigger_id is valid for 3 s after the click
                await client.views_open(trigger_id=body.get("trigger_id") or "", view=modal(form, ref))
        except Exception as exc:
            log.exception("feedback click on diagnosis %s failed", diagnosis_id)
            await tell(ref.channel, user, f"Your feedback could not be processed: {type(exc).__name__}. "
                       "Nothing was recorded; try again.", ref.thread)

    @app.view(CALLBACK)
    async def on_feedback_submit(ack, body, view, context):  # noqa: ANN001
        got = read_submission(view)
        if not isinstance(got, Submission):
            await ack(response_action="errors", errors=got)  # the modal stays open with what was typed
            return
        await ack()
        user = body.get("user") or {}
        try:
            identity = await clicker(body, context, got.message, f"diagnosis/{got.diagnosis_id}", "feedback.denied")
            if identity is not None:
                await workflow.on_feedback(platform=PLATFORM, channel=got.message.channel, message=got.message,
                                           diagnosis_id=got.diagnosis_id, token=got.token, identity=identity,
                                           verdict="wrong", category=got.category, note=got.note)
        except Exception as exc:
            log.exception("feedback form on diagnosis %s failed", got.diagnosis_id)
            await tell(got.message.channel, user.get("id", ""), f"Your feedback could not be processed: "
                       f"{type(exc).__name__}. Nothing was recorded; try again.", got.message.thread)

    @app.error
    async def on_error(error, body):  # noqa: ANN001
        log.error("unhandled error in the Slack app: %s", error, exc_info=error)

    return app
