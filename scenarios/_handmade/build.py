"""Rebuild the handmade evaluation set (issue 14) from the stories in stories/.

    .venv/bin/python scenarios/_handmade/build.py [--out DIR] [ID ...]

DIR defaults to scenarios/handmade/ (whose set.yaml is written by hand, not here); IDs limit the
rebuild to those bundles. The bundles are committed as plain data; this script exists so a story
can be corrected and its bundle rebuilt consistently (deterministic: names and uids are hashes).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def build_all() -> list:
    """Every story's Bundle, in file order."""
    return [importlib.import_module(f"stories.{p.stem}").build() for p in sorted((HERE / "stories").glob("[a-z]*.py"))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(HERE.parent / "handmade"))
    ap.add_argument("ids", nargs="*", help="bundle ids to rebuild (default: all)")
    args = ap.parse_args(argv)
    bundles = {b.id: b for b in build_all()}
    unknown = sorted(set(args.ids) - set(bundles))
    if unknown:
        print(f"no story builds {', '.join(unknown)}; known: {', '.join(sorted(bundles))}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for bid in args.ids or sorted(bundles):
        written = bundles[bid].write(out)
        kb = sum(f.stat().st_size for f in written.rglob("*") if f.is_file()) / 1e3
        print(f"{bid:40s} {kb:8.1f} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
