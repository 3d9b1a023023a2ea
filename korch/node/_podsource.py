"""The pods bound to one node, listed then watched (the kubelet's API source of pods).

``list`` with ``fieldSelector=spec.nodeName=<node>`` and ``resourceVersion=0`` (like a
client-go reflector: served from the API server's watch cache, which then serves the watch
too) gives the current set; a watch from the list's resourceVersion gives every change
after it. After a 410 the list is a quorum read (``resourceVersion=""``), as client-go's,
so it never goes back in time. When the watch cannot be resumed
(``Expired``, 410) or the server fails, the source lists again (after a second on the
agent's clock for errors) and reports the new full set, so the agent removes pods that
disappeared meanwhile. Level-triggered: the agent only ever sees "this pod now looks like
this" and "these are all the pods".
"""

from __future__ import annotations

from collections.abc import Callable

from korch import clock as clock_module
from korch import errors
from korch.api import Pod
from korch.client import Client

__all__ = ("PodSource",)

_RETRY_SECONDS = 1.0


class PodSource:
    """Feeds a node agent the pods bound to its node.

    Args:
        client: the API.
        node_name: whose pods.
        clock: for the pause after an error.
        on_list: called with every pod after each (re)list — the complete set.
        on_pod: called with a pod that was added or changed.
        on_delete: called with the last state of a pod that was deleted.
    """

    def __init__(
        self,
        client: Client,
        node_name: str,
        *,
        clock: clock_module.Clock,
        on_list: Callable[[list[Pod]], None],
        on_pod: Callable[[Pod], None],
        on_delete: Callable[[Pod], None],
    ) -> None:
        self._client = client
        self._selector = f"spec.nodeName={node_name}"
        self._clock = clock
        self._on_list = on_list
        self._on_pod = on_pod
        self._on_delete = on_delete
        self._resource_version = "0"

    async def run(self) -> None:
        """List and watch until cancelled."""
        while True:
            try:
                await self._list_and_watch()
            except errors.Expired:
                self._resource_version = ""
                continue
            except errors.APIError:
                await self._clock.sleep(_RETRY_SECONDS)

    async def _list_and_watch(self) -> None:
        # resourceVersion "0" (any recent state), as client-go's reflectors list: served from
        # the API server's watch cache, which then also serves the watch
        listed = await self._client.list(
            Pod, field_selector=self._selector, resource_version=self._resource_version
        )
        self._resource_version = "0"
        self._on_list(list(listed.items))
        async with self._client.watch(
            Pod,
            field_selector=self._selector,
            resource_version=listed.metadata.resource_version,
            allow_watch_bookmarks=True,
        ) as events:
            async for event in events:
                if event.type in ("ADDED", "MODIFIED"):
                    self._on_pod(event.object)
                elif event.type == "DELETED":
                    self._on_delete(event.object)
