"""Build the Teams app package (the zip you sideload or upload) from manifest.json and the icons.

    python deploy/teams/package.py --app-id <Microsoft App ID> --domain bot.example.com \
        [--developer "Example Ltd"] [-o chatops-teams.zip]
    python deploy/teams/package.py --icons     # redraw color.png (192x192) and outline.png (32x32)

`${{NAME}}` placeholders in manifest.json are replaced; one left unfilled is an error.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PLACEHOLDER = re.compile(r"\$\{\{([A-Z_]+)\}\}")
BLUE, WHITE = (31, 111, 235, 255), (255, 255, 255, 255)


def fill(text: str, values: dict[str, str]) -> str:
    missing = sorted({m for m in PLACEHOLDER.findall(text) if not values.get(m)})
    if missing:
        raise SystemExit(f"package.py: no value for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def package(values: dict[str, str], out: Path) -> Path:
    manifest = json.loads(fill((HERE / "manifest.json").read_text(), values))
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest, indent=2))
        for icon in ("color.png", "outline.png"):
            z.write(HERE / icon, icon)
    return out


def _mark(draw, box: tuple[int, int, int, int], width: int, fill) -> None:  # noqa: ANN001
    """A speech bubble with a pulse line: chat + monitoring."""
    x0, y0, x1, y1 = box
    h = y1 - y0
    draw.rounded_rectangle((x0, y0, x1, y0 + h * 0.78), radius=h * 0.18, outline=fill, width=width)
    draw.polygon([(x0 + h * 0.22, y0 + h * 0.76), (x0 + h * 0.22, y1), (x0 + h * 0.46, y0 + h * 0.76)], fill=fill)
    mid = y0 + h * 0.39
    w = x1 - x0
    pts = [(x0 + w * 0.14, mid), (x0 + w * 0.36, mid), (x0 + w * 0.46, mid - h * 0.2), (x0 + w * 0.56, mid + h * 0.2),
           (x0 + w * 0.64, mid), (x0 + w * 0.86, mid)]
    draw.line(pts, fill=fill, width=width, joint="curve")


def icons() -> None:
    from PIL import Image, ImageDraw

    color = Image.new("RGBA", (192, 192), BLUE)  # full-bleed colour icon
    _mark(ImageDraw.Draw(color), (36, 40, 156, 152), 10, WHITE)
    color.save(HERE / "color.png", optimize=True)
    outline = Image.new("RGBA", (32, 32), (0, 0, 0, 0))  # white on transparent, as Teams requires
    _mark(ImageDraw.Draw(outline), (3, 4, 29, 28), 2, WHITE)
    outline.save(HERE / "outline.png", optimize=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--app-id", help="the Azure Bot's Microsoft App ID (TEAMS_APP_ID)")
    p.add_argument("--domain", help="host name of the messaging endpoint, e.g. bot.example.com")
    p.add_argument("--developer", default="ChatOps incident bot", help="developer name shown in Teams")
    p.add_argument("-o", "--output", type=Path, default=Path("chatops-teams.zip"))
    p.add_argument("--icons", action="store_true", help="redraw the icons instead")
    args = p.parse_args(argv)
    if args.icons:
        icons()
        return 0
    values = {"TEAMS_APP_ID": args.app_id or "", "BOT_DOMAIN": args.domain or "", "DEVELOPER_NAME": args.developer}
    print(package(values, args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
