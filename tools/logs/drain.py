"""Drain3's Drain with similarity and template merging that understand masked tokens.

Stock Drain counts every equal token as evidence that two lines are the same event,
including the placeholders masking just produced (``<IP>``, ``<UUID>]``), so short lines
sharing only an id prefix (``[instance: <UUID>] Claim successful`` / ``... Creating
image``) merge at its 0.4 threshold. Here positions where both the template and the line
hold a variable (placeholder, digit-bearing token, or an empty value such as ``()``) are
no evidence either way; the rest must agree at a high threshold (0.85 by default).
:func:`merge_families` then re-joins clusters split by a word slot that takes many values
(user names), while few-valued slots (``VM Started`` / ``VM Paused``) stay apart.
Templates keep the constant prefix/suffix of a variable token (``rhost=<*>``, ``blk_<*>``).
"""
from __future__ import annotations

import re
from functools import lru_cache

from drain3.drain import Drain

_VARIABLE = re.compile(r"\d|<[A-Z*]+>")
MIN_CONTEXT = 2
_SEEN_CAPACITY = 100_000
_PUNCT_ONLY = re.compile(r"^[^\w<>]*$")
_DELIMS = "=:/_-()[]{},.@\"';#"


@lru_cache(maxsize=1 << 16)
def is_variable(token: str) -> bool:
    """A token presumed to be a parameter: it holds a placeholder or a digit."""
    return _VARIABLE.search(token) is not None


@lru_cache(maxsize=1 << 16)
def _is_soft(token: str) -> bool:
    """Carries no evidence about the event: a variable, or bare punctuation ("()", "-")."""
    return _VARIABLE.search(token) is not None or _PUNCT_ONLY.match(token) is not None


def _merge_token(a: str, b: str, wildcard: str) -> str:
    """Wildcard for two differing tokens, keeping a shared prefix/suffix that ends at a delimiter."""
    n = 0
    limit = min(len(a), len(b))
    while n < limit and a[n] == b[n]:
        n += 1
    prefix = a[:n]
    cut = n - 1
    while cut >= 0 and prefix[cut] not in _DELIMS:
        cut -= 1
    prefix = prefix[: cut + 1]
    # Never split an existing placeholder in half.
    if prefix.count("<") != prefix.count(">"):
        prefix = ""
    ra, rb = a[len(prefix):], b[len(prefix):]
    m = 0
    limit = min(len(ra), len(rb))
    while m < limit and ra[-1 - m] == rb[-1 - m]:
        m += 1
    suffix = ra[len(ra) - m:] if m else ""
    first = 0
    while first < len(suffix) and suffix[first] not in _DELIMS:
        first += 1
    suffix = suffix[first:]
    if suffix.count("<") != suffix.count(">"):
        suffix = ""
    return prefix + wildcard + suffix


