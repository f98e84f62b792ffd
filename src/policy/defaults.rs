//! Barbican's default policy (barbican/common/policies/*), contract §4.2 and §4.4.
//!
//! Each per-route rule has its secure-RBAC ("new") check string and its deprecated ("legacy")
//! one. As oslo.policy does for deprecated rules, the effective rule is `new or legacy` while
//! `enforce_new_defaults` is off, and `new` alone when it is on. Every new string starts with
//! `True:%(enforce_new_defaults)s`, so in the default mode only the legacy strings can pass.

/// Helper rules: (name, check string).
pub const BASE_RULES: &[(&str, &str)] = &[
    ("secret_project_match", "project_id:%(target.secret.project_id)s"),
    ("secret_project_reader", "role:reader and rule:secret_project_match"),
    ("secret_project_member", "role:member and rule:secret_project_match"),
    ("secret_project_admin", "role:admin and rule:secret_project_match"),
    ("secret_owner", "user_id:%(target.secret.creator_id)s"),
    ("secret_is_not_private", "True:%(target.secret.read_project_access)s"),
    ("secret_acl_read", "'read':%(target.secret.read)s"),
    ("container_project_match", "project_id:%(target.container.project_id)s"),
    ("container_project_member", "role:member and rule:container_project_match"),
    ("container_project_admin", "role:admin and rule:container_project_match"),
    ("container_owner", "user_id:%(target.container.creator_id)s"),
    ("container_is_not_private", "True:%(target.container.read_project_access)s"),
    ("container_acl_read", "'read':%(target.container.read)s"),
    ("order_project_match", "project_id:%(target.order.project_id)s"),
    ("order_project_member", "role:member and rule:order_project_match"),
    ("key_project_match", "project_id:%(target.key.project_id)s"),
    ("key_owner", "user_id:%(target.key.creator_id)s"),
    ("audit", "role:audit"),
    ("observer", "role:observer"),
    ("creator", "role:creator"),
    ("admin", "role:admin"),
    ("service_admin", "role:key-manager:service-admin"),
    ("all_users", "rule:admin or rule:observer or rule:creator or rule:audit or rule:service_admin"),
    ("all_but_audit", "rule:admin or rule:observer or rule:creator"),
    ("admin_or_creator", "rule:admin or rule:creator"),
    ("secret_creator_user", "user_id:%(target.secret.creator_id)s"),
    ("secret_private_read", "'False':%(target.secret.read_project_access)s"),
    ("secret_non_private_read", "rule:all_users and rule:secret_project_match and not rule:secret_private_read"),
    ("secret_decrypt_non_private_read", "rule:all_but_audit and rule:secret_project_match and not rule:secret_private_read"),
    ("secret_project_creator", "rule:creator and rule:secret_project_match and rule:secret_creator_user"),
    ("secret_project_creator_role", "rule:creator and rule:secret_project_match"),
    ("container_private_read", "'False':%(target.container.read_project_access)s"),
    ("container_creator_user", "user_id:%(target.container.creator_id)s"),
    ("container_non_private_read", "rule:all_users and rule:container_project_match and not rule:container_private_read"),
    ("container_project_creator", "rule:creator and rule:container_project_match and rule:container_creator_user"),
    ("container_project_creator_role", "rule:creator and rule:container_project_match"),
];

const S_RW: &str = "rule:secret_project_admin or (rule:secret_project_member and rule:secret_owner) or (rule:secret_project_member and rule:secret_is_not_private)";
const C_RW: &str = "rule:container_project_admin or (rule:container_project_member and rule:container_owner) or (rule:container_project_member and rule:container_is_not_private)";

