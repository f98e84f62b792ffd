//! RBAC matrix against a real Keystone: every secrets, secret-metadata, secret-ACL, secret-consumer,
//! container (incl. its secrets, ACL and consumers), order and quota route ×
//! 11 principals × 3 policy modes (legacy defaults, secure RBAC with enforce_scope, the SCS
//! profile on legacy). The expected status of every cell is written out by hand below from the
//! contract's rules (barbican-api.md §4.2–§4.4, policy/scs-member-as-creator.yaml); nothing here
//! asks Portcullis's own policy engine. Every mismatch is collected and printed as
//! `route principal mode expected got` before the test fails. Besides the status, each answer
//! must be the right kind (a 403 is a policy denial unless the table says NOT_OWNER, a 401 is
//! Keystone's refusal, a payload read returns the payload), and each write cell is checked for its
//! effect on its fixture (secret, container, consumers, order or quota row): none when refused.
//! Look-ups that precede policy are part of the expected status: another project's order is 404
//! (§2.3.4, §5.8). Project quotas are managed in the fixtures by a-service-admin (legacy, SCS) or
//! a-admin (new), which is not a column.
//!
//! Keystone is started by scripts/test.sh (scripts/keystone.sh); its users file is named by
//! PORTCULLIS_TEST_KEYSTONE_ENV. Without it the tests are skipped, unless
//! PORTCULLIS_REQUIRE_KEYSTONE=1.

use crate::common;
use crate::ks::{keystone, Ks};
use std::collections::HashMap;
use std::path::PathBuf;

use portcullis::config::{AuthStrategy, KeystoneSection};
use reqwest::Method;
use serde_json::{json, Value};

// ------------------------------------------------------------------------------------------
// The principals (columns). Users have password `pass`; project proj-a unless noted.
//   a-admin    admin on proj-a (Keystone implies member, reader, manager)
//   a-member   member on proj-a (implies reader)
//   a-reader   reader on proj-a
//   a-creator  creator on proj-a (legacy role, implies nothing)
//   a-observer observer on proj-a
//   a-audit    audit on proj-a
//   b-admin    admin on proj-b (implies member, reader, manager)
//   b-member   member on proj-b (implies reader)
//   a-norole   member on proj-b only, token scoped to proj-b; listed in the target secret's
//              `read` ACL (project-access true): the ACL-user column
//   none       no X-Auth-Token
//   revoked    an a-admin token revoked in Keystone (DELETE /v3/auth/tokens) after first use
// ------------------------------------------------------------------------------------------
const PRINCIPALS: [&str; 11] = [
    "a-admin", "a-member", "a-reader", "a-creator", "a-observer", "a-audit", "b-admin", "b-member",
    "a-norole", "none", "revoked",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// POST /v1/secrets (secrets:post)
    PostSecrets,
    /// GET /v1/secrets (secrets:get)
    ListSecrets,
    /// GET /v1/secrets/{id}, Accept: application/json (secret:get)
    GetSecret,
    /// GET /v1/secrets/{id}/payload, Accept: text/plain (secret:decrypt)
    GetPayload,
    /// GET /v1/secrets/{id}, Accept: text/plain: legacy download (secret:decrypt)
    GetLegacyText,
    /// PUT /v1/secrets/{id} on a fresh payload-less secret (secret:put)
    PutPayload,
    /// DELETE /v1/secrets/{id} on a fresh secret (secret:delete)
    DeleteSecret,
    /// GET /v1/secrets/{id}/metadata (secret_meta:get)
    MetaGetAll,
    /// PUT /v1/secrets/{id}/metadata, fresh secret (secret_meta:put)
    MetaPutAll,
    /// POST /v1/secrets/{id}/metadata, new key, fresh secret (secret_meta:post)
    MetaPostOne,
    /// GET /v1/secrets/{id}/metadata/k1 (secret_meta:get)
    MetaGetOne,
    /// PUT /v1/secrets/{id}/metadata/k1, fresh secret (secret_meta:put)
    MetaPutOne,
    /// DELETE /v1/secrets/{id}/metadata/k1, fresh secret (secret_meta:delete)
    MetaDeleteOne,
    /// GET /v1/secrets/{id}/acl (secret_acls:get)
    AclGet,
    /// PUT /v1/secrets/{id}/acl, fresh secret (secret_acls:put_patch)
    AclPut,
    /// PATCH /v1/secrets/{id}/acl, fresh secret (secret_acls:put_patch)
    AclPatch,
    /// DELETE /v1/secrets/{id}/acl, fresh secret (secret_acls:delete)
    AclDelete,
    /// POST /v1/containers, generic, no refs (containers:post)
    ContainersPost,
    /// GET /v1/containers (containers:get)
    ContainersList,
    /// GET /v1/containers/{id} (container:get)
    ContainerGet,
    /// DELETE /v1/containers/{id}, fresh container (container:delete)
    ContainerDelete,
    /// POST /v1/containers/{id}/secrets: the target secret again as `s2`, fresh container
    /// (container_secret:post)
    ContainerSecretPost,
    /// DELETE /v1/containers/{id}/secrets: the `s1` link, fresh container (container_secret:delete)
    ContainerSecretDelete,
    /// GET /v1/containers/{id}/acl (container_acls:get)
    ContainerAclGet,
    /// PUT /v1/containers/{id}/acl, fresh container (container_acls:put_patch)
    ContainerAclPut,
    /// DELETE /v1/containers/{id}/acl, fresh container (container_acls:delete)
    ContainerAclDelete,
    /// POST /v1/containers/{id}/consumers, new consumer, fresh container (container_consumers:post)
    ContainerConsumerPost,
    /// GET /v1/containers/{id}/consumers (container_consumers:get)
    ContainerConsumersList,
    /// DELETE /v1/containers/{id}/consumers: the fixture's consumer, fresh container
    /// (container_consumers:delete)
    ContainerConsumerDelete,
    /// POST /v1/secrets/{id}/consumers, new consumer, fresh secret (secret_consumers:post)
    SecretConsumerPost,
    /// GET /v1/secrets/{id}/consumers (secret_consumers:get)
    SecretConsumersList,
    /// DELETE /v1/secrets/{id}/consumers: the fixture's consumer, fresh secret
    /// (secret_consumers:delete)
    SecretConsumerDelete,
    /// POST /v1/orders, key order (orders:post)
    OrdersPost,
    /// GET /v1/orders (orders:get)
    OrdersList,
    /// GET /v1/orders/{id} (order:get; project-scoped look-up first)
    OrderGet,
    /// DELETE /v1/orders/{id}, fresh order (order:delete; project-scoped look-up first)
    OrderDelete,
    /// GET /v1/quotas (quotas:get)
    QuotasGet,
    /// GET /v1/project-quotas (project_quotas:get)
    ProjectQuotasList,
    /// GET /v1/project-quotas/{QUOTA_PROJECT}, override row present (project_quotas:get)
    ProjectQuotaGet,
    /// PUT /v1/project-quotas/{QUOTA_PROJECT}, override row present (project_quotas:put)
    ProjectQuotaPut,
    /// DELETE /v1/project-quotas/{QUOTA_PROJECT}, override row present (project_quotas:delete)
    ProjectQuotaDelete,
}
use Route::*;

