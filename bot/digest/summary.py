"""The digest's opening paragraph: written by the model when one is configured (the agent's
provider settings: LLM_PROVIDER, LLM_MODEL, LLM_BASE_URL and its key), from the digest's own
figures; otherwise, and whenever the model fails or answers nothing, a fixed deterministic text."""
from __future__ import annotations

import json
import logging
from typing import Any

from bot.digest.model import Digest
from bot.digest.view import duration, plural

log = logging.getLogger(__name__)
MAX_TOKENS = 400
MAX_CHARS = 1200
LIST_LIMIT = 20  # entries per list sent to the model: the paragraph needs the shape, not every row
SYSTEM = ("You write the opening paragraph of a weekly incident digest for an SRE team, from the figures given as "
          "JSON. Write 3 to 5 sentences of plain text: no lists, no Markdown, no greeting, no headings. Say what "
          "happened, what the bot learned, how often its diagnoses were right, and the one or two things the team "
          "should act on (noisy alerts to tune, missing runbooks, diagnoses marked wrong). Use only numbers that "
          "appear in the JSON; durations are in seconds, write them as minutes or hours.")


def deterministic(d: Digest) -> str:
    parts = [f"{plural(d.incidents, 'incident')} this week ({d.incidents_last_week} the week before)"]
    top = next((c for c in d.by_service if c.count), None)
    if top is not None and d.incidents > 1:
        parts[0] += f", most of them for {top.key} ({top.count})"
    parts[0] += "."
    resolve = next((t for t in d.timing if t.measure == "resolve"), None)
    if resolve is not None and resolve.n:
        parts.append(f"Median time to resolve was {duration(resolve.median_s)} (p90 {duration(resolve.p90_s)}).")
    t = d.scorecard.total
    if t.diagnoses:
        judged = t.right + t.wrong
        share = f" ({round(100 * t.right / judged)}% of those judged)" if judged else ""
        parts.append(f"Of {plural(t.diagnoses, 'diagnosis', 'diagnoses')}, {t.right} were confirmed right and "
                     f"{t.wrong} marked wrong{share}; {t.confirmed_by_action} confirmed by an action that resolved "
                     f"the alert.")
    r = d.remediations
    if r.executed:
        parts.append(f"{plural(len(r.executed), 'action')} ran: {r.succeeded} succeeded, {r.failed} failed.")
    todo = [f"tune {g.alert_name}" for g in d.recurring if "noisy" in g.suggestions]
    todo += [f"write a runbook for {g.alert_name}" for g in d.recurring if "runbook_missing" in g.suggestions]
    if d.learning_queue:
        todo.append(f"review {plural(len(d.learning_queue), 'diagnosis', 'diagnoses')} marked wrong")
    if todo:
        parts.append("To do: " + "; ".join(todo) + ".")
    return " ".join(parts)


def facts(d: Digest) -> dict[str, Any]:
    """The digest as the model reads it: its figures, long lists shortened."""
    data = d.model_dump(mode="json", exclude={"summary", "summary_by"})

    def shorten(node: Any) -> Any:
        if isinstance(node, list):
            return [shorten(x) for x in node[:LIST_LIMIT]]
        if isinstance(node, dict):
            return {k: shorten(v) for k, v in node.items()}
        return node
    return shorten(data)


async def summarize(d: Digest, engine: Any = None, client: Any = None) -> tuple[str, str]:
    """(paragraph, who wrote it: the model's name or "deterministic"). `engine` is an
    agents.session.EngineSettings; the model is used when it chooses a model provider (Anthropic, or
    an OpenAI-compatible endpoint, which may need no key)."""
    chosen = engine.chosen() if engine is not None else "offline"
    configured = engine is not None and (engine.api_key or client or (chosen == "openai" and engine.base_url))
    if chosen not in ("anthropic", "openai") or not configured:
        return deterministic(d), "deterministic"
    try:
        text = await (_ask_openai(d, engine, client) if chosen == "openai" else _ask(d, engine, client))
    except Exception as exc:  # any model failure: the digest still goes out, with the fixed text
        log.warning("digest summary by the model failed (%s: %s); using the deterministic text",
                    type(exc).__name__, str(exc)[:200])
        return deterministic(d), "deterministic"
    if not text:
        log.warning("the model wrote an empty digest summary; using the deterministic text")
        return deterministic(d), "deterministic"
    return text, engine.model


async def _ask(d: Digest, engine: Any, client: Any) -> str:
    from anthropic import AsyncAnthropic

    own = client is None
    client = client or AsyncAnthropic(api_key=engine.api_key, base_url=engine.base_url,
                                      max_retries=min(engine.max_retries, 2), timeout=60.0)
    try:
        msg = await client.messages.create(
            model=engine.model, max_tokens=MAX_TOKENS, system=SYSTEM,
            messages=[{"role": "user", "content": json.dumps(facts(d), ensure_ascii=False, sort_keys=True)}])
    finally:
        if own:
            await client.close()
    return _paragraph(" ".join(b.text for b in msg.content if getattr(b, "type", None) == "text"))


async def _ask_openai(d: Digest, engine: Any, client: Any) -> str:
    from openai import AsyncOpenAI

    own = client is None
    client = client or AsyncOpenAI(api_key=engine.api_key or "unused", base_url=engine.base_url,
                                   max_retries=min(engine.max_retries, 2), timeout=60.0)
    try:
        response = await client.chat.completions.create(
            model=engine.model, max_tokens=MAX_TOKENS,
            messages=[{"role": "system", "content": SYSTEM},
                      {"role": "user", "content": json.dumps(facts(d), ensure_ascii=False, sort_keys=True)}])
    finally:
        if own:
            await client.close()
    return _paragraph(response.choices[0].message.content or "" if response.choices else "")


def _paragraph(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1].rstrip() + "…"
