"""Invariants under random operations (Hypothesis), checked against a plain dict model.

Whatever sequence of creates, updates (fresh or stale), label changes, deletes and paged
lists runs, with the server idle or running its watch cache:

* the server agrees with the model (a dict of name -> (data, labels));
* every successful write that changes something returns a resourceVersion larger than
  any before (one that changes nothing keeps the object's); a stale update is a Conflict
  and changes nothing;
* a watch opened before the operations, replayed, rebuilds exactly the model's final
  state — and a watch with a label selector rebuilds exactly the selected part (objects
  moving out of the selection arrive as DELETED, into it as ADDED);
* every page of a paged list is a consistent snapshot: together they equal the list.
"""

from __future__ import annotations

import random
from typing import Any

import anyio
import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from korch import errors
from korch.api import ConfigMap, ObjectMeta
from korch.apiserver import APIServer, WatchEvent
from korch.clock import FakeClock
from korch.store import MemoryStore

NAMES = ["a", "b", "c", "d"]
ops = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.sampled_from(NAMES), st.booleans()),
        st.tuples(st.just("update"), st.sampled_from(NAMES), st.integers(0, 9)),
        st.tuples(st.just("stale"), st.sampled_from(NAMES), st.integers(0, 9)),
        st.tuples(st.just("relabel"), st.sampled_from(NAMES), st.booleans()),
        st.tuples(st.just("delete"), st.sampled_from(NAMES), st.just(0)),
    ),
    max_size=25,
)

Model = dict[str, tuple[dict[str, str], dict[str, str]]]


def replay(events: list[WatchEvent[Any]]) -> Model:
    state: Model = {}
    for event in events:
        obj = event.object
        if event.type == "DELETED":
            del state[obj.metadata.name]
        else:
            state[obj.metadata.name] = (obj.data, obj.metadata.labels)
    return state


async def drain(stream: Any) -> list[WatchEvent[Any]]:
    """Events up to (not including) the ADDED event of the sentinel object ``zzz``."""
    out: list[WatchEvent[Any]] = []
    with anyio.fail_after(5):
        while True:
            event = await stream.__anext__()
            if event.object.metadata.name == "zzz":
                return out
            out.append(event)


async def scenario(operations: list[tuple[str, str, Any]], running: bool) -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    api = APIServer(store, clock=clock, rng=random.Random(0), watch_cache_size=4)
    async with api if running else _nothing():
        client = api.client()
        await client.list(ConfigMap)  # bootstrap before the watches start
        model: Model = {}
        stale: dict[str, ConfigMap] = {}
        last_rv = 0
        async with (
            api.watch(ConfigMap, resource_version="0") as everything,
            api.watch(ConfigMap, resource_version="0", label_selector="sel=yes") as selected,
        ):
            for op, name, arg in operations:
                before_op = model.get(name)
                try:
                    if op == "create":
                        labels = {"sel": "yes"} if arg else {}
                        obj = await client.create(
                            ConfigMap(metadata=ObjectMeta(name=name, labels=labels))
                        )
                        model[name] = ({}, labels)
                    elif op == "update":
                        current = await client.get(ConfigMap, name)
                        stale.setdefault(name, current)
                        obj = await client.update(attrs.evolve(current, data={"v": str(arg)}))
                        model[name] = ({"v": str(arg)}, model[name][1])
                    elif op == "stale":
                        if name not in stale or name not in model:
                            continue
                        before = await client.get(ConfigMap, name)
                        try:
                            await client.update(attrs.evolve(stale[name], data={"v": "x"}))
                        except errors.Conflict:
                            assert await client.get(ConfigMap, name) == before
                            continue
                        # the remembered version was still current: a fresh update
                        model[name] = ({"v": "x"}, model[name][1])
                        continue
                    elif op == "relabel":
                        labels = {"sel": "yes"} if arg else {"sel": "no"}
                        obj = await client.patch(
                            ConfigMap, name, {"metadata": {"labels": labels}}, type="merge"
                        )
                        model[name] = (model[name][0], labels)
                    else:
                        obj = await client.delete(ConfigMap, name)
                        del model[name]
                        stale.pop(name, None)
                        continue
                except errors.AlreadyExists:
                    assert op == "create" and name in model
                    continue
                except errors.NotFound:
                    assert name not in model
                    continue
                rv = int(obj.metadata.resource_version)
                if model.get(name) == before_op:  # a no-op write stores nothing
                    assert rv <= last_rv
                else:
                    assert rv > last_rv
                last_rv = max(rv, last_rv)
            listed = await client.list(ConfigMap)
            assert {c.metadata.name: (c.data, c.metadata.labels) for c in listed.items} == model
            pages: list[ConfigMap] = []
            token = ""
            while True:
                page = await client.list(ConfigMap, limit=1, continue_=token)
                pages += page.items
                token = page.metadata.continue_
                if not token:
                    break
            assert pages == listed.items
            sentinel = ObjectMeta(name="zzz", labels={"sel": "yes"})
            await client.create(ConfigMap(metadata=sentinel))
            assert replay(await drain(everything)) == model
            assert replay(await drain(selected)) == {
                name: state for name, state in model.items() if state[1].get("sel") == "yes"
            }


class _nothing:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations=ops, running=st.booleans())
def test_server_agrees_with_a_dict_model(
    operations: list[tuple[str, str, Any]], running: bool
) -> None:
    anyio.run(scenario, operations, running)
