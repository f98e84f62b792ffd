//! ACLs of secrets and containers (§5.7).

use chrono::NaiveDateTime;

/// One operation's ACL as stored, with its users in the order they were added.
#[derive(Debug, Clone, PartialEq)]
pub struct Acl {
    pub operation: String,
    pub project_access: bool,
    pub users: Vec<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// One operation's change: `None` fields are left as they are (PATCH) or defaulted (PUT).
#[derive(Debug)]
pub struct AclChange {
    pub operation: String,
    pub project_access: Option<bool>,
    pub users: Option<Vec<String>>,
}
