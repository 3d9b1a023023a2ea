"""korch.security — PKI (CA, certificates, kubeconfig), authentication (x509 client
certificates, tokens), RBAC authorization and encryption at rest.

The API server asks the implementations here through the protocols of ``korch.apiserver``
(:class:`~korch.apiserver.Authenticator`, :class:`~korch.apiserver.Authorizer`).
"""

from __future__ import annotations

from korch.security._bootstrap import (
    BootstrapTokenAuthenticator,
    bootstrap_token_secret,
    generate_bootstrap_token,
    parse_bootstrap_token,
)
from korch.security._encryption import (
    AESGCMKey,
    EncryptingStore,
    EncryptionConfiguration,
    EncryptionProvider,
    ResourceEncryption,
    generate_encryption_key,
)
from korch.security._pki import (
    CertificateKeyPair,
    ClusterPKI,
    create_ca,
    create_client_certificate,
    create_serving_certificate,
    default_serving_names,
    ensure_cluster_pki,
)
from korch.security._rbac import (
    NonResourceAttributes,
    Policy,
    ResourceAttributes,
    service_account_username,
)
from korch.security._rbac_aggregation import (
    ClusterRoleAggregationController,
    aggregate_cluster_roles,
    sync_aggregated_cluster_roles,
)
from korch.security._rbac_authorizer import (
    APISERVER_LOOPBACK_USER,
    SYSTEM_MASTERS,
    RBACAuthorizer,
)
from korch.security._rbac_escalation import RBACEscalationCheck
from korch.security._rbac_index import RBACEvaluator
from korch.security._rbac_reviews import (
    NonResourceRule,
    ResourceRule,
    SubjectAccessReviewSpec,
    SubjectAccessReviewStatus,
    SubjectRulesReviewStatus,
    rules_for,
    self_subject_access_review,
    subject_access_review,
)
from korch.security._roles import (
    default_cluster_role_bindings,
    default_cluster_roles,
    ensure_default_roles,
)
from korch.security._serviceaccounts import (
    DEFAULT_SERVICE_ACCOUNT_ISSUER,
    ServiceAccountTokenAuthenticator,
    ServiceAccountTokenIssuer,
    TokenRequestStatus,
    generate_signing_key,
    public_jwk,
    request_token,
)
from korch.security._tokens import StaticTokenAuthenticator, bearer_token
from korch.security._x509 import AUTHENTICATED_GROUP, X509Authenticator, user_from_certificate

__all__ = (
    "APISERVER_LOOPBACK_USER",
    "AUTHENTICATED_GROUP",
    "DEFAULT_SERVICE_ACCOUNT_ISSUER",
    "SYSTEM_MASTERS",
    "AESGCMKey",
    "BootstrapTokenAuthenticator",
    "CertificateKeyPair",
    "ClusterPKI",
    "ClusterRoleAggregationController",
    "EncryptingStore",
    "EncryptionConfiguration",
    "EncryptionProvider",
    "NonResourceAttributes",
    "NonResourceRule",
    "Policy",
    "RBACAuthorizer",
    "RBACEscalationCheck",
    "RBACEvaluator",
    "ResourceAttributes",
    "ResourceEncryption",
    "ResourceRule",
    "ServiceAccountTokenAuthenticator",
    "ServiceAccountTokenIssuer",
    "StaticTokenAuthenticator",
    "SubjectAccessReviewSpec",
    "SubjectAccessReviewStatus",
    "SubjectRulesReviewStatus",
    "TokenRequestStatus",
    "X509Authenticator",
    "aggregate_cluster_roles",
    "bearer_token",
    "bootstrap_token_secret",
    "create_ca",
    "create_client_certificate",
    "create_serving_certificate",
    "default_cluster_role_bindings",
    "default_cluster_roles",
    "default_serving_names",
    "ensure_cluster_pki",
    "ensure_default_roles",
    "generate_bootstrap_token",
    "generate_encryption_key",
    "generate_signing_key",
    "parse_bootstrap_token",
    "public_jwk",
    "request_token",
    "rules_for",
    "self_subject_access_review",
    "service_account_username",
    "subject_access_review",
    "sync_aggregated_cluster_roles",
    "user_from_certificate",
)
