"""The chart posted with a diagnosis: the key Prometheus series around the alert."""
from __future__ import annotations

import asyncio
import importlib
import logging
from datetime import timedelta

from agents.diagnosis import Diagnosis
from agents.trigger import Trigger
from tools.sources import Sources

log = logging.getLogger(__name__)


async def chart_for(sources: Sources, d: Diagnosis, trigger: Trigger, minutes: int = 90) -> tuple[bytes, str] | None:
    url = sources.config.prometheus_url if sources.config else None
    if not url or "prometheus" in sources.unavailable or d.category == "unknown":
        return None
    try:
        # The first import loads matplotlib (~0.5 s): in a worker thread, like the rendering itself.
        charts = await asyncio.to_thread(importlib.import_module, "bot.charts")
        query, title, unit = charts.pick_chart_query(d.category, d.component, trigger.namespace)
        now = sources.ctx.now()
        start = now - timedelta(minutes=minutes)

        def fetch():
            from prometheus_api_client import PrometheusConnect

            prom = PrometheusConnect(url=url, disable_ssl=True, timeout=sources.ctx.timeout)
            return prom.custom_query_range(query, start_time=start, end_time=now, step="60s")

        series = await asyncio.wait_for(asyncio.to_thread(fetch), sources.ctx.timeout + 2)
        if not series:
            return None
        alert_time = trigger.alert.starts_at if trigger.alert else None
        png = await asyncio.to_thread(charts.render_series_png, series, title, alert_time, now, unit)
        return png, title
    except Exception as exc:  # a missing chart never blocks a diagnosis
        log.info("no chart: %s", exc)
        return None
