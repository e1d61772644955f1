"""BM25 tokenizer for operations text.

Generic word tokenizers destroy exactly the tokens that identify an incident:
`OOMKilled`, `CrashLoopBackOff`, `x509`, `p99`, `5xx`, `java.lang.OutOfMemoryError`,
`db_pool_size`. Each such token is kept whole (lower-cased) *and* split into its
parts (dotted/snake/kebab/path pieces, then camelCase pieces), so a query may name
either the compound or a piece of it. Plain words are stemmed so that "throttled"
meets "throttling".
"""
from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

_RAW = re.compile(r"[A-Za-z0-9]+(?:[._\-/:][A-Za-z0-9]+)*")
_SEP = re.compile(r"[._\-/:]")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")

# Small English stop list: function words only, so "not", "no" and "down" stay meaningful.
STOPWORDS = frozenset("""
a an and are as at be been being but by can could did do does for from had has have he her his
how i if in into is it its me my of on or our she so such than that the their them then there
these they this those to was we were what when where which while who why will with would you your
also may might should shall via per each any all some more most other same very just only own
""".split())

_stemmer = Stemmer.Stemmer("english")


def _is_plain_word(tok: str) -> bool:
    return tok.isalpha()


@lru_cache(maxsize=200_000)
def _expand(raw: str) -> tuple[str, ...]:
    out: list[str] = []
    whole = raw.lower()
    parts = [p for p in _SEP.split(raw) if p]
    if len(parts) > 1:
        out.append(whole)  # the compound itself: exact matches on dotted/snake names score highest
    for part in parts:
        low = part.lower()
        has_upper = any(c.isupper() for c in part)
        has_lower = any(c.islower() for c in part)
        pieces = _CAMEL.findall(part) if has_upper and has_lower else []
        if len(pieces) > 1:
            out.append(_stem(low))
            out.extend(_stem(p.lower()) for p in pieces)
        else:
            out.append(_stem(low))
    return tuple(t for t in out if len(t) > 1 and t not in STOPWORDS)


def _stem(tok: str) -> str:
    return _stemmer.stemWord(tok) if _is_plain_word(tok) and tok not in STOPWORDS else tok


def tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    for raw in _RAW.findall(text):
        tokens.extend(_expand(raw))
    return tokens
