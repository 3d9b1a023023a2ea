"""RBACAuthorizer guarding an APIServer: watches roles and bindings, grants and denies with
kube-apiserver's messages, and keeps up with changes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import attrs
import pytest

from korch import errors
from korch.api import (
    ClusterRole,
    ClusterRoleBinding,
    ConfigMap,
    Namespace,
    ObjectMeta,
    Pod,
    PolicyRule,
    Role,
    RoleBinding,
    RoleRef,
    Subject,
)
from korch.apiserver import Authorizer, UserInfo
from korch.client import Client
from korch.security import _roles
from korch.security._rbac import NonResourceAttributes, ResourceAttributes
from korch.security._rbac_aggregation import (
    ClusterRoleAggregationController,
    sync_aggregated_cluster_roles,
)
from korch.security._rbac_authorizer import APISERVER_LOOPBACK_USER, RBACAuthorizer
from korch.testing import Environment

pytestmark = pytest.mark.anyio

RBAC = "rbac.authorization.k8s.io"
ALICE = UserInfo(name="alice", groups=("system:authenticated",))


class Cluster:
    def __init__(self, env: Environment, authorizer: RBACAuthorizer) -> None:
        self.env = env
        self.authorizer = authorizer
        self.admin: Client = env.api.client(user=APISERVER_LOOPBACK_USER)

    def client(self, user: UserInfo | None, namespace: str = "default") -> Client:
        return self.env.api.client(user=user, namespace=namespace)


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    async with Environment() as env:
        authorizer = RBACAuthorizer(env.api.client(user=APISERVER_LOOPBACK_USER), clock=env.clock)
        env.api.authorizer = authorizer
        async with anyio.create_task_group() as tg:
            tg.start_soon(authorizer.run)
            await authorizer.wait_synced()
            c = Cluster(env, authorizer)
            await _roles.ensure_default_roles(c.admin)
            await env.settle()
            yield c
            tg.cancel_scope.cancel()


def test_is_an_authorizer() -> None:
    assert isinstance(RBACAuthorizer(objects=()), Authorizer)


async def test_denial_message_is_kube_apiservers(cluster: Cluster) -> None:
    with pytest.raises(errors.Forbidden) as caught:
        await cluster.client(ALICE).get(ConfigMap, "x", namespace="default")
    assert caught.value.message == (
        'configmaps "x" is forbidden: User "alice" cannot get resource "configmaps" in API '
        'group "" in the namespace "default"'
    )


async def test_role_and_binding_take_effect_and_revocation_too(cluster: Cluster) -> None:
    alice = cluster.client(ALICE)
    await cluster.admin.create(
        Role(
            metadata=ObjectMeta(name="cm", namespace="default"),
            rules=[
                PolicyRule(
                    verbs=["get", "list", "create"], api_groups=[""], resources=["configmaps"]
                )
            ],
        )
    )
    binding = await cluster.admin.create(
        RoleBinding(
            metadata=ObjectMeta(name="alice-cm", namespace="default"),
            role_ref=RoleRef(api_group=RBAC, kind="Role", name="cm"),
            subjects=[Subject(kind="User", api_group=RBAC, name="alice")],
        )
    )
    await cluster.env.settle()
    await alice.create(ConfigMap(metadata=ObjectMeta(name="c1"), data={"a": "b"}))
    assert [c.metadata.name for c in await alice.list(ConfigMap, namespace="default")] == ["c1"]
    with pytest.raises(errors.Forbidden, match="cannot list resource"):
        await alice.list(ConfigMap)  # all namespaces: the RoleBinding does not reach
    with pytest.raises(errors.Forbidden, match="cannot delete resource"):
        await alice.delete(ConfigMap, "c1")
    await cluster.admin.delete(RoleBinding, binding.metadata.name, namespace="default")
    await cluster.env.settle()
    with pytest.raises(errors.Forbidden):
        await alice.get(ConfigMap, "c1")


async def test_aggregated_edit_role_from_the_api(cluster: Cluster) -> None:
    await cluster.admin.create(Namespace(metadata=ObjectMeta(name="team")))
    await cluster.admin.create(
        RoleBinding(
            metadata=ObjectMeta(name="alice-edit", namespace="team"),
            role_ref=RoleRef(api_group=RBAC, kind="ClusterRole", name="edit"),
            subjects=[Subject(kind="User", api_group=RBAC, name="alice")],
        )
    )
    await cluster.env.settle()
    alice = cluster.client(ALICE, namespace="team")
    await alice.create(ConfigMap(metadata=ObjectMeta(name="c")))
    with pytest.raises(errors.Forbidden):
        await alice.create(Role(metadata=ObjectMeta(name="r", namespace="team")))
    with pytest.raises(errors.Forbidden):
        await cluster.client(ALICE, namespace="default").create(
            ConfigMap(metadata=ObjectMeta(name="c"))
        )
    # a new role labelled aggregate-to-edit extends edit at once
    await cluster.admin.create(
        ClusterRole(
            metadata=ObjectMeta(name="roles-editor", labels={_roles.AGGREGATE_TO_EDIT: "true"}),
            rules=[PolicyRule(verbs=["create"], api_groups=[RBAC], resources=["roles"])],
        )
    )
    await cluster.env.settle()
    await alice.create(Role(metadata=ObjectMeta(name="r", namespace="team")))


async def test_service_account_through_the_server(cluster: Cluster) -> None:
    await cluster.admin.create(
        ClusterRoleBinding(
            metadata=ObjectMeta(name="robot-view"),
            role_ref=RoleRef(api_group=RBAC, kind="ClusterRole", name="view"),
            subjects=[Subject(kind="ServiceAccount", name="robot", namespace="default")],
        )
    )
    await cluster.env.settle()
    robot = cluster.client(
        UserInfo(
            name="system:serviceaccount:default:robot",
            groups=("system:serviceaccounts", "system:serviceaccounts:default"),
        )
    )
    assert len(await robot.list(Pod)) == 0
    with pytest.raises(errors.Forbidden, match='User "system:serviceaccount:default:robot"'):
        await robot.create(ConfigMap(metadata=ObjectMeta(name="c")))


async def test_anonymous_and_can_i(cluster: Cluster) -> None:
    with pytest.raises(errors.Forbidden, match='User "system:anonymous"'):
        await cluster.client(None).list(Pod)
    decision = cluster.authorizer.decide(ALICE, NonResourceAttributes(path="/apis", verb="get"))
    assert decision.allowed
    review = cluster.authorizer.self_subject_access_review(
        ALICE,
        ResourceAttributes(
            verb="create", resource="selfsubjectaccessreviews", group="authorization.k8s.io"
        ),
    )
    assert review.allowed
    listing = cluster.authorizer.rules_for(ALICE, "default")
    assert any("selfsubjectrulesreviews" in r.resources for r in listing.resource_rules)


async def test_masters_are_allowed_before_sync() -> None:
    authorizer = RBACAuthorizer(Environment().client)  # never run: never synced
    root = UserInfo(name="root", groups=("system:masters",))
    assert authorizer.decide(root, NonResourceAttributes(path="/x", verb="get")).allowed
    denied = authorizer.decide(ALICE, NonResourceAttributes(path="/x", verb="get"))
    assert not denied.allowed and "not read the roles" in denied.reason


async def test_ensure_default_roles_is_idempotent_and_reconciles(cluster: Cluster) -> None:
    assert await _roles.ensure_default_roles(cluster.admin) == []
    view = await cluster.admin.get(ClusterRole, "system:aggregate-to-view")
    trimmed = view.rules[1:]
    await cluster.admin.update(attrs.evolve(view, rules=trimmed))
    changed = await _roles.ensure_default_roles(cluster.admin)
    assert [c.metadata.name for c in changed] == ["system:aggregate-to-view"]
    restored = await cluster.admin.get(ClusterRole, "system:aggregate-to-view")
    assert sorted(map(str, restored.rules)) == sorted(map(str, view.rules))


def test_run_without_client_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="fixed policy"):
        anyio.run(RBACAuthorizer(objects=()).run)
    with pytest.raises(RuntimeError, match="needs a client"):
        anyio.run(RBACAuthorizer().run)
    with pytest.raises(ValueError, match="not both"):
        RBACAuthorizer(Environment().client, objects=())


async def test_aggregation_controller_writes_rules_back(cluster: Cluster) -> None:
    assert (await cluster.admin.get(ClusterRole, "admin")).rules == []
    controller = ClusterRoleAggregationController(cluster.admin)
    async with anyio.create_task_group() as tg:
        tg.start_soon(controller.run)
        await cluster.env.settle()
        view = await cluster.admin.get(ClusterRole, "view")
        admin = await cluster.admin.get(ClusterRole, "admin")
        assert view.rules and all(rule in admin.rules for rule in view.rules)
        await cluster.admin.create(
            ClusterRole(
                metadata=ObjectMeta(name="extra", labels={_roles.AGGREGATE_TO_VIEW: "true"}),
                rules=[PolicyRule(verbs=["get"], api_groups=["x.io"], resources=["things"])],
            )
        )
        await cluster.env.settle()
        admin = await cluster.admin.get(ClusterRole, "admin")
        assert PolicyRule(verbs=["get"], api_groups=["x.io"], resources=["things"]) in admin.rules
        assert await sync_aggregated_cluster_roles(cluster.admin) == []
        tg.cancel_scope.cancel()
