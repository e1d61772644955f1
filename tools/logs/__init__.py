"""Log reduction for agents: masking, level detection and Drain3 template mining."""
from tools.logs.levels import detect_level
from tools.logs.templates import LogTemplate, LogTemplateMiner, mine_templates

__all__ = ["LogTemplate", "LogTemplateMiner", "detect_level", "mine_templates"]
