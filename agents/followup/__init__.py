"""Follow-up questions in a diagnosis thread: the incident's stored evidence in, an answer (and maybe a
revised diagnosis) out, by a model when one is configured, else by the offline answers."""
