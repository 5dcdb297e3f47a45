//! RFC 9457 problem details: every API error is one, with a stable machine-readable `code`,
//! and the OpenAPI responses that describe them.

use actix_web::error::QueryPayloadError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, Ref, RefOr, Response, ResponseBuilder, Type,
    schema::ObjectBuilder,
};

use crate::update::UpdateError;

/// An error, as `application/problem+json`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    kind: String,
    /// The HTTP status's reason phrase.
    title: String,
    /// The HTTP status code.
    status: u16,
    /// What went wrong, for people.
    detail: String,
    /// What clients branch on; never changes for a given failure.
    #[schema(value_type = String, example = "host_not_found")]
    code: &'static str,
    #[serde(skip)]
    retry_after: Option<u64>,
}

impl Problem {
    pub fn new(status: u16, code: &'static str, detail: impl Into<String>) -> Problem {
        let title = StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error")
            .to_owned();
        Problem {
            kind: format!("https://dyn53.dev/problems/{code}"),
            title,
            status,
            detail: detail.into(),
            code,
            retry_after: None,
        }
    }

    /// A 429 or 503 that says when to come back.
    pub fn retry_after(mut self, seconds: u64) -> Problem {
        self.retry_after = Some(seconds);
        self
    }

    pub fn too_large() -> Problem {
        Problem::new(413, "body_too_large", "The body is larger than 16 KiB.")
    }

    pub fn invalid_body(why: &dyn std::fmt::Display) -> Problem {
        Problem::new(400, "invalid_body", format!("The body is not valid: {why}"))
    }

    /// A query string that is not what this endpoint takes.
    pub fn bad_query(e: &QueryPayloadError) -> Problem {
        Problem::new(
            400,
            "invalid_query",
            format!("The query string is not valid: {e}"),
        )
    }

    /// A field whose value cannot be used; nothing changed.
    pub fn invalid(code: &'static str, detail: impl Into<String>) -> Problem {
        Problem::new(422, code, detail)
    }

    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Problem {
        Problem::new(404, code, detail)
    }

    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Problem {
        Problem::new(403, code, detail)
    }

    /// The database is unavailable: nothing changed.
    pub fn try_later(why: &dyn std::fmt::Display) -> Problem {
        tracing::error!("API: {why}");
        Problem::new(
            503,
            "unavailable",
            "The service could not complete this just now; nothing changed.",
        )
        .retry_after(60)
    }

    pub fn response(&self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"dyn53\""));
        }
        response.json(self)
    }
}

impl From<crate::db::DbError> for Problem {
    fn from(e: crate::db::DbError) -> Problem {
        Problem::try_later(&e)
    }
}

impl From<UpdateError> for Problem {
    /// The update service's refusal of the caller.
    fn from(e: UpdateError) -> Problem {
        match e {
            UpdateError::BadAuth(_) => Problem::new(
                401,
                "invalid_credentials",
                "The key is not valid for the API.",
            ),
            UpdateError::AccountInactive => {
                Problem::forbidden("account_inactive", "The account is suspended.")
            }
            UpdateError::ReadOnly => {
                Problem::forbidden("read_only", "Your role may not change DNS.")
            }
            UpdateError::AddressBlocked(address) => Problem::forbidden(
                "address_blocked",
                format!("Updates to {address} are blocked: it is in a range the operator refuses."),
            ),
            UpdateError::NotOnPlan => {
                Problem::forbidden("not_on_plan", "Offline mode is part of the premium plan.")
            }
            e @ (UpdateError::Unavailable(_) | UpdateError::Interrupted | UpdateError::Busy(_)) => {
                Problem::try_later(&e)
            }
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.code)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        self.response()
    }
}

/// A problem response for the document: the Problem schema, with `Retry-After` when asked.
fn problem_response(description: &str, retry_after: bool) -> RefOr<Response> {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/problem+json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build(),
    );
    if retry_after {
        let seconds = HeaderBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
            .description(Some("Seconds to wait before trying again."))
            .build();
        response = response.header("Retry-After", seconds);
    }
    RefOr::T(response.build())
}

/// Named problem responses that operations refer to (`response = NotFound`).
macro_rules! problem_responses {
    ($($name:ident, $retry_after:expr, $description:expr;)*) => {
        $(
            #[doc = $description]
            pub struct $name;

            impl<'r> utoipa::ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    (stringify!($name), problem_response($description, $retry_after))
                }
            }
        )*
    };
}

problem_responses! {
    BadRequest, false, "The body or query string is malformed (`invalid_body`, `invalid_query`).";
    TooLarge, false, "The body is larger than 16 KiB (`body_too_large`).";
    NotJson, false, "The body is not `application/json` (`unsupported_media_type`).";
    Unauthorized, false, "No credentials (`unauthenticated`), or they are not valid (`invalid_token`, `invalid_credentials`).";
    Forbidden, false, "The caller may not do this: its role (`read_only`, `role`), key (`key_limited`), plan (`not_on_plan`, `plan_limit`) or account (`account_inactive`, `unverified`).";
    NotFound, false, "No such object in the caller's account; another account's is not found either.";
    Conflict, false, "The name is taken (`name_taken`).";
    Unprocessable, false, "A field's value cannot be used; nothing changed.";
    TooManyRequests, true, "Too many calls (`rate_limited`), sign-in attempts (`too_many_attempts`) or updates of this host (`abuse`).";
    Unavailable, true, "The service could not complete this just now (`unavailable`); nothing changed.";
}
