"""Addresses that ignore retry_after (chat_server/penalties.py), on a fake clock."""

from __future__ import annotations

from chat_server.penalties import MAX_WAIT, Penalties


def test_an_address_that_comes_back_early_too_often_is_shut_until_its_wait_is_over() -> None:
    penalties = Penalties(strikes=3)
    penalties.told("10.0.0.1", 30.0, now=0.0)
    assert [penalties.shut("10.0.0.1", now=1.0) for _ in range(4)] == [False] * 3 + [True]
    assert penalties.shut("10.0.0.1", now=29.9)  # still early
    assert not penalties.shut("10.0.0.2", now=1.0)  # another address is not concerned
    assert not penalties.shut("10.0.0.1", now=30.0)  # the wait is over: heard again
    assert len(penalties) == 0


def test_a_client_that_waits_as_told_is_never_shut() -> None:
    penalties = Penalties(strikes=1)
    now = 0.0
    for _ in range(20):  # refused, waits, comes back, refused again...
        penalties.told("10.0.0.1", 5.0, now)
        now += 5.0
        assert not penalties.shut("10.0.0.1", now)


def test_a_long_wait_shuts_an_address_for_a_minute_at_most() -> None:
    penalties = Penalties(strikes=1)
    penalties.told("10.0.0.1", 900.0, now=0.0)  # a failed-login limit: 15 minutes
    penalties.shut("10.0.0.1", now=0.0)
    assert penalties.shut("10.0.0.1", now=MAX_WAIT - 0.1)
    assert not penalties.shut("10.0.0.1", now=MAX_WAIT)


def test_the_longer_of_two_waits_holds() -> None:
    penalties = Penalties(strikes=1)
    penalties.told("10.0.0.1", 20.0, now=0.0)
    penalties.told("10.0.0.1", 1.0, now=1.0)  # a shorter wait does not cut the first short
    penalties.shut("10.0.0.1", now=2.0)
    assert penalties.shut("10.0.0.1", now=19.0)


def test_zero_strikes_never_shuts() -> None:
    penalties = Penalties(strikes=0)
    penalties.told("10.0.0.1", 30.0, now=0.0)
    assert not any(penalties.shut("10.0.0.1", now=1.0) for _ in range(100))


def test_the_table_stays_bounded() -> None:
    penalties = Penalties(strikes=1, max_keys=100)
    for n in range(1000):
        penalties.told(f"10.0.{n // 256}.{n % 256}", 30.0, now=0.0)
    assert len(penalties) <= 100
