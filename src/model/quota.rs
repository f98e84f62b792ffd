//! Quota overrides (§5.9): per resource, `None` when the project has no override for it.

/// A project's overrides, or the values of a `PUT /v1/project-quotas/{id}` (`None` = not given,
/// left as it is).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaOverrides {
    pub secrets: Option<i32>,
    pub orders: Option<i32>,
    pub containers: Option<i32>,
    pub consumers: Option<i32>,
    pub cas: Option<i32>,
}

/// The overrides stored for one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectQuotas {
    pub project_id: String,
    pub quotas: QuotaOverrides,
}
