"""Microsoft Teams: the Bot Framework endpoint (POST /api/messages), proactive posting from stored
conversation references, Adaptive Cards and clicks, all driving the platform-neutral Workflow.
Only bot/teams/adapter.py imports the Bot Framework SDK."""
