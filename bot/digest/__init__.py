"""The weekly knowledge digest: what happened, what the bot learned, how often its diagnoses were
right and where knowledge is missing, posted once a week to the configured Slack and Teams channels.

compute.py builds a typed Digest (model.py) from the database and the knowledge base for one ISO
week; summary.py writes its opening paragraph (the model when one is configured, else fixed text);
view.py words it once, and render_text/render_slack/render_teams lay that wording out per surface;
charts.py draws its two PNGs; post.py posts it once per week and channel; service.py ties these
together for the periodic tick, `chatops digest` and the console's /digest.
"""
