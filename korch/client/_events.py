"""Recording core/v1 Events, with client-go's aggregation of repeats.

``client.record_event(obj, reason, message, type)`` writes an Event about ``obj`` in its
namespace (``default`` for cluster-scoped objects) named ``<object name>.<hex time>`` as
client-go's recorder does, with ``involvedObject``, ``source.component``,
``reportingComponent``/``reportingInstance``, ``firstTimestamp``/``lastTimestamp`` and
``count: 1``.

An identical event (same involved object, reason, message, type and component) recorded
again by the same client is not a new object: the recorder patches the existing Event
(``count + 1``, ``lastTimestamp`` now), as client-go's ``EventCorrelator`` does. The
recorder remembers the last 4,096 distinct events (LRU); if the remembered Event was
deleted meanwhile, a new one is created. client-go's further folding of *similar* events
(same reason, different messages) into one "combined" event is not done.
"""

from __future__ import annotations

import collections
import datetime
from typing import Any, Final, Protocol

from korch import clock as clock_module
from korch import errors
from korch.api import _core_other, _core_volume, _meta

__all__ = ("EventRecorder",)

_MAX_REMEMBERED: Final = 4096
EVENT_TYPES: Final = ("Normal", "Warning")

_Key = tuple[str, str, str, str, str, str, str, str]


class _Writer(Protocol):
    async def create(self, obj: Any, *, namespace: str | None = None) -> Any: ...

    async def patch(
        self, kind: Any, name: str, patch: Any, *, namespace: str | None = None, type: Any = ...
    ) -> Any: ...


class EventRecorder:
    """Writes and aggregates Events through a client (see the module docstring).

    Args:
        clock: timestamps and names.
        component: ``source.component`` and ``reportingComponent`` of the events.
        instance: ``reportingInstance`` (e.g. the host or pod name).
    """

    def __init__(
        self, clock: clock_module.Clock, *, component: str = "korch", instance: str = ""
    ) -> None:
        self._clock = clock
        self.component = component
        self.instance = instance
        self._seen: collections.OrderedDict[_Key, tuple[str, str, int]] = collections.OrderedDict()
        self._last_nanos = 0

    def _unique_nanos(self) -> int:
        nanos = max(int(self._clock.time() * 1e9), self._last_nanos + 1)
        self._last_nanos = nanos
        return nanos

    async def record(
        self,
        client: _Writer,
        obj: Any,
        reason: str,
        message: str,
        type: str = "Normal",
        *,
        action: str = "",
    ) -> _core_other.Event:
        """Record one occurrence; returns the Event as stored.

        Raises:
            korch.errors.BadRequest: ``type`` is not ``Normal`` or ``Warning``, or ``obj``
                is not an API object with a name.
        """
        if type not in EVENT_TYPES:
            raise errors.BadRequest(f"event type must be Normal or Warning, not {type!r}")
        meta = getattr(obj, "metadata", None)
        if not isinstance(meta, _meta.ObjectMeta) or not meta.name:
            raise errors.BadRequest(f"cannot record an event about {obj!r}: it has no name")
        ref = _core_volume.ObjectReference(
            kind=obj.kind,
            namespace=meta.namespace,
            name=meta.name,
            uid=meta.uid,
            api_version=obj.api_version,
            resource_version=meta.resource_version,
        )
        namespace = meta.namespace or "default"
        key: _Key = (
            ref.kind, ref.namespace, ref.name, ref.uid, reason, message, type, self.component
        )  # fmt: skip
        now = datetime.datetime.fromtimestamp(int(self._clock.time()), datetime.UTC)
        seen = self._seen.get(key)
        if seen is not None:
            name, event_namespace, count = seen
            patch = {"count": count + 1, "lastTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ")}
            try:
                event: _core_other.Event = await client.patch(
                    _core_other.Event, name, patch, namespace=event_namespace, type="merge"
                )
            except errors.NotFound:
                del self._seen[key]
            else:
                self._remember(key, event)
                return event
        event = _core_other.Event(
            metadata=_meta.ObjectMeta(
                name=f"{meta.name}.{self._unique_nanos():x}", namespace=namespace
            ),
            involved_object=ref,
            reason=reason,
            message=message,
            source=_core_other.EventSource(component=self.component),
            first_timestamp=now,
            last_timestamp=now,
            count=1,
            type=type,
            action=action,
            reporting_component=self.component,
            reporting_instance=self.instance,
        )
        created: _core_other.Event = await client.create(event, namespace=namespace)
        self._remember(key, created)
        return created

    def _remember(self, key: _Key, event: _core_other.Event) -> None:
        self._seen[key] = (event.metadata.name, event.metadata.namespace, event.count)
        self._seen.move_to_end(key)
        while len(self._seen) > _MAX_REMEMBERED:
            self._seen.popitem(last=False)
