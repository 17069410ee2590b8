"""A record taken twice within a minute is taken once."""

from __future__ import annotations

from streamrouter.agents.recent import RecentlyTaken


def test_a_second_copy_is_refused_while_it_is_recent_and_taken_again_after() -> None:
    now = [100.0]
    taken = RecentlyTaken(keep_s=60.0, clock=lambda: now[0])
    assert taken.take("llm.tier.haiku/0/5/1000")
    assert taken.take("llm.tier.haiku/0/6/1001")
    assert not taken.take("llm.tier.haiku/0/5/1000")  # the copy fetched again
    now[0] = 159.0
    assert not taken.take("llm.tier.haiku/0/6/1001")
    now[0] = 161.0  # a minute on: forgotten, the hand-over read answers for it now
    assert taken.take("llm.tier.haiku/0/5/1000")
    assert taken.take("llm.tier.haiku/0/6/1001")
