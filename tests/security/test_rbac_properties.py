"""RBAC invariants, by Hypothesis: the indexed evaluator decides exactly as the reference
walk over every binding, and permissions only add up (adding a rule or a binding never
takes a permission away)."""

from __future__ import annotations

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from korch.api import (
    ClusterRole,
    ClusterRoleBinding,
    ObjectMeta,
    PolicyRule,
    Role,
    RoleBinding,
    RoleRef,
    Subject,
)
from korch.apiserver import UserInfo
from korch.security import _rbac
from korch.security._rbac import NonResourceAttributes, ResourceAttributes
from korch.security._rbac_index import RBACEvaluator

RBAC = "rbac.authorization.k8s.io"
NAMESPACES = ["", "a", "b"]
GROUPS = ["", "apps"]
RESOURCES = ["pods", "secrets", "deployments"]
SUBRESOURCES = ["", "log", "status"]
VERBS = ["get", "list", "create", "delete"]
NAMES = ["", "x", "y"]
USERS = ["alice", "bob", "system:serviceaccount:a:robot"]
USER_GROUPS = ["devs", "ops"]
PATHS = ["/healthz", "/healthz/etcd", "/apis", "/apis/apps"]

verbs = st.lists(st.sampled_from([*VERBS, "*"]), min_size=1, max_size=3)
resource_rules = st.builds(
    PolicyRule,
    verbs=verbs,
    api_groups=st.lists(st.sampled_from([*GROUPS, "*"]), min_size=1, max_size=2),
    resources=st.lists(
        st.sampled_from([*RESOURCES, "*", "pods/log", "*/status", "deployments/status"]),
        min_size=1,
        max_size=3,
    ),
    resource_names=st.lists(st.sampled_from(["x", "y"]), max_size=1),
)
url_rules = st.builds(
    PolicyRule,
    verbs=verbs,
    non_resource_urls=st.lists(
        st.sampled_from([*PATHS, "/healthz*", "/apis/*", "*"]), min_size=1, max_size=2
    ),
)
rules = st.lists(st.one_of(resource_rules, url_rules), max_size=3)
subjects = st.lists(
    st.one_of(
        st.builds(
            Subject, kind=st.just("User"), api_group=st.just(RBAC), name=st.sampled_from(USERS)
        ),
        st.builds(
            Subject,
            kind=st.just("Group"),
            api_group=st.just(RBAC),
            name=st.sampled_from(USER_GROUPS),
        ),
        st.builds(
            Subject,
            kind=st.just("ServiceAccount"),
            name=st.just("robot"),
            namespace=st.sampled_from(["", "a", "b"]),
        ),
    ),
    min_size=1,
    max_size=2,
)
role_names = st.sampled_from(["r1", "r2", "r3"])


@st.composite
def policies(draw: st.DrawFn) -> list[object]:
    objects: list[object] = []
    for name in draw(st.lists(role_names, unique=True)):
        objects.append(ClusterRole(metadata=ObjectMeta(name=name), rules=draw(rules)))
    for name in draw(st.lists(role_names, unique=True)):
        ns = draw(st.sampled_from(["a", "b"]))
        objects.append(Role(metadata=ObjectMeta(name=name, namespace=ns), rules=draw(rules)))
    for i in range(draw(st.integers(0, 3))):
        objects.append(
            ClusterRoleBinding(
                metadata=ObjectMeta(name=f"crb{i}"),
                role_ref=RoleRef(api_group=RBAC, kind="ClusterRole", name=draw(role_names)),
                subjects=draw(subjects),
            )
        )
    for i in range(draw(st.integers(0, 4))):
        objects.append(
            RoleBinding(
                metadata=ObjectMeta(name=f"rb{i}", namespace=draw(st.sampled_from(["a", "b"]))),
                role_ref=RoleRef(
                    api_group=RBAC,
                    kind=draw(st.sampled_from(["Role", "ClusterRole"])),
                    name=draw(role_names),
                ),
                subjects=draw(subjects),
            )
        )
    return objects


users = st.builds(
    UserInfo,
    name=st.sampled_from(USERS),
    groups=st.lists(st.sampled_from(USER_GROUPS), unique=True).map(tuple),
)
requests = st.one_of(
    st.builds(
        ResourceAttributes,
        verb=st.sampled_from(VERBS),
        group=st.sampled_from(GROUPS),
        resource=st.sampled_from(RESOURCES),
        subresource=st.sampled_from(SUBRESOURCES),
        namespace=st.sampled_from(NAMESPACES),
        name=st.sampled_from(NAMES),
    ),
    st.builds(NonResourceAttributes, path=st.sampled_from(PATHS), verb=st.sampled_from(VERBS)),
)


@settings(max_examples=300, deadline=None)
@given(objects=policies(), user=st.one_of(st.none(), users), request=requests)
def test_indexed_evaluator_equals_reference(
    objects: list[object], user: UserInfo | None, request: ResourceAttributes
) -> None:
    evaluator = RBACEvaluator.from_objects(objects)
    allowed, reason = evaluator.decide(user, request)
    expected, expected_reason = _rbac.naive_decision(evaluator.policy, user, request)
    assert allowed == expected
    if not allowed:
        assert reason == expected_reason


@settings(max_examples=200, deadline=None)
@given(
    objects=policies(),
    user=users,
    request=requests,
    extra=st.one_of(resource_rules, url_rules),
    data=st.data(),
)
def test_adding_a_rule_never_removes_a_permission(
    objects: list[object],
    user: UserInfo,
    request: ResourceAttributes,
    extra: PolicyRule,
    data: st.DataObject,
) -> None:
    before = RBACEvaluator.from_objects(objects).allowed(user, request)
    roles = [o for o in objects if isinstance(o, Role | ClusterRole)]
    if roles:
        target = data.draw(st.sampled_from(roles))
        grown = [attrs.evolve(o, rules=[*o.rules, extra]) if o is target else o for o in objects]
    else:
        grown = objects
    grown.append(
        ClusterRoleBinding(
            metadata=ObjectMeta(name="extra"),
            role_ref=RoleRef(api_group=RBAC, kind="ClusterRole", name="r1"),
            subjects=[Subject(kind="User", api_group=RBAC, name="nobody")],
        )
    )
    after = RBACEvaluator.from_objects(grown).allowed(user, request)
    assert after or not before
