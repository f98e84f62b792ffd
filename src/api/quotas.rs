//! Routes of this resource (being built; see the issue for issue 5).

use actix_web::web;

pub fn routes(_cfg: &mut web::ServiceConfig) {}
