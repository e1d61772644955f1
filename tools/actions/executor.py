"""ActionExecutor: validate, dry-run, execute and verify catalog actions. Never raises.

The dry run and the execution share one code path: the planner reads the current state and
builds the exact write, which is sent with dryRun=All first and for real after approval.
`observe` is for recovery after a crash: it reads whether the change is in effect and writes nothing.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Awaitable, Callable

from kubernetes.client import ApiClient

from tools.actions.calls import DRY_RUN, ActionKube, Plan, Refusal
from tools.actions.deployments import plan_restart, plan_scale, plan_set_resources
from tools.actions.observe import observe
from tools.actions.pods_nodes import plan_delete_pod, plan_node
from tools.actions.requests import ActionOutcome, ActionRequest
from tools.actions.rollback import plan_rollback
from tools.actions.undo import undo_request
from tools.actions.validate import validate_request
from tools.actions.verify import wait_until
from tools.base import ToolContext
from tools.k8s.client import ApiFailure

Planner = Callable[[ActionKube, ActionRequest, datetime], Awaitable[Plan]]
PLANNERS: dict[str, Planner] = {
    "restart_deployment": plan_restart, "scale_deployment": plan_scale, "rollback_deployment": plan_rollback,
    "set_resources": plan_set_resources, "delete_pod": plan_delete_pod, "cordon_node": plan_node,
    "uncordon_node": plan_node,
}


class ActionExecutor:
    def __init__(self, api_client: ApiClient | None, ctx: ToolContext, scale_bounds: tuple[int, int] = (1, 50),
                 verify_timeout: float = 120, poll_interval: float = 2):
        self.api = api_client
        self.ctx = ctx
        self.scale_bounds = scale_bounds
        self.verify_timeout = verify_timeout
        self.poll_interval = poll_interval

    def validate(self, req: ActionRequest) -> str | None:
        try:
            return validate_request(req, self.ctx, self.scale_bounds)
        except Exception as exc:  # a malformed request must be refused, not crash the caller
            return f"invalid request: {type(exc).__name__}: {exc}"

    async def dry_run(self, req: ActionRequest) -> ActionOutcome:
        return await self._guard(req, "dry run", self._write(req, dry=True))

    async def execute(self, req: ActionRequest) -> ActionOutcome:
        return await self._guard(req, "execution", self._write(req, dry=False))

    async def verify(self, req: ActionRequest, timeout: float | None = None) -> ActionOutcome:
        return await self._guard(req, "verification", self._verify(req, timeout))

    async def observe(self, req: ActionRequest, since: datetime) -> ActionOutcome:
        """Is the change `req` asks for in effect? details["applied"]: True, False or None (cannot
        tell). `since`: when the proposal went executing. Read-only, so safe to repeat."""
        return await self._guard(req, "observation", self._observe(req, since))

    async def _guard(self, req: ActionRequest, stage: str, work: Awaitable[ActionOutcome]) -> ActionOutcome:
        try:
            return await work
        except Exception as exc:
            return ActionOutcome(False, f"{stage} of {_describe(req)} failed: internal error {type(exc).__name__}: "
                                 f"{exc}", {"internal_error": True})

    def _precheck(self, req: ActionRequest) -> ActionOutcome | None:
        why = self.validate(req)
        if why:
            return ActionOutcome(False, f"refused: {why}", {"refused": True})
        if self.api is None:
            return ActionOutcome(False, "refused: the Kubernetes source is not configured", {"refused": True})
        return None

    async def _write(self, req: ActionRequest, dry: bool) -> ActionOutcome:
        refused = self._precheck(req)
        if refused:
            return refused
        stage = "dry run" if dry else "execution"
        kube = ActionKube(self.api, self.ctx.timeout)  # type: ignore[arg-type]
        try:
            plan = await PLANNERS[req.action_type](kube, req, self.ctx.now())
        except Refusal as why:
            return ActionOutcome(False, f"refused: {why}", {"refused": True, "requests": kube.queries})
        except ApiFailure as failure:
            return ActionOutcome(False, f"{stage} of {req.describe()} failed while reading the current state: "
                                 f"{failure.message}", _failure_details(failure, kube))
        _record(req, plan.observed, overwrite=True)
        _record(req, plan.pinned, overwrite=False)
        details: dict[str, Any] = {
            "request": f"{plan.method} {plan.path}" + (f"?dryRun={DRY_RUN}" if dry else ""),
            "content_type": plan.content_type, "body": plan.body, "before": plan.before}
        if plan.warnings:
            details["warnings"] = plan.warnings
        if plan.noop:
            details.update(noop=True, requests=kube.queries)
            # Nothing to offer on a dry run; on execution the desired state already holds, and
            # there is no undo since we changed nothing.
            return ActionOutcome(not dry, f"nothing to change: {plan.noop}", details)
        extra = {"dry_run": DRY_RUN} if dry else {}
        try:
            answer = await kube.send(plan.method, plan.path, plan.call, **plan.kwargs, **extra)
        except ApiFailure as failure:
            details.update(_failure_details(failure, kube))
            return ActionOutcome(False, f"{stage} of {req.describe()} failed: {failure.message}", details)
        details["after"] = plan.after(answer) if plan.after else None
        details["requests"] = kube.queries
        warn = f" (warning: {'; '.join(plan.warnings)})" if plan.warnings else ""
        if dry:
            return ActionOutcome(True, f"dry run accepted by the API server: {req.describe()}{warn}", details)
        if plan.observe_result:
            _record(req, plan.observe_result(answer), overwrite=True)
        return ActionOutcome(True, f"done: {req.describe()}{warn}", details, undo=undo_request(req))

    async def _verify(self, req: ActionRequest, timeout: float | None) -> ActionOutcome:
        refused = self._precheck(req)
        if refused:
            return refused
        kube = ActionKube(self.api, self.ctx.timeout)  # type: ignore[arg-type]
        limit = self.verify_timeout if timeout is None else timeout
        return await wait_until(kube, req, limit, self.poll_interval)

    async def _observe(self, req: ActionRequest, since: datetime) -> ActionOutcome:
        refused = self._precheck(req)
        if refused:
            return ActionOutcome(False, f"cannot tell whether it was applied: {refused.message}",
                                 {**refused.details, "applied": None})
        return await observe(ActionKube(self.api, self.ctx.timeout), req, since)  # type: ignore[arg-type]


def _record(req: ActionRequest, values: dict[str, Any], overwrite: bool) -> None:
    for key, value in values.items():
        if value is None:
            if overwrite:
                req.parameters.pop(key, None)
        elif overwrite or key not in req.parameters:
            req.parameters[key] = value


def _failure_details(failure: ApiFailure, kube: ActionKube) -> dict[str, Any]:
    return {"code": failure.code, "reason": failure.reason, "failed_request": failure.query,
            "requests": kube.queries}


def _describe(req: Any) -> str:
    try:
        return req.describe()
    except Exception:
        return repr(req)
