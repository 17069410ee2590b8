"""When the ledger forgets finished request ids."""

from __future__ import annotations

from streamrouter.agents.expiry import (
    UNKNOWN,
    LedgerExpiry,
    admitted_entry,
    done_entry,
    finished_at,
    own_admission,
    seen_before,
)


def test_a_request_id_is_due_once_its_ttl_has_passed_on_its_own_partition() -> None:
    expiry = LedgerExpiry(ttl_s=60)
    expiry.track(0, "a", now=1000)
    expiry.track(1, "b", now=1000)
    expiry.track(0, "c", now=1030)
    assert expiry.due(0, now=1059) == []
    assert expiry.due(0, now=1060) == ["a"]
    assert expiry.due(0, now=2000) == ["c"]
    assert expiry.due(0, now=2000) == []
    assert expiry.due(1, now=2000) == ["b"]


def test_one_call_forgets_at_most_per_call_ids() -> None:
    expiry = LedgerExpiry(ttl_s=1, per_call=2)
    for rid in "abcde":
        expiry.track(0, rid, now=0)
    assert expiry.due(0, now=5) == ["a", "b"]
    assert expiry.due(0, now=5) == ["c", "d"]


def test_what_an_assignment_recovered_keeps_its_age() -> None:
    expiry = LedgerExpiry(ttl_s=60)
    expiry.track(0, "old", now=0)
    expiry.restart(0, [(480.0, "y"), (450.0, "x"), (UNKNOWN, "legacy")], now=500)
    assert expiry.due(0, now=509) == []  # "old" is not this assignment's
    assert expiry.due(0, now=510) == ["x"]
    assert expiry.due(0, now=540) == ["y"]
    assert expiry.due(0, now=559) == []
    assert expiry.due(0, now=560) == ["legacy"]  # of unknown age: a whole TTL from then


def test_a_ledger_value_says_whether_and_when_its_request_finished() -> None:
    assert finished_at(done_entry(1795662157.4)) == 1795662157.0
    assert done_entry(1795662157.4) is done_entry(1795662157.2)  # shared within a second
    assert finished_at("done") == UNKNOWN  # written before finish times were kept
    assert finished_at("admitted") is None
    assert finished_at(None) is None


def test_a_request_id_in_the_ledger_is_seen_before_unless_admitted_from_this_record() -> None:
    assert not seen_before(None, 7)
    assert seen_before(done_entry(100.0), 7)
    assert seen_before(admitted_entry(3, 100.0), 7)  # a client's retry: another record
    assert seen_before("admitted", 7)  # a value written before offsets were kept
    # Its own admission: whether its work landed is for the admit agent to find out.
    assert not seen_before(admitted_entry(7, 100.0), 7)


def test_a_records_own_admission_says_when_by_the_workers_clock() -> None:
    assert own_admission(admitted_entry(7, 1234.4), 7) == 1234.0
    assert own_admission(admitted_entry(7, 1234.4), 71) is None
    assert own_admission(admitted_entry(71, 1234.4), 7) is None
    assert own_admission(done_entry(1234.0), 7) is None
    assert own_admission(None, 7) is None
