"""Feedback on diagnoses: "Right cause" / "Wrong cause" from Slack, Teams and the console.

Platform-neutral, like bot.remediation: surfaces render FeedbackViews and forms and forward clicks to
the Workflow (on_feedback, feedback_form), which records them here (stored and audited together).
The incident's memory document then carries the people's verdict (bot/incident_memory.py).
"""
from bot.feedback.record import VERDICTS, FeedbackResult, open_form, record_feedback
from bot.feedback.view import (PROMPT, RIGHT, WRONG, FeedbackForm, FeedbackView, Settled, Verdict, feedback_lines,
                               fresh_view, settle, verdicts, view_of)

__all__ = ["PROMPT", "RIGHT", "VERDICTS", "WRONG", "FeedbackForm", "FeedbackResult", "FeedbackView", "Settled",
           "Verdict", "feedback_lines", "fresh_view", "open_form", "record_feedback", "settle", "verdicts",
           "view_of"]
