//! Barbican's JSON error body (§2.3) and the errors of the layers below, mapped onto it.

use crate::crypto::managed::OpError;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde::Serialize;

use crate::service::{Missing, ServiceError};

/// What the `description` of the error body holds.
#[derive(Debug)]
pub enum Desc {
    /// `""`: pure routing errors (unknown path, unsupported method).
    Empty,
    /// `null`: Accept negotiation failures on JSON-only routes.
    Null,
    /// A message used as is.
    Bare(String),
    /// `{op} issue seen - {msg}.`
    Issue(String),
    /// `{op} attempt not allowed - please review your user/project privileges`
    Policy,
    /// `{op} failure seen - please contact site administrator.`; the detail is only logged.
    Internal(String),
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub desc: Desc,
    /// Extra headers (e.g. `Allow` on routing 405s).
    pub allow: Option<&'static str>,
    /// `Retry-After` seconds (503 while the database is unavailable).
    pub retry_after: Option<u32>,
    /// Close the connection after this answer (a client too slow to send its body).
    pub close: bool,
}

impl ApiError {
    pub fn new(status: u16, desc: Desc) -> ApiError {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            desc,
            allow: None,
            retry_after: None,
            close: false,
        }
    }
    pub fn bare(status: u16, msg: impl Into<String>) -> ApiError {
        ApiError::new(status, Desc::Bare(msg.into()))
    }
    pub fn issue(status: u16, msg: impl Into<String>) -> ApiError {
        ApiError::new(status, Desc::Issue(msg.into()))
    }
    pub fn forbidden() -> ApiError {
        ApiError::new(403, Desc::Policy)
    }
    pub fn internal(detail: impl Into<String>) -> ApiError {
        ApiError::new(500, Desc::Internal(detail.into()))
    }
    pub fn not_acceptable() -> ApiError {
        ApiError::new(406, Desc::Null)
    }
    pub fn not_found_route() -> ApiError {
        ApiError::new(404, Desc::Empty)
    }
    pub fn method_not_allowed(allow: &'static str) -> ApiError {
        ApiError { allow: Some(allow), ..ApiError::new(405, Desc::Empty) }
    }
    /// The body did not arrive within `request_body_timeout`.
    pub fn body_timeout() -> ApiError {
        ApiError { close: true, ..ApiError::bare(408, "The request body was not received in time.") }
    }
    /// The database cannot be reached (or stays locked) right now.
    pub fn unavailable(detail: String) -> ApiError {
        tracing::warn!(detail = %detail, "database unavailable");
        ApiError {
            retry_after: Some(RETRY_AFTER_SECS),
            ..ApiError::bare(503, "The database is unavailable right now; retry later.")
        }
    }
    pub fn malformed_json() -> ApiError {
        ApiError::bare(400, "Malformed JSON")
    }
    /// A schema validation error: `Provided object does not match schema '{schema}': {reason}.
    /// Invalid property: '{prop}'`.
    pub fn schema(schema: &str, reason: &str, prop: Option<&str>) -> ApiError {
        ApiError::bare(
            400,
            format!(
                "Provided object does not match schema '{schema}': {reason}. Invalid property: '{}'",
                prop.unwrap_or("None")
            ),
        )
    }

    pub fn render(self, op: &str) -> HttpResponse {
        let description = match self.desc {
            Desc::Empty => Some(String::new()),
            Desc::Null => None,
            Desc::Bare(m) => Some(m),
            Desc::Issue(m) => Some(format!("{op} issue seen - {m}.")),
            Desc::Policy => {
                Some(format!("{op} attempt not allowed - please review your user/project privileges"))
            }
            Desc::Internal(detail) => {
                // The request id is on the enclosing span; the detail never holds key material.
                tracing::error!(op, detail = %detail, "internal error");
                Some(format!("{op} failure seen - please contact site administrator."))
            }
        };
        let mut resp = HttpResponse::build(self.status);
        if let Some(a) = self.allow {
            resp.insert_header(("Allow", a));
        }
        if let Some(secs) = self.retry_after {
            resp.insert_header(("Retry-After", secs.to_string()));
        }
        if self.close {
            resp.force_close();
        }
        resp.json(ErrorBody {
            code: self.status.as_u16(),
            title: title(self.status),
            description,
        })
    }
}

/// What a 503 asks a client to wait before trying again.
pub const RETRY_AFTER_SECS: u32 = 2;

#[derive(Serialize)]
struct ErrorBody {
    code: u16,
    title: &'static str,
    description: Option<String>,
}

