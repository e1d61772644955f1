"""Regenerate the README configuration table from bot.settings.Settings."""
import re
import subprocess
import sys
from pathlib import Path

readme = Path(__file__).resolve().parent.parent / "README.md"
table = subprocess.run([sys.executable, "-m", "bot.cli", "config", "--markdown"], capture_output=True,
                       text=True, check=True).stdout.strip()
text = readme.read_text()
new = re.sub(r"(<!-- config-table[^>]*-->\n).*?(\n<!-- /config-table -->)", lambda m: m.group(1) + table + m.group(2),
             text, flags=re.S)
readme.write_text(new)
print("README configuration table updated" if new != text else "README configuration table already current")
