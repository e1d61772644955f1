"""Follow-up questions in diagnosis threads: storage (store.py) and how an answer reads (render.py);
the workflow side is bot/workflow/followup.py, the engines agents/followup/."""
