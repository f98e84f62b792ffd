//! Request identity as an extractor: a handler that needs the caller names [`Caller`] as a
//! parameter. The authentication middleware has put the context on the request; the policy
//! decision comes from the application state, built once.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};

use super::error::ApiError;
use super::AppState;
use crate::auth::RequestContext;
use crate::service::access::Caller;

impl FromRequest for Caller {
    type Error = actix_web::Error;
    type Future = Ready<Result<Caller, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let ctx = req.extensions().get::<RequestContext>().cloned();
        let st = req.app_data::<web::Data<AppState>>();
        let caller = ctx.zip(st).and_then(|(ctx, st)| Caller::new(ctx, st.decide.clone()));
        ready(match caller {
            Some(caller) => Ok(caller),
            None => {
                let resp = ApiError::internal("request reached a handler without a project-scoped context").render("");
                Err(actix_web::error::InternalError::from_response("no request context", resp).into())
            }
        })
    }
}
