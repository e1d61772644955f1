"""clip_middle keeps the head and the tail of a long line, never cutting a token."""
from __future__ import annotations

from tools.textclip import clip_middle


def test_short_text_is_untouched():
    assert clip_middle("payment failed", 100) == "payment failed"


def test_the_decisive_tail_survives_and_no_token_is_split():
    line = ('{"level":"error","ts":"2026-12-01T10:00:00Z","msg":"charge failed",' + '"ctx":"' + "x " * 400 +
            '","error":"Post \\"https://api.stripe.com/v1/payment_intents\\": dial tcp: i/o timeout"}')
    out = clip_middle(line, 300)
    assert out.startswith('{"level":"error"') and out.endswith('i/o timeout"}')
    assert "https://api.stripe.com/v1/payment_intents" in out
    assert "chars]" in out and len(out) < 340
    words = set(line.split())
    head, _, rest = out.partition(" …[")
    tail = rest.split("] ", 1)[1]
    assert all(w in words for w in head.split()[:-1] + tail.split()[1:])


def test_a_text_without_breaks_is_cut_hard_but_bounded():
    out = clip_middle("a" * 5000, 200)
    assert len(out) < 240 and out.startswith("a" * 100) and out.endswith("a" * 50)
