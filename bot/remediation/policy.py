"""Who may approve what: identities, approver lists per risk level, and the decision rules.

Rules (all enforced server-side on every click, whatever a chat client shows):
- Approver lists are cumulative upwards: someone allowed at level N is allowed at every lower
  level (a CRITICAL approver may approve MEDIUM). LOW is approved by MEDIUM-or-higher approvers.
  A level with no approvers configured at or above it can be approved by nobody.
- Entries name a user (`slack:U123`, `teams:<aad-oid>`, `console:alice`) or a group the chat
  platform reports for the clicker (`slack-group:S456`, `teams-group:<gid>`, `console-group:ops`).
- The requester may not approve their own HIGH or CRITICAL action (MEDIUM/LOW: allowed).
- CRITICAL needs two distinct approvers; distinct means a different (platform, user id), so the
  same person clicking twice counts once. One human with both a Slack and a Teams account is two
  identities to us: deployments that care must list only one of them.
- Any allowed approver (including the requester) may reject; a rejection ends the proposal.
- LOW runs without a click only when AUTO_APPROVE_LOW is on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from tools.taxonomy import RISK_ORDER

PLATFORMS = ("slack", "teams", "console")


@dataclass(frozen=True)
class Identity:
    platform: str  # slack | teams | console | system
    user_id: str
    groups: frozenset[str] = frozenset()
    display: str = ""

    @property
    def key(self) -> str:
        """Stable text form, used as `requested_by` and in audit rows."""
        return f"{self.platform}:{self.user_id}"

    @property
    def label(self) -> str:
        return self.display or self.key

    @classmethod
    def parse(cls, text: str, default_platform: str = "console", display: str = "") -> "Identity":
        """`slack:U123`, `teams:<oid>`, `console:alice`, or a plain name (= default platform).
        The bot's own `system:` identities cannot be claimed this way."""
        text = text.strip()
        platform, sep, user = text.partition(":")
        if sep and platform in PLATFORMS and user.strip():
            return cls(platform, user.strip(), display=display)
        if not text:
            raise ValueError("empty identity")
        return cls(default_platform, text, display=display)


def same_person(identity: Identity, key: str | None) -> bool:
    return bool(key) and identity.key == key


@dataclass(frozen=True)
class ApproverSet:
    users: frozenset[tuple[str, str]] = frozenset()   # (platform, user id)
    groups: frozenset[tuple[str, str]] = frozenset()  # (platform, group id)

    @classmethod
    def parse(cls, entries: tuple[str, ...] | list[str]) -> "ApproverSet":
        users, groups = set(), set()
        for raw in entries:
            kind, sep, ident = raw.strip().partition(":")
            if not sep or not ident.strip():
                raise ValueError(f"approver {raw!r} is not kind:id")
            base, _, suffix = kind.partition("-")
            if base not in PLATFORMS or suffix not in ("", "group"):
                raise ValueError(f"approver {raw!r}: kind must be slack, slack-group, teams, teams-group, "
                                 "console or console-group")
            (groups if suffix else users).add((base, ident.strip()))
        return cls(frozenset(users), frozenset(groups))

    def __or__(self, other: "ApproverSet") -> "ApproverSet":
        return ApproverSet(self.users | other.users, self.groups | other.groups)

    def allows(self, who: Identity) -> bool:
        if (who.platform, who.user_id) in self.users:
            return True
        return any((who.platform, g) in self.groups for g in who.groups)

    def __bool__(self) -> bool:
        return bool(self.users or self.groups)


def parse_risk_overrides(entries: tuple[str, ...] | list[str] | dict[str, str]) -> dict[str, str]:
    if isinstance(entries, dict):
        items = list(entries.items())
    else:
        items = [tuple(e.split("=", 1)) for e in entries if "=" in e]
    out: dict[str, str] = {}
    for ns, risk in items:
        risk = risk.strip().upper()
        if risk not in RISK_ORDER:
            raise ValueError(f"risk override {ns}={risk}: risk must be one of {', '.join(RISK_ORDER)}")
        out[ns.strip()] = risk
    return out


def raise_risk(base: str, floor: str | None) -> str:
    if floor not in RISK_ORDER:
        return base
    return max(base, floor, key=RISK_ORDER.index)


@dataclass(frozen=True)
class ApprovalPolicy:
    approvers: dict[str, ApproverSet] = field(default_factory=dict)  # as configured per level
    auto_approve_low: bool = False
    ttl: timedelta = timedelta(minutes=30)
    risk_overrides: dict[str, str] = field(default_factory=dict)  # namespace -> minimum risk
    scale_bounds: tuple[int, int] = (1, 50)

    @classmethod
    def build(cls, *, medium=(), high=(), critical=(), auto_approve_low: bool = False, ttl_minutes: int = 30,
              risk_overrides=(), scale_bounds: tuple[int, int] = (1, 50)) -> "ApprovalPolicy":
        return cls(approvers={"MEDIUM": ApproverSet.parse(medium), "HIGH": ApproverSet.parse(high),
                              "CRITICAL": ApproverSet.parse(critical)},
                   auto_approve_low=auto_approve_low, ttl=timedelta(minutes=ttl_minutes),
                   risk_overrides=parse_risk_overrides(risk_overrides), scale_bounds=scale_bounds)

    @classmethod
    def from_settings(cls, s) -> "ApprovalPolicy":  # noqa: ANN001 (bot.settings.Settings)
        return cls.build(medium=s.approvers_medium, high=s.approvers_high, critical=s.approvers_critical,
                         auto_approve_low=s.auto_approve_low, ttl_minutes=s.proposal_ttl_minutes,
                         risk_overrides=s.risk_overrides, scale_bounds=(s.scale_min, s.scale_max))

    def allowed_at(self, risk: str) -> ApproverSet:
        """Everyone configured at this level or any higher one."""
        level = RISK_ORDER.index(risk) if risk in RISK_ORDER else len(RISK_ORDER) - 1
        out = ApproverSet()
        for r in RISK_ORDER[max(level, 1):]:
            out = out | self.approvers.get(r, ApproverSet())
        return out

    def risk_for(self, base: str, namespace: str | None, extra_overrides: dict[str, str] | None = None) -> str:
        risk = base
        for overrides in (self.risk_overrides, extra_overrides or {}):
            if namespace:
                risk = raise_risk(risk, overrides.get(namespace))
        return risk

    @staticmethod
    def approvals_required(risk: str) -> int:
        return 2 if risk == "CRITICAL" else 1

    @staticmethod
    def self_approval_forbidden(risk: str) -> bool:
        return risk in ("HIGH", "CRITICAL")

    def auto_approves(self, risk: str) -> bool:
        return self.auto_approve_low and risk == "LOW"

    def denial(self, who: Identity, risk: str, requested_by: str | None, decision: str) -> str | None:
        """None if `who` may cast this decision, else why not (shown to the clicker and audited)."""
        allowed = self.allowed_at(risk)
        if not allowed:
            return f"nobody is configured to approve {risk} actions (APPROVERS_{'MEDIUM' if risk == 'LOW' else risk})"
        if not allowed.allows(who):
            return f"{who.label} is not an allowed approver for {risk} actions"
        if decision == "approve" and self.self_approval_forbidden(risk) and same_person(who, requested_by):
            return f"you requested this {risk} action and cannot approve it yourself"
        return None
