"""Regenerate every scenario bundle from the definitions in defs/ (deterministic: seeded RNGs).

    .venv/bin/python scenarios/_tools/generate.py [OUT_DIR] [--only ID]

OUT_DIR defaults to scenarios/. The bundles are committed as plain data; this script only exists
so they can be rebuilt or extended consistently.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "defs"))


def definitions() -> list:
    mods = sorted(p.stem for p in (HERE / "defs").glob("b*.py"))
    return [importlib.import_module(f"defs.{m}") for m in mods]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default=str(HERE.parent))
    ap.add_argument("--only", action="append", default=[])
    args = ap.parse_args(argv)
    out = Path(args.out)
    for mod in definitions():
        bundle = mod.build()
        if args.only and bundle.id not in args.only:
            continue
        d = bundle.write(out)
        size = sum(f.stat().st_size for f in d.rglob("*") if f.is_file())
        print(f"{bundle.id:40s} {size / 1e6:6.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
