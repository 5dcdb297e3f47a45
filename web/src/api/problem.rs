//! RFC 9457 problem details: every API error is one, with a stable machine-readable `code`.

use actix_web::error::JsonPayloadError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Problem {
    /// A URI naming the kind of problem: `about:blank`-style, under the API's own name.
    #[serde(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    detail: String,
    /// What clients branch on; never changes for a given failure.
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

    /// A body that is not the JSON this endpoint takes.
    pub fn bad_body(e: &JsonPayloadError) -> Problem {
        match e {
            JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
                Problem::new(413, "body_too_large", "The body is larger than 16 KiB.")
            }
            JsonPayloadError::ContentType => Problem::new(
                415,
                "unsupported_media_type",
                "Send the body as application/json.",
            ),
            e => Problem::new(400, "invalid_body", format!("The body is not valid: {e}")),
        }
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
