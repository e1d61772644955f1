"""How a follow-up answer reads in the thread: the same plain text on every surface."""
from __future__ import annotations

from agents.followup.reply import FollowupResult
from tools.taxonomy import category_label


def answer_text(number: int, result: FollowupResult, revised: tuple[int, int] | None = None) -> str:
    """`revised`: (new version, the version it replaces) when the answer revised the diagnosis."""
    lines = [f"*Question {number}:* {result.reply.text}"]
    if revised is not None and result.reply.revision is not None:
        d = result.reply.revision
        lines.append(f"*Diagnosis revised:* version {revised[0]} ({category_label(d.category)}"
                     + (f", {d.component}" if d.component else "") + f") replaces version {revised[1]}, which is "
                     "kept; it is posted below.")
    if result.dropped_proposals:
        lines.append("Not offered: " + "; ".join(f"{p.action_type} {p.target}: {why}"
                                                  for p, why in result.dropped_proposals[:5]))
    u = result.usage
    cost = f" · {u.input_tokens + u.output_tokens:,} tokens · ${u.cost_usd:.4f}" if u.input_tokens or u.output_tokens else ""
    foot = f"_{result.engine} · {result.tool_calls} tool call(s){cost}_"
    if result.fallback_reason:
        foot += f"\n_the model was unavailable ({result.fallback_reason[:200]}); answered without it_"
    return "\n".join(lines + [foot])
