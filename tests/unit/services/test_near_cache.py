"""The near cache's bookkeeping: what it serves, what it refuses, what it forgets (no I/O here)."""

from __future__ import annotations

import json
import time

import pytest

from backend.services.near_cache import ALL_KEYS, NearCache


def near(**kwargs: object) -> NearCache:
    return NearCache(prefixes=("contractor:",), channel="test:invalidate", subscribed=True, **kwargs)  # type: ignore[arg-type]


def test_serves_what_was_put_only_while_enabled() -> None:
    cache = near()
    cache.put("contractor:1", "snapshot", cache.generation)
    assert cache.get("contractor:1") == "snapshot" and cache.hits == 1
    cache._switch_off()  # what a lost subscription does
    assert cache.get("contractor:1") is None
    cache.put("contractor:1", "snapshot", cache.generation)
    assert cache._entries == {}, "a switched-off near cache must not fill either"


def test_a_fill_read_before_an_invalidation_is_refused() -> None:
    cache = near()
    generation = cache.generation  # the request reads this, then goes to Redis / the database...
    cache.invalidate(["contractor:1"])  # ...while a writer's invalidation arrives
    cache.put("contractor:1", "old snapshot", generation)
    assert cache.get("contractor:1") is None


def test_only_keys_under_its_prefixes_are_kept_or_announced() -> None:
    cache = near()
    cache.put("pricing:1", "categories", cache.generation)
    assert cache.get("pricing:1") is None
    assert cache.message(["pricing:1"]) is None
    assert json.loads(cache.message(["pricing:1", "contractor:2"]) or "") == ["contractor:2"]
    assert json.loads(cache.message([ALL_KEYS]) or "") == [ALL_KEYS]


def test_entries_expire_after_the_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = near(ttl=30)
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now)
    cache.put("contractor:1", "snapshot", cache.generation)
    monkeypatch.setattr(time, "monotonic", lambda: now + 29)
    assert cache.get("contractor:1") == "snapshot"
    monkeypatch.setattr(time, "monotonic", lambda: now + 31)
    assert cache.get("contractor:1") is None and "contractor:1" not in cache._entries


def test_the_oldest_fill_makes_room_at_the_size_limit() -> None:
    cache = near(max_entries=3)
    for n in range(4):
        cache.put(f"contractor:{n}", n, cache.generation)
    assert cache.get("contractor:0") is None
    assert [cache.get(f"contractor:{n}") for n in (1, 2, 3)] == [1, 2, 3]


def test_messages_drop_their_keys_and_unreadable_ones_drop_everything() -> None:
    cache = near()
    for n in range(3):
        cache.put(f"contractor:{n}", n, cache.generation)
    cache._heard(json.dumps(["contractor:1"]))
    assert cache.get("contractor:1") is None and cache.get("contractor:0") == 0
    cache._heard(b"\xff not json")
    assert cache._entries == {}
    cache.put("contractor:5", 5, cache.generation)
    cache._heard(json.dumps({"not": "a list"}))
    assert cache._entries == {}
    cache.put("contractor:6", 6, cache.generation)
    cache._heard(json.dumps([ALL_KEYS]))
    assert cache._entries == {}

