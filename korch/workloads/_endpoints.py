"""The Endpoints controller: a Service's ``Endpoints`` from the pods it selects.

One reconcile of a Service (kube-controller-manager's ``endpoint`` controller):

* a Service that is gone has its Endpoints deleted; a Service **without a selector** is
  left alone (its Endpoints are the user's);
* every pod in the namespace matching the selector that has a ``podIP``, is not finished
  and is not being deleted becomes an address: ``ip``, ``nodeName``, a ``targetRef`` to the
  pod, and ``hostname`` when the pod's ``subdomain`` is the Service's name;
* ports: a Service port's ``targetPort`` is a number (used as is), a name (looked up among
  the pod's container ports with the same protocol; a pod without it gets no address for
  that port), or unset (the Service ``port``);
* ready pods go to ``addresses``, the others to ``notReadyAddresses`` (all to
  ``addresses`` with ``publishNotReadyAddresses``);
* pods with the same resolved ports share a subset (``RepackSubsets``); addresses are sorted
  by IP, subsets by their ports, so an unchanged world writes nothing.

The Endpoints object carries the Service's labels (plus
``service.kubernetes.io/headless`` for ``clusterIP: None``). EndpointSlices are not written:
korch.api has no typed ``discovery.k8s.io/v1`` EndpointSlice yet.
"""

from __future__ import annotations

import collections
import contextlib
import logging
from typing import Final

import attrs

from korch import clock as clock_module
from korch import errors
from korch.api import _core_node, _core_pod, _core_volume, _meta, _selector
from korch.client import Client
from korch.workloads import _common

__all__ = ("EndpointsReconciler", "endpoint_subsets")

logger = logging.getLogger(__name__)

HEADLESS_LABEL: Final = "service.kubernetes.io/headless"


def _resolve_port(pod: _core_pod.Pod, port: _core_node.ServicePort) -> int | None:
    target = port.target_port
    protocol = port.protocol or "TCP"
    if isinstance(target, int):
        return target or port.port
    if target.isdigit():
        return int(target)
    for container in pod.spec.containers:
        for container_port in container.ports:
            if container_port.name == target and (container_port.protocol or "TCP") == protocol:
                return container_port.container_port
    return None


def endpoint_subsets(
    service: _core_node.Service, pods: list[_core_pod.Pod]
) -> list[_core_node.EndpointSubset]:
    """The subsets of a Service's Endpoints for the pods it selects (see module docstring)."""
    publish_all = service.spec.publish_not_ready_addresses
    groups: dict[
        tuple[_core_node.EndpointPort, ...],
        tuple[list[_core_node.EndpointAddress], list[_core_node.EndpointAddress]],
    ] = collections.defaultdict(lambda: ([], []))
    for pod in pods:
        if not pod.status.pod_ip or not _common.is_pod_active(pod):
            continue
        ports = []
        for port in service.spec.ports:
            number = _resolve_port(pod, port)
            if number is not None:
                ports.append(
                    _core_node.EndpointPort(
                        name=port.name,
                        port=number,
                        protocol=port.protocol or "TCP",
                        app_protocol=port.app_protocol,
                    )
                )
        if service.spec.ports and not ports:
            continue
        hostname = ""
        if pod.spec.subdomain == service.metadata.name and pod.spec.hostname:
            hostname = pod.spec.hostname
        address = _core_node.EndpointAddress(
            ip=pod.status.pod_ip,
            hostname=hostname,
            node_name=pod.spec.node_name or None,
            target_ref=_core_volume.ObjectReference(
                kind="Pod",
                namespace=pod.metadata.namespace,
                name=pod.metadata.name,
                uid=pod.metadata.uid,
            ),
        )
        key = tuple(sorted(ports, key=lambda p: (p.name, p.port, p.protocol)))
        ready, not_ready = groups[key]
        (ready if publish_all or _common.is_pod_ready(pod) else not_ready).append(address)
    subsets = []
    for key in sorted(groups, key=lambda k: [(p.name, p.port, p.protocol) for p in k]):
        ready, not_ready = groups[key]
        subsets.append(
            _core_node.EndpointSubset(
                addresses=sorted(
                    ready, key=lambda a: (a.ip, a.target_ref.name if a.target_ref else "")
                ),
                not_ready_addresses=sorted(
                    not_ready, key=lambda a: (a.ip, a.target_ref.name if a.target_ref else "")
                ),
                ports=list(key),
            )
        )
    return subsets


class EndpointsReconciler:
    """Reconciles the Endpoints of one Service per key (``namespace/name``).

    Args:
        client: writes Endpoints.
        reader: reads services and pods (default: live reads via ``client``).
        clock: unused today; accepted so every reconciler is built alike.
    """

    def __init__(
        self,
        client: Client,
        *,
        reader: _common.Reader | None = None,
        clock: clock_module.Clock | None = None,
    ) -> None:
        self.client = client
        self.reader = reader or _common.ClientReader(client)
        self.clock = clock or clock_module.SystemClock()

    async def reconcile(self, key: str) -> _common.Result:
        """Write the Endpoints of the Service named by ``key`` (or delete them)."""
        namespace, name = _common.split_key(key)
        service = await self.reader.get(_core_node.Service, name, namespace=namespace)
        current = await self.reader.get(_core_node.Endpoints, name, namespace=namespace)
        if service is None or service.metadata.deletion_timestamp is not None:
            if current is not None:
                with contextlib.suppress(errors.NotFound):
                    await self.client.delete(_core_node.Endpoints, name, namespace=namespace)
            return _common.Result()
        if not service.spec.selector:
            return _common.Result()
        selector = _selector.selector_from_set(service.spec.selector)
        pods = await self.reader.list(_core_pod.Pod, namespace=namespace, selector=selector)
        subsets = endpoint_subsets(service, pods)
        labels = dict(service.metadata.labels)
        if service.spec.cluster_ip == "None":
            labels[HEADLESS_LABEL] = ""
        if current is None:
            endpoints = _core_node.Endpoints(
                metadata=_meta.ObjectMeta(name=name, namespace=namespace, labels=labels),
                subsets=subsets,
            )
            try:
                await self.client.create(endpoints)
            except errors.AlreadyExists:
                raise errors.Conflict(
                    f"endpoints {namespace}/{name} appeared meanwhile; retry"
                ) from None
            return _common.Result()
        if current.subsets == subsets and current.metadata.labels == labels:
            return _common.Result()
        await self.client.update(
            attrs.evolve(
                current,
                metadata=attrs.evolve(current.metadata, labels=labels),
                subsets=subsets,
            )
        )
        return _common.Result()