/// The secure-RBAC strings are built from these abbreviations (contract §4.3).
pub enum New {
    Raw(&'static str),
    SRw,
    SR,
    SRwOrAdmin,
    SROrAdmin,
    CRw,
    CR,
}

impl New {
    pub fn expand(&self) -> String {
        let inner = match self {
            New::Raw(s) => s.to_string(),
            New::SRw => S_RW.to_string(),
            New::SR => format!("{S_RW} or rule:secret_acl_read"),
            New::SRwOrAdmin => format!("role:admin or {S_RW}"),
            New::SROrAdmin => format!("role:admin or {S_RW} or rule:secret_acl_read"),
            New::CRw => C_RW.to_string(),
            New::CR => format!("{C_RW} or rule:container_acl_read"),
        };
        format!("True:%(enforce_new_defaults)s and ({inner})")
    }
}

const SECRET_READ_LEGACY: &str = "rule:secret_non_private_read or rule:secret_project_creator or rule:secret_project_admin or rule:secret_acl_read";
const SECRET_WRITE_LEGACY: &str = "rule:secret_project_admin or rule:secret_project_creator or (rule:secret_project_creator_role and rule:secret_non_private_read)";
const CONTAINER_READ_LEGACY: &str = "rule:container_non_private_read or rule:container_project_creator or rule:container_project_admin or rule:container_acl_read";
const CONTAINER_WRITE_LEGACY: &str = "rule:container_project_admin or rule:container_project_creator or (rule:container_project_creator_role and rule:container_non_private_read)";

const KEY_ADMIN_NEW: &str = "(role:admin and rule:key_project_match) or (role:member and rule:key_project_match and rule:key_owner)";
const KEY_ADMIN_LEGACY: &str = "(rule:admin and rule:key_project_match) or (rule:creator and rule:key_project_match and rule:key_owner)";

/// A key operation: the key's admins, or a grant of the operation.
macro_rules! key_op {
    ($op:literal) => {
        concat!("rule:key:admin or True:%(target.key.grant.", $op, ")s")
    };
}

/// Per-route rules: (name, new, legacy).
pub const ROUTE_RULES: &[(&str, New, &str)] = &[
    ("secrets:post", New::Raw("role:member"), "rule:admin_or_creator"),
    ("secrets:get", New::Raw("role:member"), "rule:all_but_audit"),
    ("secret:get", New::SROrAdmin, SECRET_READ_LEGACY),
    ("secret:decrypt", New::SR, "rule:secret_decrypt_non_private_read or rule:secret_project_creator or rule:secret_project_admin or rule:secret_acl_read"),
    ("secret:put", New::SRw, "rule:admin_or_creator and rule:secret_project_match"),
    ("secret:delete", New::SRwOrAdmin, "rule:secret_project_admin or rule:secret_project_creator or (rule:secret_project_creator_role and not rule:secret_private_read)"),
    ("secret_acls:get", New::SRw, "rule:all_but_audit and rule:secret_project_match"),
    ("secret_acls:put_patch", New::SRw, SECRET_WRITE_LEGACY),
    ("secret_acls:delete", New::SRw, SECRET_WRITE_LEGACY),
    ("secret_meta:get", New::SR, SECRET_READ_LEGACY),
    ("secret_meta:post", New::SRw, SECRET_WRITE_LEGACY),
    ("secret_meta:put", New::SRw, SECRET_WRITE_LEGACY),
    ("secret_meta:delete", New::SRw, SECRET_WRITE_LEGACY),
    ("secret_consumers:get", New::SR, SECRET_READ_LEGACY),
    ("secret_consumers:post", New::SR, SECRET_READ_LEGACY),
    ("secret_consumers:delete", New::SR, SECRET_READ_LEGACY),
    ("consumer:get", New::Raw("role:admin or (rule:container_project_member and rule:container_owner) or (rule:container_project_member and rule:container_is_not_private) or rule:container_acl_read"), "rule:admin or rule:observer or rule:creator or rule:audit or rule:container_non_private_read or rule:container_project_creator or rule:container_project_admin or rule:container_acl_read"),
    ("containers:post", New::Raw("role:member"), "rule:admin_or_creator"),
    ("containers:get", New::Raw("role:member"), "rule:all_but_audit"),
    ("container:get", New::CR, CONTAINER_READ_LEGACY),
    ("container:delete", New::CRw, "rule:container_project_admin or rule:container_project_creator"),
    ("container_secret:post", New::CRw, "rule:container_project_admin or rule:container_project_creator or rule:container_project_creator_role and rule:container_non_private_read"),
    ("container_secret:delete", New::CRw, "rule:container_project_admin or rule:container_project_creator or rule:container_project_creator_role and rule:container_non_private_read"),
    ("container_acls:get", New::CRw, "rule:all_but_audit and rule:container_project_match"),
    ("container_acls:put_patch", New::CRw, CONTAINER_WRITE_LEGACY),
    ("container_acls:delete", New::CRw, CONTAINER_WRITE_LEGACY),
    ("container_consumers:get", New::CR, CONTAINER_READ_LEGACY),
    ("container_consumers:post", New::CR, CONTAINER_READ_LEGACY),
    ("container_consumers:delete", New::CR, CONTAINER_READ_LEGACY),
    ("orders:post", New::Raw("role:member"), "rule:admin_or_creator"),
    ("orders:get", New::Raw("role:member"), "rule:all_but_audit"),
    ("orders:put", New::Raw("role:member"), "rule:admin_or_creator"),
    ("order:get", New::Raw("rule:order_project_member"), "rule:all_users and project_id:%(target.order.project_id)s"),
    ("order:delete", New::Raw("rule:order_project_member"), "rule:admin and project_id:%(target.order.project_id)s"),
    ("quotas:get", New::Raw("role:reader"), "rule:all_users"),
    ("project_quotas:get", New::Raw("role:admin"), "rule:service_admin"),
    ("project_quotas:put", New::Raw("role:admin"), "rule:service_admin"),
    ("project_quotas:delete", New::Raw("role:admin"), "rule:service_admin"),
    ("secretstores:get", New::Raw("role:reader"), "rule:all_users"),
    ("secretstores:get_global_default", New::Raw("role:reader"), "rule:all_users"),
    ("secretstores:get_preferred", New::Raw("role:reader"), "rule:all_users"),
    ("secretstore:get", New::Raw("role:reader"), "rule:all_users"),
    ("secretstore_preferred:post", New::Raw("role:admin"), "rule:admin"),
    ("secretstore_preferred:delete", New::Raw("role:admin"), "rule:admin"),
    ("transport_keys:get", New::Raw("role:reader"), "rule:all_users"),
    ("transport_keys:post", New::Raw("role:admin"), "rule:service_admin"),
    ("transport_key:get", New::Raw("role:reader"), "rule:all_users"),
    ("transport_key:delete", New::Raw("role:admin"), "rule:service_admin"),
    // Managed keys (Portcullis): `key:admin` holds every operation on a key (its project's
    // admin, and its creator); the key policy's grants give the others one operation each,
    // as `target.key.grant.<operation>` facts.
    ("keys:post", New::Raw("role:member"), "rule:admin_or_creator"),
    ("keys:get", New::Raw("role:reader"), "rule:all_users"),
    ("key:admin", New::Raw(KEY_ADMIN_NEW), KEY_ADMIN_LEGACY),
    ("key:get", New::Raw("rule:key:admin or (role:reader and rule:key_project_match) or True:%(target.key.grant.describe)s"), "rule:key:admin or (rule:all_users and rule:key_project_match) or True:%(target.key.grant.describe)s"),
    ("key:encrypt", New::Raw(key_op!("encrypt")), key_op!("encrypt")),
    ("key:decrypt", New::Raw(key_op!("decrypt")), key_op!("decrypt")),
    ("key:rewrap", New::Raw(key_op!("rewrap")), key_op!("rewrap")),
    ("key:datakey", New::Raw(key_op!("datakey")), key_op!("datakey")),
    ("key:sign", New::Raw(key_op!("sign")), key_op!("sign")),
    ("key:verify", New::Raw(key_op!("verify")), key_op!("verify")),
    ("key:hmac", New::Raw(key_op!("hmac")), key_op!("hmac")),
    ("key:export", New::Raw(key_op!("export")), key_op!("export")),
    ("key:rotate", New::Raw(key_op!("rotate")), key_op!("rotate")),
    ("random:post", New::Raw("role:reader"), "rule:all_users"),
];
