//! The caller as the service sees it: who, in which project, and the policy decision the API
//! edge passes in. A service operation looks its entity up, builds the policy target from the
//! stored row and asks [`Caller::require`], all on one connection in one blocking hop; the
//! service never sees HTTP nor how the policy is stored.

use std::sync::Arc;

use super::{ServiceError, ServiceResult};
use crate::auth::RequestContext;
use crate::policy::PolicyTarget;

/// A policy decision: may this context apply this rule to this target?
pub type Decide = Arc<dyn Fn(&str, &RequestContext, &PolicyTarget) -> bool + Send + Sync>;

/// An authenticated caller and the decision function. Its project is not optional: a context
/// without one (system or domain scope) never becomes a `Caller`.
#[derive(Clone)]
pub struct Caller {
    project: String,
    ctx: RequestContext,
    decide: Decide,
}

impl Caller {
    /// None when the context has no project.
    pub fn new(ctx: RequestContext, decide: Decide) -> Option<Caller> {
        let project = ctx.project_id.clone().filter(|p| !p.is_empty())?;
        Some(Caller { project, ctx, decide })
    }

    pub fn ctx(&self) -> &RequestContext {
        &self.ctx
    }

    pub fn project(&self) -> &str {
        &self.project
    }

    pub fn user(&self) -> Option<&str> {
        self.ctx.user_id.as_deref()
    }

    pub fn allowed(&self, rule: &str, target: &PolicyTarget) -> bool {
        (self.decide)(rule, &self.ctx, target)
    }

    /// `Forbidden` unless policy allows `rule` on `target`.
    pub fn require(&self, rule: &str, target: &PolicyTarget) -> ServiceResult<()> {
        if self.allowed(rule, target) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden)
        }
    }
}

/// A check the API runs at a fixed point of an operation (before or after the policy decision),
/// so that errors keep Barbican's order while the whole operation stays one hop: e.g. the
/// Accept negotiation that Barbican runs after the look-up but before the policy, or the body
/// validation it runs after the policy.
pub fn no_check<T, E>(_: &T) -> Result<(), E> {
    Ok(())
}
