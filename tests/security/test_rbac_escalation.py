"""Privilege-escalation prevention: a namespace admin can grant what it holds, and no more,
unless it may escalate or bind."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from korch import errors
from korch.api import (
    AggregationRule,
    ClusterRole,
    ClusterRoleBinding,
    LabelSelector,
    Namespace,
    ObjectMeta,
    PolicyRule,
    Role,
    RoleBinding,
    RoleRef,
    Subject,
)
from korch.apiserver import UserInfo
from korch.client import Client
from korch.security import _roles
from korch.security._rbac_authorizer import APISERVER_LOOPBACK_USER, RBACAuthorizer
from korch.security._rbac_escalation import RBACEscalationCheck, covers
from korch.testing import Environment

pytestmark = pytest.mark.anyio

RBAC = "rbac.authorization.k8s.io"
ALICE = UserInfo(name="alice", groups=("system:authenticated",))


def user_subject(name: str) -> Subject:
    return Subject(kind="User", api_group=RBAC, name=name)


@pytest.fixture
async def setup() -> AsyncIterator[tuple[Environment, Client, Client]]:
    authorizer = RBACAuthorizer()  # its client comes with run(): the server does not exist yet
    async with Environment(admission=[RBACEscalationCheck(authorizer)]) as env:
        env.api.authorizer = authorizer
        admin = env.api.client(user=APISERVER_LOOPBACK_USER)
        async with anyio.create_task_group() as tg:
            tg.start_soon(authorizer.run, admin)
            await authorizer.wait_synced()
            await _roles.ensure_default_roles(admin)
            await admin.create(Namespace(metadata=ObjectMeta(name="team")))
            await admin.create(
                RoleBinding(
                    metadata=ObjectMeta(name="alice-admin", namespace="team"),
                    role_ref=RoleRef(api_group=RBAC, kind="ClusterRole", name="admin"),
                    subjects=[user_subject("alice")],
                )
            )
            await env.settle()
            yield env, admin, env.api.client(user=ALICE, namespace="team")
            tg.cancel_scope.cancel()


async def test_can_grant_what_it_holds(setup: tuple[Environment, Client, Client]) -> None:
    _, _, alice = setup
    await alice.create(
        Role(
            metadata=ObjectMeta(name="pod-reader", namespace="team"),
            rules=[PolicyRule(verbs=["get", "list"], api_groups=[""], resources=["pods"])],
        )
    )
    await alice.create(
        RoleBinding(
            metadata=ObjectMeta(name="bob-edit", namespace="team"),
            role_ref=RoleRef(api_group=RBAC, kind="ClusterRole", name="edit"),
            subjects=[user_subject("bob")],
        )
    )


async def test_cannot_grant_more(setup: tuple[Environment, Client, Client]) -> None:
    _, _, alice = setup
    with pytest.raises(errors.Forbidden) as caught:
        await alice.create(
            Role(
                metadata=ObjectMeta(name="nodes", namespace="team"),
                rules=[PolicyRule(verbs=["get"], api_groups=[""], resources=["nodes", "pods"])],
            )
        )
    assert caught.value.message == (
        'roles.rbac.authorization.k8s.io "nodes" is forbidden: user "alice" '
        '(groups=["system:authenticated"]) is attempting to grant RBAC permissions not '
        'currently held:\n{APIGroups:[""], Resources:["nodes"], Verbs:["get"]}'
    )
    with pytest.raises(errors.Forbidden, match="not currently held"):
        await alice.create(
            RoleBinding(
                metadata=ObjectMeta(name="bob-root", namespace="team"),
                role_ref=RoleRef(api_group=RBAC, kind="ClusterRole", name="cluster-admin"),
                subjects=[user_subject("bob")],
            )
        )


async def test_bind_and_escalate_verbs(setup: tuple[Environment, Client, Client]) -> None:
    env, admin, alice = setup
    await admin.create(
        Role(
            metadata=ObjectMeta(name="binder", namespace="team"),
            rules=[
                PolicyRule(
                    verbs=["bind"],
                    api_groups=[RBAC],
                    resources=["clusterroles"],
                    resource_names=["cluster-admin"],
                ),
                PolicyRule(verbs=["escalate"], api_groups=[RBAC], resources=["roles"]),
            ],
        )
    )
    await admin.create(
        RoleBinding(
            metadata=ObjectMeta(name="alice-binder", namespace="team"),
            role_ref=RoleRef(api_group=RBAC, kind="Role", name="binder"),
            subjects=[user_subject("alice")],
        )
    )
    await env.settle()
    await alice.create(
        RoleBinding(
            metadata=ObjectMeta(name="bob-root", namespace="team"),
            role_ref=RoleRef(api_group=RBAC, kind="ClusterRole", name="cluster-admin"),
            subjects=[user_subject("bob")],
        )
    )
    await alice.create(
        Role(
            metadata=ObjectMeta(name="nodes", namespace="team"),
            rules=[PolicyRule(verbs=["get"], api_groups=[""], resources=["nodes"])],
        )
    )


async def test_cluster_scope_needs_cluster_permissions(
    setup: tuple[Environment, Client, Client],
) -> None:
    env, admin, _ = setup
    await admin.create(
        ClusterRole(
            metadata=ObjectMeta(name="rbac-writer"),
            rules=[
                PolicyRule(
                    verbs=["create"],
                    api_groups=[RBAC],
                    resources=["clusterroles", "clusterrolebindings"],
                )
            ],
        )
    )
    await admin.create(
        ClusterRoleBinding(
            metadata=ObjectMeta(name="carol-rbac"),
            role_ref=RoleRef(api_group=RBAC, kind="ClusterRole", name="rbac-writer"),
            subjects=[user_subject("carol")],
        )
    )
    await env.settle()
    carol = env.api.client(user=UserInfo(name="carol"))
    with pytest.raises(errors.Forbidden, match="aggregationRule"):
        await carol.create(
            ClusterRole(
                metadata=ObjectMeta(name="sneaky"),
                aggregation_rule=AggregationRule(
                    cluster_role_selectors=[LabelSelector(match_labels={"x": "y"})]
                ),
            )
        )
    await carol.create(
        ClusterRole(
            metadata=ObjectMeta(name="subset"),
            rules=[PolicyRule(verbs=["create"], api_groups=[RBAC], resources=["clusterroles"])],
        )
    )
    with pytest.raises(errors.Forbidden, match="not currently held"):
        await carol.create(
            ClusterRoleBinding(
                metadata=ObjectMeta(name="x"),
                role_ref=RoleRef(api_group=RBAC, kind="ClusterRole", name="view"),
                subjects=[user_subject("carol")],
            )
        )


def test_covers() -> None:
    owner = [
        PolicyRule(verbs=["get"], api_groups=["apps"], resources=["*/scale"]),
        PolicyRule(verbs=["*"], api_groups=[""], resources=["configmaps"], resource_names=["a"]),
        PolicyRule(verbs=["get"], non_resource_urls=["/logs*"]),
    ]
    assert (
        covers(
            owner,
            [
                PolicyRule(
                    verbs=["get"], api_groups=["apps"], resources=["deployments/scale", "*/scale"]
                )
            ],
        )
        == []
    )
    assert covers(owner, [PolicyRule(verbs=["get"], api_groups=["apps"], resources=["*"])])
    assert (
        covers(
            owner,
            [
                PolicyRule(
                    verbs=["delete"],
                    api_groups=[""],
                    resources=["configmaps"],
                    resource_names=["a"],
                )
            ],
        )
        == []
    )
    assert covers(owner, [PolicyRule(verbs=["list"], api_groups=[""], resources=["configmaps"])])
    assert covers(owner, [PolicyRule(verbs=["get"], non_resource_urls=["/logs/kube"])]) == []
    assert covers(owner, [PolicyRule(verbs=["*"], non_resource_urls=["/logs"])]) == [
        PolicyRule(verbs=["*"], non_resource_urls=["/logs"])
    ]
