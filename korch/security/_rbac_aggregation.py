"""Aggregated ClusterRoles: the rules kube-controller-manager's clusterrole-aggregation
controller writes into a ClusterRole that has an ``aggregationRule``.

The controller's rule: for each of the ClusterRole's ``clusterRoleSelectors`` in order, take
every *other* ClusterRole whose labels match, by name, and append each of their rules that
is not already in the list (equal rules are kept once). The result replaces the aggregated
role's own ``rules`` — they are controller-managed.

Aggregation nests: ``admin`` selects roles labelled ``aggregate-to-admin``, among them
``edit``, which itself aggregates ``aggregate-to-edit`` roles such as ``view``. The
controller reaches the nested result by re-syncing whenever a ClusterRole changes;
:func:`aggregate_cluster_roles` computes that fixed point at once, starting every aggregated
role from no rules (so roles that select each other in a cycle get exactly the rules that
reach them from non-aggregated roles, and the iteration always ends).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import attrs

from korch import errors
from korch.api import _misc, _selector
from korch.apiserver import _types
from korch.client import _protocol

__all__ = (
    "ClusterRoleAggregationController",
    "aggregate_cluster_roles",
    "sync_aggregated_cluster_roles",
)

log = logging.getLogger("korch.security")


def _selectors(role: _misc.ClusterRole) -> list[_selector.Selector]:
    assert role.aggregation_rule is not None
    out = []
    for index, label_selector in enumerate(role.aggregation_rule.cluster_role_selectors):
        try:
            out.append(_selector.label_selector_as_selector(label_selector))
        except errors.BadRequest as exc:
            raise errors.Invalid(
                f'ClusterRole "{role.metadata.name}" has an invalid aggregationRule',
                [errors.Cause(f"aggregationRule.clusterRoleSelectors[{index}]", exc.message)],
            ) from exc
    return out


def aggregate_cluster_roles(
    cluster_roles: Sequence[_misc.ClusterRole],
) -> dict[str, tuple[_misc.PolicyRule, ...]]:
    """The rules of every ClusterRole with an ``aggregationRule``, by name.

    ClusterRoles without an aggregation rule are not in the result (their own ``rules``
    stand).

    Raises:
        korch.errors.Invalid: a cluster role selector that is not a valid label selector.
    """
    by_name = {role.metadata.name: role for role in cluster_roles}
    aggregated = [role for role in by_name.values() if role.aggregation_rule is not None]
    if not aggregated:
        return {}
    selectors = {role.metadata.name: _selectors(role) for role in aggregated}
    ordered = sorted(by_name.values(), key=lambda role: role.metadata.name)
    current: dict[str, tuple[_misc.PolicyRule, ...]] = {
        name: () if role.aggregation_rule is not None else tuple(role.rules)
        for name, role in by_name.items()
    }
    # starting from nothing, every pass can only add rules (a union of growing sets), and
    # they are bounded by the union of all rules: this reaches the least fixed point, one
    # pass per nesting level
    for _ in range(len(by_name) + 1):
        changed = False
        for role in aggregated:
            name = role.metadata.name
            rules: list[_misc.PolicyRule] = []
            for selector in selectors[name]:
                for other in ordered:
                    other_name = other.metadata.name
                    if other_name == name or not selector.matches(other.metadata.labels):
                        continue
                    for rule in current[other_name]:
                        if rule not in rules:
                            rules.append(rule)
            if tuple(rules) != current[name]:
                current[name] = tuple(rules)
                changed = True
        if not changed:
            break
    return {role.metadata.name: current[role.metadata.name] for role in aggregated}


async def sync_aggregated_cluster_roles(client: _protocol.Client) -> list[_misc.ClusterRole]:
    """One pass of the clusterrole-aggregation controller: write the aggregated rules into
    every ClusterRole with an ``aggregationRule`` whose stored rules differ.

    A role changed meanwhile (Conflict) is skipped; the next pass catches up.

    Returns:
        The ClusterRoles updated.

    Raises:
        korch.errors.Invalid: an aggregation rule with an invalid selector.
    """
    roles = list((await client.list(_misc.ClusterRole)).items)
    by_name = {role.metadata.name: role for role in roles}
    updated = []
    for name, rules in aggregate_cluster_roles(roles).items():
        role = by_name[name]
        if tuple(role.rules) == rules:
            continue
        try:
            updated.append(await client.update(attrs.evolve(role, rules=list(rules))))
        except (errors.Conflict, errors.NotFound):
            continue
    return updated


class ClusterRoleAggregationController:
    """kube-controller-manager's clusterrole-aggregation controller: keeps aggregated
    ClusterRoles' ``rules`` written out, so ``kubectl get clusterrole admin -o yaml`` shows
    them. (:class:`korch.security.RBACAuthorizer` does not need it: it aggregates itself.)

    Args:
        client: reads and updates ClusterRoles.
    """

    def __init__(self, client: _protocol.Client) -> None:
        self._client = client

    async def run(self) -> None:
        """Sync on start and after every ClusterRole change, until cancelled."""
        while True:
            try:
                await sync_aggregated_cluster_roles(self._client)
                listed: _types.ObjectList[Any] = await self._client.list(_misc.ClusterRole)
                async with self._client.watch(
                    _misc.ClusterRole, resource_version=listed.metadata.resource_version
                ) as events:
                    event: _types.WatchEvent[Any]
                    async for event in events:
                        if event.type in ("ADDED", "MODIFIED", "DELETED"):
                            await sync_aggregated_cluster_roles(self._client)
            except errors.Expired:
                continue
            except errors.Invalid as exc:
                log.warning("clusterrole aggregation: %s", exc)
                await self._wait_for_change()

    async def _wait_for_change(self) -> None:
        async with self._client.watch(_misc.ClusterRole) as events:
            async for _ in events:
                return
