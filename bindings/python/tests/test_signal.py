import asyncio
import os
import selectors
import threading
import time

import pytest

import splinter
from splinter import EventKind, errors


def later(delay, fn, *args):
    t = threading.Timer(delay, fn, args)
    t.start()
    return t


def test_watch_iterator_sees_changes_in_order(store):
    store["a"] = b"0"
    store["b"] = b"0"
    seen = []
    with store.watch("a", "b", group=3, timeout=5) as w:
        assert store.meta("a").watch == 1 << 3

        def writer():
            store["a"] = b"1"
            store["noise"] = b"x"  # not watched: never reported
            store["b"] = b"1"
        later(0.05, writer)
        for ev in w:
            seen.append((ev.kind, ev.key))
            if len(seen) == 2:
                # Deleted only now: an event read after its key was deleted
                # (or its slot reused) comes as UNKNOWN (the feed never names
                # a key it cannot vouch for).
                del store["a"]
            if len(seen) == 3:
                break
    assert seen == [(EventKind.CHANGED, "a"), (EventKind.CHANGED, "b"),
                    (EventKind.DELETED, "a")]


def test_watch_times_out_when_idle(store):
    store["a"] = b"0"
    t0 = time.monotonic()
    assert list(store.watch("a", timeout=0.1)) == []
    assert 0.08 < time.monotonic() - t0 < 2


def test_key_wait_blocks_until_change(store):
    store["k"] = b"0"
    e0 = store.meta("k").epoch
    later(0.05, store.set, "k", b"1")
    t0 = time.monotonic()
    e1 = store.key_wait("k", timeout=5)
    assert e1 is not None and e1 > e0 and time.monotonic() - t0 < 4
    assert store.key_wait("k", e1, timeout=0.05) is None       # timed out
    assert store.key_wait("k", e0, timeout=0) == e1             # already past
    later(0.05, store.unset, "k")
    with pytest.raises(KeyError):
        store.key_wait("k", timeout=5)


def test_subscription_wait_events_and_labels(store):
    store.bind(5, 1 << 7)
    assert store.bound(5) == 1 << 7
    with store.subscribe(1 << 7) as sub:
        assert sub.wait(0) == 0
        store["lab"] = b"v"
        store.set_labels("lab", 1 << 5)       # now routed to group 7
        store["lab"] = b"w"
        store.signal(1 << 7)
        assert sub.wait(1) == 1 << 7
        evs = []
        while (ev := sub.next_event()) is not None:
            evs.append(ev)
        assert [(e.kind, e.key) for e in evs] == [(EventKind.CHANGED, "lab"),
                                                  (EventKind.CHANGED, "lab"),
                                                  (EventKind.SIGNAL, None)]
        assert evs[-1].slot is None and evs[1].epoch == store.meta("lab").epoch
        assert sub.seen(7) >= 3 and store.pulses(7) >= 3
        store.bump("lab")
        assert next(iter(sub)).kind == EventKind.BUMPED
    store.unbind(5, 1 << 7)
    assert store.bound(5) == 0
    store.add_watch("lab", 1)
    store.remove_watch("lab", 1)
    assert store.meta("lab").watch == 0
    assert store.signal_repair() >= 0


def test_overflow_is_an_event(name):
    with splinter.create(name, slots=64, vec_dim=0, feed_len=16) as st:
        st["k"] = b"0"
        with st.watch("k", timeout=0.2) as w:
            for i in range(40):
                st["k"] = str(i).encode()
            kinds = [ev.kind for ev in w]
        assert EventKind.OVERFLOW in kinds
        with st.subscribe(1) as sub:
            st.add_watch("k", 1)
            for i in range(40):
                st["k"] = b"x"
            with pytest.raises(errors.FeedOverflow):
                while sub.next_event() is not None:
                    pass


def test_pollable_descriptor_with_selectors(store):
    store["k"] = b"0"
    with store.subscribe(1 << 2) as sub:
        store.add_watch("k", 1 << 2)
        sel = selectors.DefaultSelector()
        sel.register(sub.fileno(), selectors.EVENT_READ)
        assert sel.select(0.05) == []
        later(0.05, store.set, "k", b"1")
        assert len(sel.select(5)) == 1
        sub.ack()
        ev = sub.next_event()
        assert ev is not None and ev.key == "k"
        sel.close()


def test_asyncio_wait(store):
    store["k"] = b"0"

    async def main():
        e0 = store.meta("k").epoch
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, store.set, "k", b"1")
        e1 = await store.wait("k", timeout=5)
        assert e1 > e0
        with pytest.raises(TimeoutError):
            await store.wait("k", timeout=0.05)
        loop.call_later(0.05, store.unset, "k")
        with pytest.raises(KeyError):
            await store.wait("k", timeout=5)
        # Other tasks keep running while one waits: the loop is not blocked.
        store["j"] = b"0"
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)
        t = asyncio.create_task(ticker())
        loop.call_later(0.1, store.set, "j", b"1")
        await store.wait("j", timeout=5)
        t.cancel()
        assert ticks >= 5
    asyncio.run(main())


def test_async_for_over_a_watch(store):
    store["k"] = b"0"

    async def main():
        loop = asyncio.get_running_loop()
        got = []
        with store.watch("k", timeout=5) as w:
            loop.call_later(0.05, store.set, "k", b"1")
            loop.call_later(0.1, store.set, "k", b"2")
            async for ev in w:
                got.append(ev.key)
                if len(got) == 2:
                    break
        return got
    assert asyncio.run(main()) == ["k", "k"]


def test_wakeup_from_another_process(name):
    with splinter.create(name, slots=64, vec_dim=0) as st:
        st["k"] = b"0"
        e0 = st.meta("k").epoch
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                time.sleep(0.05)
                with splinter.open(name) as c:
                    c["k"] = b"from child"
            finally:
                os._exit(0)
        e1 = st.key_wait("k", e0, timeout=5)
        os.waitpid(pid, 0)
        assert e1 and st["k"] == b"from child"


def test_close_store_closes_subscriptions(name):
    st = splinter.create(name, slots=16, vec_dim=0)
    sub = st.subscribe(1)
    st.close()
    assert sub.closed
