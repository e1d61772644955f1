"""The Teams surface a process builds from its settings (`chatops serve` and `chatops worker`: workers
post proactively from the stored references, with the app's own credentials)."""
from __future__ import annotations

from typing import Any

from bot.teams.config import teams_config


def teams_surface(settings: Any) -> Any:
    """A TeamsSurface, or None when Teams is not configured (TeamsConfigError when misconfigured)."""
    config = teams_config(settings)
    if config is None:
        return None
    from bot.context import get_sessionmaker
    from bot.remediation import signer_from_settings
    from bot.teams.adapter import TeamsAdapter
    from bot.teams.surface import TeamsSurface

    return TeamsSurface(TeamsAdapter(config), get_sessionmaker(), signer_from_settings(settings))
