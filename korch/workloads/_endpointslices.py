"""The EndpointSlice controller: ``discovery.k8s.io/v1`` EndpointSlices for a Service.

The same pods and ports as :mod:`korch.workloads._endpoints` (a Service without a selector
is left alone), written the way kube-controller-manager's ``endpointslice`` controller does:

* one group of slices per set of resolved ports and address type (``IPv4``/``IPv6``), each
  slice holding at most ``max_endpoints_per_slice`` (100) endpoints, sorted by address;
* each endpoint: ``addresses: [podIP]``, ``conditions`` (``ready``; ``serving`` = ready;
  ``terminating`` false — terminating pods are left out), ``nodeName``, ``targetRef`` to the
  pod, and ``hostname`` when the pod's ``subdomain`` is the Service's name;
* slices are named ``<service>-xxxxx`` (``generateName``), labelled
  ``kubernetes.io/service-name`` and ``endpointslice.kubernetes.io/managed-by:
  endpointslice-controller.k8s.io``, and owned by the Service (so they go with it);
* existing slices are updated in place, missing ones created, surplus ones deleted; an
  unchanged world writes nothing.

korch.api has no typed EndpointSlice, so slices are :class:`korch.api.GenericResource`.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Final

import attrs

from korch import clock as clock_module
from korch import errors
from korch.api import _core_node, _core_pod, _generic, _meta, _selector
from korch.client import Client
from korch.workloads import _common, _endpoints

__all__ = ("ENDPOINT_SLICE", "EndpointSliceReconciler", "endpoint_slice_bodies")

logger = logging.getLogger(__name__)

ENDPOINT_SLICE: Final = ("discovery.k8s.io/v1", "EndpointSlice")
SERVICE_NAME_LABEL: Final = "kubernetes.io/service-name"
MANAGED_BY_LABEL: Final = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY: Final = "endpointslice-controller.k8s.io"


def endpoint_slice_bodies(
    service: _core_node.Service, pods: list[_core_pod.Pod], *, max_endpoints: int = 100
) -> list[dict[str, Any]]:
    """The bodies (``addressType``, ``endpoints``, ``ports``) of a Service's slices."""
    groups: dict[tuple[str, tuple[tuple[str, int, str], ...]], list[dict[str, Any]]] = {}
    for subset in _endpoints.endpoint_subsets(service, pods):
        ports = tuple((p.name, p.port, p.protocol or "TCP") for p in subset.ports)
        for ready, addresses in ((True, subset.addresses), (False, subset.not_ready_addresses)):
            for address in addresses:
                endpoint: dict[str, Any] = {
                    "addresses": [address.ip],
                    "conditions": {"ready": ready, "serving": ready, "terminating": False},
                }
                if address.hostname:
                    endpoint["hostname"] = address.hostname
                if address.node_name:
                    endpoint["nodeName"] = address.node_name
                if address.target_ref is not None:
                    ref = address.target_ref
                    endpoint["targetRef"] = {
                        "kind": "Pod",
                        "namespace": ref.namespace,
                        "name": ref.name,
                        "uid": ref.uid,
                    }
                family = "IPv6" if ":" in address.ip else "IPv4"
                groups.setdefault((family, ports), []).append(endpoint)
    bodies = []
    for (family, ports), endpoints in sorted(groups.items()):
        endpoints.sort(key=lambda e: (e["addresses"][0], e.get("targetRef", {}).get("name", "")))
        port_list = [{"name": n, "port": p, "protocol": proto} for n, p, proto in ports]
        for start in range(0, len(endpoints), max_endpoints):
            bodies.append(
                {
                    "addressType": family,
                    "endpoints": endpoints[start : start + max_endpoints],
                    "ports": port_list,
                }
            )
    return bodies


class EndpointSliceReconciler:
    """Reconciles the EndpointSlices of one Service per key (``namespace/name``).

    Args:
        client: writes EndpointSlices.
        reader: reads services, pods and slices (default: live reads via ``client``).
        clock: unused today; accepted so every reconciler is built alike.
        max_endpoints_per_slice: endpoints per slice (Kubernetes' default 100).
    """

    def __init__(
        self,
        client: Client,
        *,
        reader: _common.Reader | None = None,
        clock: clock_module.Clock | None = None,
        max_endpoints_per_slice: int = 100,
    ) -> None:
        if max_endpoints_per_slice < 1:
            raise errors.BadRequest("max_endpoints_per_slice must be at least 1")
        self.client = client
        self.reader = reader or _common.ClientReader(client)
        self.clock = clock or clock_module.SystemClock()
        self.max_endpoints = max_endpoints_per_slice

    async def reconcile(self, key: str) -> _common.Result:
        """Write the slices of the Service named by ``key``."""
        namespace, name = _common.split_key(key)
        service = await self.reader.get(_core_node.Service, name, namespace=namespace)
        if service is None or not service.spec.selector:
            return _common.Result()  # gone: its slices are garbage collected with it
        selector = _selector.selector_from_set(service.spec.selector)
        pods = await self.reader.list(_core_pod.Pod, namespace=namespace, selector=selector)
        bodies = endpoint_slice_bodies(service, pods, max_endpoints=self.max_endpoints)
        owned_by = _selector.selector_from_set(
            {SERVICE_NAME_LABEL: name, MANAGED_BY_LABEL: MANAGED_BY}
        )
        reader: Any = self.reader  # the Reader protocol types kinds as classes
        existing = sorted(
            await reader.list(ENDPOINT_SLICE, namespace=namespace, selector=owned_by),
            key=lambda s: s.metadata.name,
        )
        labels = {**service.metadata.labels, SERVICE_NAME_LABEL: name, MANAGED_BY_LABEL: MANAGED_BY}
        # keep slices that already hold a wanted body; rewrite the others, then add or drop
        spare = list(existing)
        to_place = []
        for body in bodies:
            same = next((s for s in spare if s.body == body and s.metadata.labels == labels), None)
            if same is None:
                to_place.append(body)
            else:
                spare.remove(same)
        for body, current in zip(to_place, spare, strict=False):
            await self.client.update(
                attrs.evolve(
                    current, metadata=attrs.evolve(current.metadata, labels=labels), body=body
                )
            )
        for body in to_place[len(spare) :]:
            slice_ = _generic.GenericResource(
                api_version=ENDPOINT_SLICE[0],
                kind=ENDPOINT_SLICE[1],
                metadata=_meta.ObjectMeta(
                    generate_name=_common.generate_name_prefix(name),
                    namespace=namespace,
                    labels=labels,
                    owner_references=[_common.owner_reference(service)],
                ),
                body=body,
            )
            await self.client.create(slice_)
        for surplus in spare[len(to_place) :]:
            with contextlib.suppress(errors.NotFound):
                await self.client.delete(ENDPOINT_SLICE, surplus.metadata.name, namespace=namespace)
        return _common.Result()