pub fn title(s: StatusCode) -> &'static str {
    match s.as_u16() {
        413 => "Request Entity Too Large",
        s2 => StatusCode::from_u16(s2).ok().and_then(|c| c.canonical_reason()).unwrap_or("Error"),
    }
}

/// Barbican's 404 text for what the service could not find.
pub fn missing(m: Missing) -> &'static str {
    match m {
        Missing::Secret => "Secret not found.",
        Missing::Payload => "Not Found. Sorry but your secret has no payload.",
        Missing::Metadatum => "Secret metadata not found.",
        Missing::Container => "Secrets container not found.",
        Missing::LinkedSecret => "Secret provided doesn't exist.",
        Missing::ContainerLink => "Secret provided is not in the container",
        Missing::Consumer => "Consumer not found.",
        Missing::Order => "Order not found.",
        Missing::TransportKey => "Not Found. Transport Key not found.",
        Missing::SecretStore => "Not Found. Secret store not found.",
        Missing::PreferredStore => "Not Found. No preferred secret store defined for this project.",
        Missing::ProjectQuotas => "Project quotas not found.",
        Missing::Key => "Not Found. Key not found.",
        Missing::KeyVersion => "Not Found. The key has no such version (or it is below min_decryption_version).",
    }
}

pub const PAYLOAD_ALREADY_SET: &str = "Secret already has data, cannot modify it.";
pub const STORES_DISABLED: &str =
    "Not Found. Multiple backends support is not enabled in service configuration.";

/// The one place where what happened becomes a status and Barbican's text.
impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> ApiError {
        match e {
            ServiceError::Forbidden => ApiError::forbidden(),
            ServiceError::NotFound(m) => ApiError::bare(404, missing(m)),
            ServiceError::SecretRefMissing(name) => ApiError::bare(
                404,
                format!("Secret provided for '{}' doesn't exist.", name.as_deref().unwrap_or("None")),
            ),
            ServiceError::SecretRefGone { name, secret_ref } => ApiError::bare(
                404,
                format!("Secret '{}' with reference '{secret_ref}' doesn't exist.", name.as_deref().unwrap_or("None")),
            ),
            ServiceError::QuotaReached => ApiError::issue(403, "Creation not allowed because a quota has been reached"),
            ServiceError::HasConsumers => ApiError::issue(400, "Secret cannot be deleted as it has consumers."),
            ServiceError::PayloadAlreadySet => ApiError::bare(409, PAYLOAD_ALREADY_SET),
            ServiceError::MetadatumExists => {
                ApiError::bare(409, "Conflict. Key in request is already in the secret metadata")
            }
            ServiceError::MetadatumKeyMismatch => ApiError::bare(409, "Key in request data does not match key in the "),
            ServiceError::ConsumerNotOwned => {
                ApiError::bare(403, "Not Allowed. Sorry, only the creator of a consumer can delete it.")
            }
            ServiceError::DuplicateLink => ApiError::bare(
                409,
                "Conflict. A secret with that name and ID is already stored in this container. The same secret can exist in a container as long as the name is unique.",
            ),
            ServiceError::ContainerNotGeneric => ApiError::bare(400, "Only 'generic' containers can be modified."),
            ServiceError::QueueFull => ApiError {
                retry_after: Some(5),
                ..ApiError::issue(503, "Key generation queue is full, please retry later")
            },
            ServiceError::StoresDisabled => ApiError::bare(404, STORES_DISABLED),
            ServiceError::Invalid(m) => ApiError::bare(400, m),
            ServiceError::KeyOp(e) => match e {
                OpError::Unsupported(m) | OpError::Invalid(m) => ApiError::bare(400, m),
                OpError::Decrypt => ApiError::bare(400, "Decryption failed: wrong key version, wrong associated data or corrupt ciphertext."),
                OpError::Internal(d) => ApiError::internal(d),
            },
            ServiceError::NotExportable => ApiError::bare(403, "Forbidden. The key is not exportable (only keys of sensitivity low marked exportable are)."),
            ServiceError::DeletionNotAllowed => ApiError::bare(409, "Conflict. Set deletion_allowed on the key before deleting it."),
            ServiceError::OrderUpdateUnsupported => ApiError::bare(405, "Order update is not supported."),
            ServiceError::OrderFinished => ApiError::internal("order already processed"),
            ServiceError::Internal(d) => ApiError::internal(d),
            ServiceError::Unavailable(d) => ApiError::unavailable(d),
        }
    }
}

/// Runs a handler body and renders its error with the handler's operation name.
pub fn respond(op: &str, r: Result<HttpResponse, ApiError>) -> HttpResponse {
    match r {
        Ok(resp) => resp,
        Err(e) => e.render(op),
    }
}
