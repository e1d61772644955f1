"""The floor for `chatops serve`'s start-up (bench/startup.py): a bare process that imports only what
serving cannot avoid (aiohttp, slack-bolt's async app and aiohttp adapter, SQLAlchemy with its ORM)
and answers GET /healthz.

    .venv/bin/python bench/startup_baseline.py PORT
"""
import sys

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response  # noqa: F401 (imported: serving needs it)
from slack_bolt.async_app import AsyncApp  # noqa: F401
from sqlalchemy.orm import DeclarativeBase  # noqa: F401


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


if __name__ == "__main__":
    app = web.Application()
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
