"""Platform-neutral incident workflow: surfaces (Slack, console, Teams) only render and forward."""