type Table = [(Route, [u16; 11])];

/// Not a wire status: a 403 that is *not* a policy denial but the consumer-ownership refusal
/// after policy passed (`Not Allowed. Sorry, only the creator of a consumer can delete it.`,
/// §5.4/§5.6: the caller's project is neither the consumer's nor the entity's).
const NOT_OWNER: u16 = 1403;
/// The project whose quota override the project-quotas routes act on (any string is accepted).
const QUOTA_PROJECT: &str = "rbac-quota-target";

// ------------------------------------------------------------------------------------------
// LEGACY defaults (enforce_new_defaults = false): only the LEGACY check strings can pass.
// Target secret: project proj-a, created by a-creator, read ACL = [a-norole], project-access true.
//   secrets:post        rule:admin_or_creator
//   secrets:get         rule:all_but_audit                       (admin|observer|creator)
//   secret:get,         secret_non_private_read (all_users & project & not private)
//   secret_meta:get       or secret_project_creator or secret_project_admin or secret_acl_read
//   secret:decrypt      secret_decrypt_non_private_read (all_but_audit: audit excluded) or …
//   secret:put          rule:admin_or_creator and rule:secret_project_match
//   secret:delete       secret_project_admin or secret_project_creator
//                         or (secret_project_creator_role and not secret_private_read)
//   secret_meta:post/put/delete, secret_acls:put_patch/delete
//                       secret_project_admin or secret_project_creator
//                         or (secret_project_creator_role and secret_non_private_read)
//   secret_acls:get     rule:all_but_audit and rule:secret_project_match
// Keystone `member`/`reader` are not legacy roles: a-member, a-reader, b-member get nothing;
// a-norole gets only the ACL-read routes.
// ------------------------------------------------------------------------------------------
#[rustfmt::skip]
const LEGACY: &Table = &[
    //                a-adm a-mem a-rdr a-cre a-obs a-aud b-adm b-mem norol  none  rvkd
    (PostSecrets,   [  201,  403,  403,  201,  403,  403,  201,  403,  403,  401,  401]),
    (ListSecrets,   [  200,  403,  403,  200,  200,  403,  200,  403,  403,  401,  401]),
    (GetSecret,     [  200,  403,  403,  200,  200,  200,  403,  403,  200,  401,  401]),
    (GetPayload,    [  200,  403,  403,  200,  200,  403,  403,  403,  200,  401,  401]),
    (GetLegacyText, [  200,  403,  403,  200,  200,  403,  403,  403,  200,  401,  401]),
    (PutPayload,    [  204,  403,  403,  204,  403,  403,  403,  403,  403,  401,  401]),
    (DeleteSecret,  [  204,  403,  403,  204,  403,  403,  403,  403,  403,  401,  401]),
    (MetaGetAll,    [  200,  403,  403,  200,  200,  200,  403,  403,  200,  401,  401]),
    (MetaPutAll,    [  201,  403,  403,  201,  403,  403,  403,  403,  403,  401,  401]),
    (MetaPostOne,   [  201,  403,  403,  201,  403,  403,  403,  403,  403,  401,  401]),
    (MetaGetOne,    [  200,  403,  403,  200,  200,  200,  403,  403,  200,  401,  401]),
    (MetaPutOne,    [  200,  403,  403,  200,  403,  403,  403,  403,  403,  401,  401]),
    (MetaDeleteOne, [  204,  403,  403,  204,  403,  403,  403,  403,  403,  401,  401]),
    (AclGet,        [  200,  403,  403,  200,  200,  403,  403,  403,  403,  401,  401]),
    (AclPut,        [  200,  403,  403,  200,  403,  403,  403,  403,  403,  401,  401]),
    (AclPatch,      [  200,  403,  403,  200,  403,  403,  403,  403,  403,  401,  401]),
    (AclDelete,     [  200,  403,  403,  200,  403,  403,  403,  403,  403,  401,  401]),
    // Containers. Target container: proj-a, created by a-creator, refs [s1 -> target secret],
    // read ACL [a-norole] project-access true, consumer fx.
    //   containers:post / containers:get        admin_or_creator / all_but_audit (as secrets)
    //   container:get, container_consumers:*    container_non_private_read or container_project_creator
    //                                           or container_project_admin or container_acl_read
    //   container:delete                        container_project_admin or container_project_creator
    //   container_secret:post/delete, container_acls:put_patch/delete
    //                                           container_project_admin or container_project_creator
    //                                           or (container_project_creator_role and container_non_private_read)
    //   container_acls:get                      all_but_audit and container_project_match
    // Consumer DELETE by a-norole passes policy (ACL read) but proj-b owns neither the consumer
    // nor the entity: NOT_OWNER.
    (ContainersPost,          [  201,  403,  403,  201,  403,  403,  201,  403,  403,  401,  401]),
    (ContainersList,          [  200,  403,  403,  200,  200,  403,  200,  403,  403,  401,  401]),
    (ContainerGet,            [  200,  403,  403,  200,  200,  200,  403,  403,  200,  401,  401]),
    (ContainerDelete,         [  204,  403,  403,  204,  403,  403,  403,  403,  403,  401,  401]),
    (ContainerSecretPost,     [  201,  403,  403,  201,  403,  403,  403,  403,  403,  401,  401]),
    (ContainerSecretDelete,   [  204,  403,  403,  204,  403,  403,  403,  403,  403,  401,  401]),
    (ContainerAclGet,         [  200,  403,  403,  200,  200,  403,  403,  403,  403,  401,  401]),
    (ContainerAclPut,         [  200,  403,  403,  200,  403,  403,  403,  403,  403,  401,  401]),
    (ContainerAclDelete,      [  200,  403,  403,  200,  403,  403,  403,  403,  403,  401,  401]),
    (ContainerConsumerPost,   [  200,  403,  403,  200,  200,  200,  403,  403,  200,  401,  401]),
    (ContainerConsumersList,  [  200,  403,  403,  200,  200,  200,  403,  403,  200,  401,  401]),
    (ContainerConsumerDelete, [  200,  403,  403,  200,  200,  200,  403,  403, NOT_OWNER, 401, 401]),
    // Secret consumers: secret_consumers:* = the secret:get legacy string (audit included).
    (SecretConsumerPost,      [  200,  403,  403,  200,  200,  200,  403,  403,  200,  401,  401]),
    (SecretConsumersList,     [  200,  403,  403,  200,  200,  200,  403,  403,  200,  401,  401]),
    (SecretConsumerDelete,    [  200,  403,  403,  200,  200,  200,  403,  403, NOT_OWNER, 401, 401]),
    // Orders. Target order: proj-a, by a-creator. Look-up is project-scoped: proj-b callers get
    // 404 before policy.  orders:post admin_or_creator; orders:get all_but_audit;
    //   order:get  all_users and project match;  order:delete  admin and project match.
    (OrdersPost,              [  202,  403,  403,  202,  403,  403,  202,  403,  403,  401,  401]),
    (OrdersList,              [  200,  403,  403,  200,  200,  403,  200,  403,  403,  401,  401]),
    (OrderGet,                [  200,  403,  403,  200,  200,  200,  404,  404,  404,  401,  401]),
    (OrderDelete,             [  204,  403,  403,  403,  403,  403,  404,  404,  404,  401,  401]),
    // Quotas: quotas:get all_users; project_quotas:* service_admin, which no column holds.
    (QuotasGet,               [  200,  403,  403,  200,  200,  200,  200,  403,  403,  401,  401]),
    (ProjectQuotasList,       [  403,  403,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (ProjectQuotaGet,         [  403,  403,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (ProjectQuotaPut,         [  403,  403,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (ProjectQuotaDelete,      [  403,  403,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
];

// ------------------------------------------------------------------------------------------
// NEW (secure RBAC: enforce_new_defaults = true, enforce_scope = true): only the NEW strings.
// Target secret: project proj-a, created by a-member, read ACL = [a-norole], project-access true.
//   S_RW = secret_project_admin or (secret_project_member and secret_owner)
//          or (secret_project_member and secret_is_not_private);  S_R = S_RW or secret_acl_read
//   secrets:post, secrets:get     role:member          (any project's member, incl. admins)
//   secret:get                    role:admin or S_R    (b-admin may read metadata)
//   secret:decrypt, secret_meta:get   S_R              (b-admin may not)
//   secret:delete                 role:admin or S_RW   (b-admin may delete)
//   secret:put, secret_meta:post/put/delete, secret_acls:*   S_RW
//     (ACL routes: no read_project_access in the target, so only admin or owner pass)
// Legacy roles (creator, observer, audit) and a bare reader get nothing.
// ------------------------------------------------------------------------------------------
#[rustfmt::skip]
const NEW: &Table = &[
    //                a-adm a-mem a-rdr a-cre a-obs a-aud b-adm b-mem norol  none  rvkd
    (PostSecrets,   [  201,  201,  403,  403,  403,  403,  201,  201,  201,  401,  401]),
    (ListSecrets,   [  200,  200,  403,  403,  403,  403,  200,  200,  200,  401,  401]),
    (GetSecret,     [  200,  200,  403,  403,  403,  403,  200,  403,  200,  401,  401]),
    (GetPayload,    [  200,  200,  403,  403,  403,  403,  403,  403,  200,  401,  401]),
    (GetLegacyText, [  200,  200,  403,  403,  403,  403,  403,  403,  200,  401,  401]),
    (PutPayload,    [  204,  204,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (DeleteSecret,  [  204,  204,  403,  403,  403,  403,  204,  403,  403,  401,  401]),
    (MetaGetAll,    [  200,  200,  403,  403,  403,  403,  403,  403,  200,  401,  401]),
    (MetaPutAll,    [  201,  201,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (MetaPostOne,   [  201,  201,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (MetaGetOne,    [  200,  200,  403,  403,  403,  403,  403,  403,  200,  401,  401]),
    (MetaPutOne,    [  200,  200,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (MetaDeleteOne, [  204,  204,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (AclGet,        [  200,  200,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (AclPut,        [  200,  200,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (AclPatch,      [  200,  200,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (AclDelete,     [  200,  200,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    // Containers. Target container: proj-a, created by a-member, refs [s1], read ACL [a-norole]
    // project-access true, consumer fx.
    //   containers:post/get                     role:member
    //   container:get, container_consumers:*    C_R  (no bare role:admin: b-admin gets nothing)
    //   container:delete, container_secret:*, container_acls:*   C_RW
    //     (ACL routes: no read_project_access in the target, so only admin or owner pass)
    (ContainersPost,          [  201,  201,  403,  403,  403,  403,  201,  201,  201,  401,  401]),
    (ContainersList,          [  200,  200,  403,  403,  403,  403,  200,  200,  200,  401,  401]),
    (ContainerGet,            [  200,  200,  403,  403,  403,  403,  403,  403,  200,  401,  401]),
    (ContainerDelete,         [  204,  204,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (ContainerSecretPost,     [  201,  201,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (ContainerSecretDelete,   [  204,  204,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (ContainerAclGet,         [  200,  200,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (ContainerAclPut,         [  200,  200,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (ContainerAclDelete,      [  200,  200,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (ContainerConsumerPost,   [  200,  200,  403,  403,  403,  403,  403,  403,  200,  401,  401]),
    (ContainerConsumersList,  [  200,  200,  403,  403,  403,  403,  403,  403,  200,  401,  401]),
    (ContainerConsumerDelete, [  200,  200,  403,  403,  403,  403,  403,  403, NOT_OWNER, 401, 401]),
    // Secret consumers: S_R.
    (SecretConsumerPost,      [  200,  200,  403,  403,  403,  403,  403,  403,  200,  401,  401]),
    (SecretConsumersList,     [  200,  200,  403,  403,  403,  403,  403,  403,  200,  401,  401]),
    (SecretConsumerDelete,    [  200,  200,  403,  403,  403,  403,  403,  403, NOT_OWNER, 401, 401]),
    // Orders: orders:post/get role:member; order:get/delete order_project_member (after the
    // project-scoped look-up: proj-b -> 404).
    (OrdersPost,              [  202,  202,  403,  403,  403,  403,  202,  202,  202,  401,  401]),
    (OrdersList,              [  200,  200,  403,  403,  403,  403,  200,  200,  200,  401,  401]),
    (OrderGet,                [  200,  200,  403,  403,  403,  403,  404,  404,  404,  401,  401]),
    (OrderDelete,             [  204,  204,  403,  403,  403,  403,  404,  404,  404,  401,  401]),
    // Quotas: quotas:get role:reader; project_quotas:* role:admin (any project's admin).
    (QuotasGet,               [  200,  200,  200,  403,  403,  403,  200,  200,  200,  401,  401]),
    (ProjectQuotasList,       [  200,  403,  403,  403,  403,  403,  200,  403,  403,  401,  401]),
    (ProjectQuotaGet,         [  200,  403,  403,  403,  403,  403,  200,  403,  403,  401,  401]),
    (ProjectQuotaPut,         [  204,  403,  403,  403,  403,  403,  204,  403,  403,  401,  401]),
    (ProjectQuotaDelete,      [  204,  403,  403,  403,  403,  403,  204,  403,  403,  401,  401]),
];

// ------------------------------------------------------------------------------------------
// SCS profile on legacy (policy/scs-member-as-creator.yaml: "creator": "role:creator or
// role:member"). Same LEGACY strings, but every holder of `member` (a-admin, a-member, b-admin,
// b-member, a-norole) now passes rule:creator, hence admin_or_creator, all_but_audit, all_users
// and secret_project_creator_role (the latter only with the project match).
// Target secret: project proj-a, created by a-creator, read ACL = [a-norole], project-access true.
// a-reader holds neither role and gets nothing.
// ------------------------------------------------------------------------------------------
#[rustfmt::skip]
const SCS: &Table = &[
    //                a-adm a-mem a-rdr a-cre a-obs a-aud b-adm b-mem norol  none  rvkd
    (PostSecrets,   [  201,  201,  403,  201,  403,  403,  201,  201,  201,  401,  401]),
    (ListSecrets,   [  200,  200,  403,  200,  200,  403,  200,  200,  200,  401,  401]),
    (GetSecret,     [  200,  200,  403,  200,  200,  200,  403,  403,  200,  401,  401]),
    (GetPayload,    [  200,  200,  403,  200,  200,  403,  403,  403,  200,  401,  401]),
    (GetLegacyText, [  200,  200,  403,  200,  200,  403,  403,  403,  200,  401,  401]),
    (PutPayload,    [  204,  204,  403,  204,  403,  403,  403,  403,  403,  401,  401]),
    (DeleteSecret,  [  204,  204,  403,  204,  403,  403,  403,  403,  403,  401,  401]),
    (MetaGetAll,    [  200,  200,  403,  200,  200,  200,  403,  403,  200,  401,  401]),
    (MetaPutAll,    [  201,  201,  403,  201,  403,  403,  403,  403,  403,  401,  401]),
    (MetaPostOne,   [  201,  201,  403,  201,  403,  403,  403,  403,  403,  401,  401]),
    (MetaGetOne,    [  200,  200,  403,  200,  200,  200,  403,  403,  200,  401,  401]),
    (MetaPutOne,    [  200,  200,  403,  200,  403,  403,  403,  403,  403,  401,  401]),
    (MetaDeleteOne, [  204,  204,  403,  204,  403,  403,  403,  403,  403,  401,  401]),
    (AclGet,        [  200,  200,  403,  200,  200,  403,  403,  403,  403,  401,  401]),
    (AclPut,        [  200,  200,  403,  200,  403,  403,  403,  403,  403,  401,  401]),
    (AclPatch,      [  200,  200,  403,  200,  403,  403,  403,  403,  403,  401,  401]),
    (AclDelete,     [  200,  200,  403,  200,  403,  403,  403,  403,  403,  401,  401]),
    // Containers, consumers, orders, quotas: the LEGACY strings with rule:creator widened to
    // member. Target container/order by a-creator, so a-member is creator-role but not the
    // creator user (container:delete needs the creator user; order:delete needs rule:admin).
    (ContainersPost,          [  201,  201,  403,  201,  403,  403,  201,  201,  201,  401,  401]),
    (ContainersList,          [  200,  200,  403,  200,  200,  403,  200,  200,  200,  401,  401]),
    (ContainerGet,            [  200,  200,  403,  200,  200,  200,  403,  403,  200,  401,  401]),
    (ContainerDelete,         [  204,  403,  403,  204,  403,  403,  403,  403,  403,  401,  401]),
    (ContainerSecretPost,     [  201,  201,  403,  201,  403,  403,  403,  403,  403,  401,  401]),
    (ContainerSecretDelete,   [  204,  204,  403,  204,  403,  403,  403,  403,  403,  401,  401]),
    (ContainerAclGet,         [  200,  200,  403,  200,  200,  403,  403,  403,  403,  401,  401]),
    (ContainerAclPut,         [  200,  200,  403,  200,  403,  403,  403,  403,  403,  401,  401]),
    (ContainerAclDelete,      [  200,  200,  403,  200,  403,  403,  403,  403,  403,  401,  401]),
    (ContainerConsumerPost,   [  200,  200,  403,  200,  200,  200,  403,  403,  200,  401,  401]),
    (ContainerConsumersList,  [  200,  200,  403,  200,  200,  200,  403,  403,  200,  401,  401]),
    (ContainerConsumerDelete, [  200,  200,  403,  200,  200,  200,  403,  403, NOT_OWNER, 401, 401]),
    (SecretConsumerPost,      [  200,  200,  403,  200,  200,  200,  403,  403,  200,  401,  401]),
    (SecretConsumersList,     [  200,  200,  403,  200,  200,  200,  403,  403,  200,  401,  401]),
    (SecretConsumerDelete,    [  200,  200,  403,  200,  200,  200,  403,  403, NOT_OWNER, 401, 401]),
    (OrdersPost,              [  202,  202,  403,  202,  403,  403,  202,  202,  202,  401,  401]),
    (OrdersList,              [  200,  200,  403,  200,  200,  403,  200,  200,  200,  401,  401]),
    (OrderGet,                [  200,  200,  403,  200,  200,  200,  404,  404,  404,  401,  401]),
    (OrderDelete,             [  204,  403,  403,  403,  403,  403,  404,  404,  404,  401,  401]),
    (QuotasGet,               [  200,  200,  403,  200,  200,  200,  200,  200,  200,  401,  401]),
    (ProjectQuotasList,       [  403,  403,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (ProjectQuotaGet,         [  403,  403,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (ProjectQuotaPut,         [  403,  403,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
    (ProjectQuotaDelete,      [  403,  403,  403,  403,  403,  403,  403,  403,  403,  401,  401]),
];

// ------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Legacy,
    New,
    Scs,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Legacy => "legacy",
            Mode::New => "new",
            Mode::Scs => "scs",
        }
    }

    /// The project's natural secret creator in this mode.
    fn creator(self) -> &'static str {
        match self {
            Mode::New => "a-member",
            Mode::Legacy | Mode::Scs => "a-creator",
        }
    }
}

/// What a route acts on.
#[derive(PartialEq)]
enum Fixture {
    /// Nothing (collection routes).
    None,
    /// The mode's shared target secret (read-only routes).
    Shared,
    /// A fresh secret like the target (payload, ACL, metadata k1) for this cell alone.
    Fresh,
    /// A fresh payload-less secret (ACL, metadata k1) for this cell alone.
    FreshNoPayload,
    /// A fresh secret like the target plus the secret consumer fx, for this cell alone.
    FreshWithConsumer,
    /// The mode's shared target container (read-only routes).
    SharedContainer,
    /// A fresh container like the target, for this cell alone.
    FreshContainer,
    /// The mode's shared target order (read-only routes).
    SharedOrder,
    /// A fresh order like the target, for this cell alone.
    FreshOrder,
    /// QUOTA_PROJECT's override row, (re)set to {secrets: 10, orders: 10} before this cell.
    QuotaRow,
}

fn fixture(route: Route) -> Fixture {
    match route {
        PostSecrets | ListSecrets => Fixture::None,
        GetSecret | GetPayload | GetLegacyText | MetaGetAll | MetaGetOne | AclGet => Fixture::Shared,
        PutPayload => Fixture::FreshNoPayload,
        DeleteSecret | MetaPutAll | MetaPostOne | MetaPutOne | MetaDeleteOne | AclPut | AclPatch
        | AclDelete => Fixture::Fresh,
        SecretConsumersList => Fixture::Shared,
        SecretConsumerPost | SecretConsumerDelete => Fixture::FreshWithConsumer,
        ContainersPost | ContainersList | OrdersPost | OrdersList | QuotasGet | ProjectQuotasList => {
            Fixture::None
        }
        ContainerGet | ContainerAclGet | ContainerConsumersList => Fixture::SharedContainer,
        ContainerDelete | ContainerSecretPost | ContainerSecretDelete | ContainerAclPut
        | ContainerAclDelete | ContainerConsumerPost | ContainerConsumerDelete => Fixture::FreshContainer,
        OrderGet => Fixture::SharedOrder,
        OrderDelete => Fixture::FreshOrder,
        ProjectQuotaGet | ProjectQuotaPut | ProjectQuotaDelete => Fixture::QuotaRow,
    }
}



impl Ks {
    fn user_id(&self, user: &str) -> String {
        self.env[&format!("KS_USER_{}", user.to_uppercase().replace('-', "_"))].clone()
    }

    /// Every request is validated by Keystone, so the revoked token is seen as revoked.
    fn uncached_section(&self) -> KeystoneSection {
        KeystoneSection { token_cache_time: 0, ..self.section() }
    }

    async fn password_token(&self, user: &str, password: &str, project: &str) -> String {
        let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}});
        let r = self.http.post(format!("{}/auth/tokens?nocatalog", self.url())).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201, "token for {user}: {:?}", r.text().await);
        r.headers()["x-subject-token"].to_str().unwrap().to_string()
    }

    async fn user_token(&self, user: &str) -> String {
        let project = if user.starts_with("b-") || user == "a-norole" { "proj-b" } else { "proj-a" };
        self.password_token(user, &self.env["KS_USER_PASSWORD"], project).await
    }

    async fn revoke(&self, token: &str) {
        let admin = self.password_token("admin", &self.env["KS_ADMIN_PASSWORD"], "admin").await;
        let r = self.http.delete(format!("{}/auth/tokens", self.url())).header("X-Auth-Token", &admin)
            .header("X-Subject-Token", token).send().await.unwrap();
        assert_eq!(r.status(), 204, "revoke: {:?}", r.text().await);
    }
}

struct Ctx {
    s: common::TestServer,
    /// principal → token (None for "none")
    tokens: HashMap<&'static str, Option<String>>,
    norole_id: String,
    mode: Mode,
    /// The target secret's href (the containers' `s1` reference).
    target_ref: String,
}

impl Ctx {
    fn req(&self, method: Method, path: &str, principal: &str) -> reqwest::RequestBuilder {
        let mut b = self.s.http.request(method, self.s.url(path));
        if let Some(t) = &self.tokens[principal] {
            b = b.header("X-Auth-Token", t);
        }
        b
    }

    /// A secret as the mode's natural creator, with `read` ACL [a-norole] (project-access
    /// true) and user metadata {k1: v1}; with a text payload unless `payload` is false.
    async fn make_secret(&self, payload: bool) -> String {
        let who = self.mode.creator();
        let body = if payload {
            json!({"name": "rbac", "payload": "rbac-payload", "payload_content_type": "text/plain"})
        } else {
            json!({"name": "rbac-empty"})
        };
        let r = self.req(Method::POST, "/v1/secrets", who).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201, "fixture: create as {who}: {:?}", r.text().await);
        let v: Value = r.json().await.unwrap();
        let id = v["secret_ref"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
        let r = self.req(Method::PUT, &format!("/v1/secrets/{id}/acl"), who)
            .json(&json!({"read": {"users": [self.norole_id], "project-access": true}})).send().await.unwrap();
        assert_eq!(r.status(), 200, "fixture: ACL as {who}: {:?}", r.text().await);
        let r = self.req(Method::PUT, &format!("/v1/secrets/{id}/metadata"), who)
            .json(&json!({"metadata": {"k1": "v1"}})).send().await.unwrap();
        assert_eq!(r.status(), 201, "fixture: metadata as {who}: {:?}", r.text().await);
        id
    }

    /// Who may manage project quotas in this mode (a fixture helper, not a column):
    /// `key-manager:service-admin` under the legacy strings, `admin` under the new ones.
    fn quota_admin(&self) -> &'static str {
        match self.mode {
            Mode::New => "a-admin",
            Mode::Legacy | Mode::Scs => "a-service-admin",
        }
    }

    /// A generic container as the mode's natural creator with refs [s1 → target secret],
    /// `read` ACL [a-norole] (project-access true) and the consumer fx.
    async fn make_container(&self) -> String {
        let who = self.mode.creator();
        let r = self.req(Method::POST, "/v1/containers", who)
            .json(&json!({"type": "generic", "name": "rbac", "secret_refs": [{"name": "s1", "secret_ref": self.target_ref}]}))
            .send().await.unwrap();
        assert_eq!(r.status(), 201, "fixture: container as {who}: {:?}", r.text().await);
        let v: Value = r.json().await.unwrap();
        let id = v["container_ref"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
        let r = self.req(Method::PUT, &format!("/v1/containers/{id}/acl"), who)
            .json(&json!({"read": {"users": [self.norole_id], "project-access": true}})).send().await.unwrap();
        assert_eq!(r.status(), 200, "fixture: container ACL as {who}: {:?}", r.text().await);
        let r = self.req(Method::POST, &format!("/v1/containers/{id}/consumers"), who)
            .json(&json!({"name": "fx", "URL": "http://fx"})).send().await.unwrap();
        assert_eq!(r.status(), 200, "fixture: container consumer as {who}: {:?}", r.text().await);
        id
    }

    /// A secret like the target with the secret consumer fx (registered by the creator).
    async fn make_secret_with_consumer(&self) -> String {
        let who = self.mode.creator();
        let id = self.make_secret(true).await;
        let r = self.req(Method::POST, &format!("/v1/secrets/{id}/consumers"), who)
            .json(&json!({"service": "fx", "resource_type": "rt", "resource_id": "r0"})).send().await.unwrap();
        assert_eq!(r.status(), 200, "fixture: secret consumer as {who}: {:?}", r.text().await);
        id
    }

    /// A key order as the mode's natural creator.
    async fn make_order(&self) -> String {
        let who = self.mode.creator();
        let r = self.req(Method::POST, "/v1/orders", who)
            .json(&json!({"type": "key", "meta": {"name": "rbac", "algorithm": "aes", "bit_length": 256}}))
            .send().await.unwrap();
        assert_eq!(r.status(), 202, "fixture: order as {who}: {:?}", r.text().await);
        let v: Value = r.json().await.unwrap();
        v["order_ref"].as_str().unwrap().rsplit('/').next().unwrap().to_string()
    }

    /// QUOTA_PROJECT's override row set to {secrets: 10, orders: 10} (others as they were).
    async fn make_quota_row(&self) -> String {
        let who = self.quota_admin();
        let r = self.req(Method::PUT, &format!("/v1/project-quotas/{QUOTA_PROJECT}"), who)
            .json(&json!({"project_quotas": {"secrets": 10, "orders": 10}})).send().await.unwrap();
        assert_eq!(r.status(), 204, "fixture: project quotas as {who}: {:?}", r.text().await);
        QUOTA_PROJECT.to_string()
    }

    /// What a write could have changed on a fixture, read back as its creator (or quota admin).
    async fn snapshot(&self, route: Route, id: &str) -> Value {
        match fixture(route) {
            Fixture::FreshContainer => return self.snapshot_container(id).await,
            Fixture::FreshOrder => {
                let r = self.req(Method::GET, &format!("/v1/orders/{id}"), self.mode.creator()).send().await.unwrap();
                return json!({"status": r.status().as_u16()});
            }
            Fixture::QuotaRow => {
                let r = self.req(Method::GET, &format!("/v1/project-quotas/{id}"), self.quota_admin()).send().await.unwrap();
                let status = r.status().as_u16();
                let v: Value = r.json().await.unwrap_or(Value::Null);
                return if status == 200 { json!({"status": status, "quotas": v["project_quotas"]}) } else { json!({"status": status}) };
            }
            Fixture::FreshWithConsumer => {
                let r = self.req(Method::GET, &format!("/v1/secrets/{id}/consumers"), self.mode.creator()).send().await.unwrap();
                let status = r.status().as_u16();
                let v: Value = r.json().await.unwrap_or(Value::Null);
                let mut services: Vec<String> = v["consumers"].as_array().into_iter().flatten()
                    .map(|c| c["service"].as_str().unwrap_or("?").to_string()).collect();
                services.sort();
                return json!({"status": status, "consumers": services});
            }
            _ => {}
        }
        self.snapshot_secret(id).await
    }

    async fn snapshot_container(&self, id: &str) -> Value {
        let who = self.mode.creator();
        let r = self.req(Method::GET, &format!("/v1/containers/{id}"), who).send().await.unwrap();
        let status = r.status().as_u16();
        if status != 200 {
            return json!({"status": status});
        }
        let c: Value = r.json().await.unwrap();
        let names = |key: &str, field: &str| {
            let mut v: Vec<String> = c[key].as_array().into_iter().flatten()
                .map(|e| e[field].as_str().unwrap_or("?").to_string()).collect();
            v.sort();
            v
        };
        let acl: Value = self.req(Method::GET, &format!("/v1/containers/{id}/acl"), who).send().await.unwrap().json().await.unwrap();
        json!({"status": status, "refs": names("secret_refs", "name"), "consumers": names("consumers", "name"),
               "acl": {"project-access": acl["read"]["project-access"], "users": acl["read"].get("users")}})
    }

    async fn snapshot_secret(&self, id: &str) -> Value {
        let who = self.mode.creator();
        let r = self.req(Method::GET, &format!("/v1/secrets/{id}"), who).send().await.unwrap();
        let status = r.status().as_u16();
        if status != 200 {
            return json!({"status": status});
        }
        let secret: Value = r.json().await.unwrap();
        let meta: Value = self.req(Method::GET, &format!("/v1/secrets/{id}/metadata"), who).send().await.unwrap().json().await.unwrap();
        let acl: Value = self.req(Method::GET, &format!("/v1/secrets/{id}/acl"), who).send().await.unwrap().json().await.unwrap();
        json!({"status": status, "payload": secret.get("content_types").is_some(), "metadata": meta["metadata"],
               "acl": {"project-access": acl["read"]["project-access"], "users": acl["read"].get("users")}})
    }

    /// The fixture's state after a successful write of `route` (None: not a fixture write).
    fn after(&self, route: Route) -> Option<Value> {
        let users = json!([self.norole_id]);
        let state = |payload: bool, metadata: Value, acl: Value| {
            json!({"status": 200, "payload": payload, "metadata": metadata, "acl": acl})
        };
        let acl0 = json!({"project-access": true, "users": users});
        Some(match route {
            PutPayload => state(true, json!({"k1": "v1"}), acl0),
            DeleteSecret => json!({"status": 404}),
            MetaPutAll => state(true, json!({"k1": "v2", "k9": "v9"}), acl0),
            MetaPostOne => state(true, json!({"k1": "v1", "k2": "v2"}), acl0),
            MetaPutOne => state(true, json!({"k1": "v3"}), acl0),
            MetaDeleteOne => state(true, json!({}), acl0),
            AclPut => state(true, json!({"k1": "v1"}), json!({"project-access": false, "users": users})),
            AclPatch => state(true, json!({"k1": "v1"}), json!({"project-access": true, "users": []})),
            AclDelete => state(true, json!({"k1": "v1"}), json!({"project-access": true, "users": null})),
            SecretConsumerPost => json!({"status": 200, "consumers": ["fx", "svc"]}),
            SecretConsumerDelete => json!({"status": 200, "consumers": []}),
            ContainerDelete => json!({"status": 404}),
            ContainerSecretPost | ContainerSecretDelete | ContainerAclPut | ContainerAclDelete
            | ContainerConsumerPost | ContainerConsumerDelete => {
                let (refs, consumers, acl) = match route {
                    ContainerSecretPost => (json!(["s1", "s2"]), json!(["fx"]), acl0),
                    ContainerSecretDelete => (json!([]), json!(["fx"]), acl0),
                    ContainerAclPut => (json!(["s1"]), json!(["fx"]), json!({"project-access": false, "users": users})),
                    ContainerAclDelete => (json!(["s1"]), json!(["fx"]), json!({"project-access": true, "users": null})),
                    ContainerConsumerPost => (json!(["s1"]), json!(["fx", "svc"]), acl0),
                    _ => (json!(["s1"]), json!([]), acl0),
                };
                json!({"status": 200, "refs": refs, "consumers": consumers, "acl": acl})
            }
            OrderDelete => json!({"status": 404}),
            ProjectQuotaPut => json!({"status": 200, "quotas": {"secrets": 10, "orders": 20, "containers": null, "consumers": null, "cas": null}}),
            ProjectQuotaDelete => json!({"status": 404}),
            _ => return None,
        })
    }

    /// The status, and what was wrong with the answer beyond its status, if anything.
    async fn call(&self, route: Route, principal: &str, id: &str) -> (u16, Option<String>) {
        let sec = format!("/v1/secrets/{id}");
        let con = format!("/v1/containers/{id}");
        let b = match route {
            PostSecrets => self.req(Method::POST, "/v1/secrets", principal)
                .json(&json!({"payload": "made", "payload_content_type": "text/plain"})),
            ListSecrets => self.req(Method::GET, "/v1/secrets", principal).header("Accept", "application/json"),
            GetSecret => self.req(Method::GET, &sec, principal).header("Accept", "application/json"),
            GetPayload => self.req(Method::GET, &format!("{sec}/payload"), principal).header("Accept", "text/plain"),
            GetLegacyText => self.req(Method::GET, &sec, principal).header("Accept", "text/plain"),
            PutPayload => self.req(Method::PUT, &sec, principal).header("Content-Type", "text/plain").body("later"),
            DeleteSecret => self.req(Method::DELETE, &sec, principal),
            MetaGetAll => self.req(Method::GET, &format!("{sec}/metadata"), principal).header("Accept", "application/json"),
            MetaPutAll => self.req(Method::PUT, &format!("{sec}/metadata"), principal)
                .json(&json!({"metadata": {"k1": "v2", "k9": "v9"}})),
            MetaPostOne => self.req(Method::POST, &format!("{sec}/metadata"), principal)
                .json(&json!({"key": "k2", "value": "v2"})),
            MetaGetOne => self.req(Method::GET, &format!("{sec}/metadata/k1"), principal).header("Accept", "application/json"),
            MetaPutOne => self.req(Method::PUT, &format!("{sec}/metadata/k1"), principal)
                .json(&json!({"key": "k1", "value": "v3"})),
            MetaDeleteOne => self.req(Method::DELETE, &format!("{sec}/metadata/k1"), principal),
            AclGet => self.req(Method::GET, &format!("{sec}/acl"), principal).header("Accept", "application/json"),
            AclPut => self.req(Method::PUT, &format!("{sec}/acl"), principal)
                .json(&json!({"read": {"users": [self.norole_id], "project-access": false}})),
            AclPatch => self.req(Method::PATCH, &format!("{sec}/acl"), principal)
                .json(&json!({"read": {"users": []}})),
            AclDelete => self.req(Method::DELETE, &format!("{sec}/acl"), principal),
            SecretConsumerPost => self.req(Method::POST, &format!("{sec}/consumers"), principal)
                .json(&json!({"service": "svc", "resource_type": "rt", "resource_id": "r1"})),
            SecretConsumersList => self.req(Method::GET, &format!("{sec}/consumers"), principal),
            SecretConsumerDelete => self.req(Method::DELETE, &format!("{sec}/consumers"), principal)
                .json(&json!({"service": "fx", "resource_type": "rt", "resource_id": "r0"})),
            ContainersPost => self.req(Method::POST, "/v1/containers", principal)
                .json(&json!({"type": "generic", "name": "made"})),
            ContainersList => self.req(Method::GET, "/v1/containers", principal),
            ContainerGet => self.req(Method::GET, &con, principal),
            ContainerDelete => self.req(Method::DELETE, &con, principal),
            ContainerSecretPost => self.req(Method::POST, &format!("{con}/secrets"), principal)
                .json(&json!({"name": "s2", "secret_ref": self.target_ref})),
            ContainerSecretDelete => self.req(Method::DELETE, &format!("{con}/secrets"), principal)
                .json(&json!({"name": "s1", "secret_ref": self.target_ref})),
            ContainerAclGet => self.req(Method::GET, &format!("{con}/acl"), principal),
            ContainerAclPut => self.req(Method::PUT, &format!("{con}/acl"), principal)
                .json(&json!({"read": {"users": [self.norole_id], "project-access": false}})),
            ContainerAclDelete => self.req(Method::DELETE, &format!("{con}/acl"), principal),
            ContainerConsumerPost => self.req(Method::POST, &format!("{con}/consumers"), principal)
                .json(&json!({"name": "svc", "URL": "http://svc"})),
            ContainerConsumersList => self.req(Method::GET, &format!("{con}/consumers"), principal),
            ContainerConsumerDelete => self.req(Method::DELETE, &format!("{con}/consumers"), principal)
                .json(&json!({"name": "fx", "URL": "http://fx"})),
            OrdersPost => self.req(Method::POST, "/v1/orders", principal)
                .json(&json!({"type": "key", "meta": {"algorithm": "aes", "bit_length": 128}})),
            OrdersList => self.req(Method::GET, "/v1/orders", principal),
            OrderGet => self.req(Method::GET, &format!("/v1/orders/{id}"), principal),
            OrderDelete => self.req(Method::DELETE, &format!("/v1/orders/{id}"), principal),
            QuotasGet => self.req(Method::GET, "/v1/quotas", principal),
            ProjectQuotasList => self.req(Method::GET, "/v1/project-quotas", principal),
            ProjectQuotaGet => self.req(Method::GET, &format!("/v1/project-quotas/{id}"), principal),
            ProjectQuotaPut => self.req(Method::PUT, &format!("/v1/project-quotas/{id}"), principal)
                .json(&json!({"project_quotas": {"orders": 20}})),
            ProjectQuotaDelete => self.req(Method::DELETE, &format!("/v1/project-quotas/{id}"), principal),
        };
        let r = b.send().await.unwrap();
        let status = r.status().as_u16();
        let www_auth = r.headers().contains_key("www-authenticate");
        let body = r.text().await.unwrap_or_default();
        const OWNERSHIP: &str = "Not Allowed. Sorry, only the creator of a consumer can delete it.";
        if status == 403 && matches!(route, SecretConsumerDelete | ContainerConsumerDelete) && body.contains(OWNERSHIP) {
            return (NOT_OWNER, None);
        }
        let note = match status {
            401 if !www_auth => Some("401 without WWW-Authenticate (not Keystone's refusal)".to_string()),
            403 if !body.contains("attempt not allowed - please review your user/project privileges") => {
                Some(format!("403 that is not a policy denial: {body}"))
            }
            200 if matches!(route, GetPayload | GetLegacyText) && body != "rbac-payload" => {
                Some(format!("payload {body:?}"))
            }
            _ => None,
        };
        (status, note)
    }
}

/// A status as printed in the mismatch list.
fn code(status: u16) -> String {
    if status == NOT_OWNER { "403(not-owner)".to_string() } else { status.to_string() }
}

async fn run(mode: Mode, table: &Table) {
    let Some(ks) = keystone() else { return };
    let started = std::time::Instant::now();
    let scs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policy/scs-member-as-creator.yaml");
    let section = ks.uncached_section();
    let s = common::start_with(move |c| {
        c.auth.strategy = AuthStrategy::Keystone;
        c.keystone_authtoken = section;
        c.oslo_policy.enforce_new_defaults = mode == Mode::New;
        c.oslo_policy.enforce_scope = mode == Mode::New;
        if mode == Mode::Scs {
            c.oslo_policy.policy_file = Some(scs);
        }
    })
    .await;

    let mut tokens = HashMap::new();
    for p in PRINCIPALS.into_iter().chain(["a-service-admin"]) {
        let t = match p {
            "none" => None,
            "revoked" => Some(ks.user_token("a-admin").await),
            user => Some(ks.user_token(user).await),
        };
        tokens.insert(p, t);
    }
    let mut ctx = Ctx { s, tokens, norole_id: ks.user_id("a-norole"), mode, target_ref: String::new() };

    // The revoked token works first (a-admin may list in every mode), then is revoked.
    assert_eq!(ctx.req(Method::GET, "/v1/secrets", "revoked").send().await.unwrap().status(), 200,
        "the token to revoke is valid before revocation");
    ks.revoke(ctx.tokens["revoked"].as_deref().unwrap()).await;

    let target = ctx.make_secret(true).await;
    // The target is what the table assumes: the creator, the ACL user, the payload.
    let r = ctx.req(Method::GET, &format!("/v1/secrets/{target}"), ctx.mode.creator()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["creator_id"], ks.user_id(ctx.mode.creator()));
    ctx.target_ref = v["secret_ref"].as_str().unwrap().to_string();
    let ctx = ctx;
    let r = ctx.req(Method::GET, &format!("/v1/secrets/{target}/acl"), ctx.mode.creator()).send().await.unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["read"]["users"], json!([ctx.norole_id]), "{v}");
    assert_eq!(v["read"]["project-access"], true, "{v}");

    let container = ctx.make_container().await;
    let r = ctx.req(Method::GET, &format!("/v1/containers/{container}"), ctx.mode.creator()).send().await.unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["creator_id"], ks.user_id(ctx.mode.creator()), "{v}");
    let order = ctx.make_order().await;

    let mut cells = 0;
    let mut failures = Vec::new();
    for (route, expected) in table {
        // Every cell of a route gets an identical fresh fixture, so its state before the call
        // is read back once per route (for the first cell) and reused.
        let mut before = None;
        for (i, principal) in PRINCIPALS.iter().enumerate() {
            let id = match fixture(*route) {
                Fixture::None => String::new(),
                Fixture::Shared => target.clone(),
                Fixture::Fresh => ctx.make_secret(true).await,
                Fixture::FreshNoPayload => ctx.make_secret(false).await,
                Fixture::FreshWithConsumer => ctx.make_secret_with_consumer().await,
                Fixture::SharedContainer => container.clone(),
                Fixture::FreshContainer => ctx.make_container().await,
                Fixture::SharedOrder => order.clone(),
                Fixture::FreshOrder => ctx.make_order().await,
                Fixture::QuotaRow => ctx.make_quota_row().await,
            };
            if before.is_none() && ctx.after(*route).is_some() {
                before = Some(ctx.snapshot(*route, &id).await);
            }
            let (got, note) = ctx.call(*route, principal, &id).await;
            cells += 1;
            let cell = format!("  {:<23} {:<10} {:<6}", format!("{route:?}"), principal, mode.name());
            if got != expected[i] {
                failures.push(format!("{cell} expected {} got {}", code(expected[i]), code(got)));
            } else if let Some(note) = note {
                failures.push(format!("{cell} status {got} as expected, but {note}"));
            } else if let Some(effect) = ctx.after(*route) {
                // A refused write changed nothing; an allowed one did what it says.
                let want = if got < 300 { effect } else { before.clone().unwrap() };
                let now = ctx.snapshot(*route, &id).await;
                if now != want {
                    failures.push(format!("{cell} status {got} as expected, but the fixture is now {now}, expected {want}"));
                }
            }
        }
    }
    // The read-only cells left the shared target as it was.
    let r = ctx.req(Method::GET, &format!("/v1/secrets/{target}/payload"), ctx.mode.creator())
        .header("Accept", "text/plain").send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "rbac-payload");

    eprintln!(
        "rbac matrix {}: {} routes x {} principals = {} cells, {} mismatches, {:.1}s",
        mode.name(), table.len(), PRINCIPALS.len(), cells, failures.len(), started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} RBAC mismatches in mode {} (route, principal, mode, expected, got):\n{}",
        failures.len(), mode.name(), failures.join("\n")
    );
}

#[actix_web::test]
async fn rbac_matrix_legacy_defaults() {
    run(Mode::Legacy, LEGACY).await;
}

#[actix_web::test]
async fn rbac_matrix_secure_rbac() {
    run(Mode::New, NEW).await;
}

#[actix_web::test]
async fn rbac_matrix_scs_profile() {
    run(Mode::Scs, SCS).await;
}

/// Each table has every route exactly once, in the order of the `Route` enum.
#[test]
fn tables_cover_every_route_once() {
    let all = [
        PostSecrets, ListSecrets, GetSecret, GetPayload, GetLegacyText, PutPayload, DeleteSecret,
        MetaGetAll, MetaPutAll, MetaPostOne, MetaGetOne, MetaPutOne, MetaDeleteOne, AclGet, AclPut,
        AclPatch, AclDelete, ContainersPost, ContainersList, ContainerGet, ContainerDelete,
        ContainerSecretPost, ContainerSecretDelete, ContainerAclGet, ContainerAclPut, ContainerAclDelete,
        ContainerConsumerPost, ContainerConsumersList, ContainerConsumerDelete, SecretConsumerPost,
        SecretConsumersList, SecretConsumerDelete, OrdersPost, OrdersList, OrderGet, OrderDelete,
        QuotasGet, ProjectQuotasList, ProjectQuotaGet, ProjectQuotaPut, ProjectQuotaDelete,
    ];
    for table in [LEGACY, NEW, SCS] {
        let routes: Vec<Route> = table.iter().map(|(r, _)| *r).collect();
        assert_eq!(routes, all);
        for (_, row) in table {
            assert_eq!(&row[9..], &[401, 401], "no token and the revoked token are 401 everywhere");
        }
    }
}