class MaskAwareDrain(Drain):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._flag_cache: dict[tuple, list[bool]] = {}
        # Masked line -> cluster it joined. Logs repeat: most lines are byte-identical to an
        # earlier one once masked, and their cluster's template already covers them.
        # Each entry keeps the template tuple the line matched: Drain replaces the tuple whenever it
        # generalises a template, so the same object still there means the same template.
        self._seen: dict[str, tuple[int, tuple]] = {}

    def add_log_message(self, content: str):
        seen = self._seen.get(content)
        if seen is not None:
            cluster = self.id_to_cluster.get(seen[0])
            if cluster is not None and cluster.log_template_tokens is seen[1]:
                cluster.size += 1
                return cluster, "none"
        cluster, change = super().add_log_message(content)
        if len(self._seen) >= _SEEN_CAPACITY:
            self._seen.clear()
        self._seen[content] = (cluster.cluster_id, cluster.log_template_tokens)
        return cluster, change

    def has_numbers(self, s: str) -> bool:  # type: ignore[override]
        # Used only when building the prefix tree: variables go under the wildcard child,
        # so <IP>… and <HOST>… lines (or user-0 / user-1) share one branch.
        return is_variable(s)

    def get_seq_distance(self, seq1, seq2, include_params: bool):
        # seq1 is the cluster template, seq2 the new line. Returns (similarity, wildcard count).
        return self._similarity(seq1, self._soft_flags(seq1), seq2, [_is_soft(t) for t in seq2],
                                include_params)

    def _similarity(self, tmpl, tmpl_soft, tokens, tokens_soft, include_params: bool):
        # Positions where both sides are soft (variables, or a variable facing an empty
        # value such as "()" vs "(<HOST>)") are no evidence either way. A variable facing
        # a constant counts against the match, as a wildcard does in stock Drain.
        if not tmpl:
            return 1.0, 0
        param = self.param_str
        same = compared = params = 0
        for t, ts, m, ms in zip(tmpl, tmpl_soft, tokens, tokens_soft):
            if t == param:
                params += 1
            if ts and ms:
                continue
            compared += 1
            if t == m or (include_params and t == param):
                same += 1
        if compared == 0:
            return 1.0, params
        return same / compared, params

    def _soft_flags(self, tmpl: tuple) -> list[bool]:
        flags = self._flag_cache.get(tmpl)
        if flags is None:
            if len(self._flag_cache) > 50_000:
                self._flag_cache.clear()
            flags = self._flag_cache[tmpl] = [_is_soft(t) for t in tmpl]
        return flags

    def fast_match(self, cluster_ids, tokens, sim_th: float, include_params: bool):
        # Same contract as Drain.fast_match; the line's token classes are computed once.
        tokens_soft = [_is_soft(t) for t in tokens]
        best, best_sim, best_params = None, -1.0, -1
        for cluster_id in cluster_ids:
            cluster = self.id_to_cluster.get(cluster_id)
            if cluster is None:
                continue
            tmpl = cluster.log_template_tokens
            sim, params = self._similarity(tmpl, self._soft_flags(tmpl), tokens, tokens_soft, include_params)
            if sim > best_sim or (sim == best_sim and params > best_params):
                best, best_sim, best_params = cluster, sim, params
        return best if best_sim >= sim_th else None

    def create_template(self, seq1, seq2):
        return [b if a == b else (self.param_str if b == self.param_str else _merge_token(a, b, self.param_str))
                for a, b in zip(seq1, seq2)]


def merge_families(templates: dict[int, tuple[str, ...]], param_str: str,
                   min_family: int = 5) -> dict[int, tuple[str, ...]]:
    """Merge clusters that differ in one slot holding many distinct words.

    A high similarity threshold keeps enum-like words apart (``VM Started`` / ``VM Paused``,
    ``"GET`` / ``"POST``), but also splits ``Invalid user admin`` from ``Invalid user test``.
    The difference shows in cardinality: a slot that takes few values names the event, a
    slot that takes many values (``min_family`` or more sibling clusters) is a parameter.
    Returns the merged template for every cluster id.
    """
    groups: dict[int, tuple[str, ...]] = dict(templates)  # representative id -> template
    parent: dict[int, int] = {cid: cid for cid in templates}

    def find(cid: int) -> int:
        while parent[cid] != cid:
            parent[cid] = parent[parent[cid]]
            cid = parent[cid]
        return cid

    changed = True
    while changed:
        changed = False
        buckets: dict[tuple[int, tuple[str, ...]], list[int]] = {}
        for rep, toks in groups.items():
            for p in range(len(toks)):
                buckets.setdefault((p, toks[:p] + toks[p + 1:]), []).append(rep)
        for (p, rest), reps in buckets.items():
            # Without enough constant context (one-word lines: "running", "normal") every
            # word would look like a parameter of an empty template.
            if sum(1 for t in rest if not is_variable(t)) < MIN_CONTEXT:
                continue
            reps = [r for r in reps if r in groups and groups[r][:p] + groups[r][p + 1:] == rest]
            if len({groups[r][p] for r in reps}) < min_family:
                continue
            target = reps[0]
            toks = list(groups[target])
            toks[p] = param_str
            groups[target] = tuple(toks)
            for r in reps[1:]:
                del groups[r]
                parent[r] = target
            changed = True
    return {cid: groups[find(cid)] for cid in templates}
