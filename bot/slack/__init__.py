"""Slack surface: Block Kit rendering, the SlackSurface, identities, and the bolt app.

blocks.py    workflow views -> Block Kit JSON (pure functions, within Slack's limits)
surface.py   SlackSurface: bot.workflow.surface.Surface over slack_sdk's AsyncWebClient
identity.py  Slack user -> bot.remediation Identity, with user-group membership (cached)
app.py       slack-bolt AsyncApp: /diagnose, alert-channel auto-replies, approval buttons
"""
