"""`chatops mcp`: the investigation as an MCP server (stdio and streamable HTTP).

Tools diagnose, read incidents, diagnoses and knowledge, and propose actions; no tool approves,
rejects or executes anything. A proposal made here goes through the workflow's own gates and is
posted with its buttons in the incident's chat thread, where a person decides.
"""
