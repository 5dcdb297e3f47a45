//! A request id for every HTTP request, so that a user's report, a proxy's log and ours meet:
//! the caller's `X-Request-Id` when it is a short token (a load balancer's or proxy's), else
//! a new random one. Every log line written while the request is handled carries it (a
//! tracing span, which `DYN53_LOG_FORMAT=json` writes as a field), and the response echoes it.
//! One line per request, with its status and time, is logged at DEBUG (not by default: the
//! update path answers thousands of requests a second).

use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The middleware (`actix_web::middleware::from_fn(request_id)`).
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_token(v))
        .map_or_else(new_id, str::to_owned);
    // The path only: some protocols carry credentials in the query.
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.path());
    let started = Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    span.in_scope(|| {
        tracing::debug!(
            status = res.status().as_u16(),
            micros = started.elapsed().as_micros() as u64,
            "answered"
        )
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(X_REQUEST_ID, value);
    }
    Ok(res)
}

/// Up to 64 letters, digits, `-`, `_`, `.`, `:`: what proxies send (UUIDs, hex), and nothing
/// that could forge a log line.
fn is_token(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// 16 random bytes in hex.
fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_tokens_and_nothing_else() {
        for good in ["abc", "0f8fad5b-d9cb-469f-a165-70867728950e", "lb:1.2_3"] {
            assert!(is_token(good), "{good}");
        }
        let long = "a".repeat(65);
        for bad in ["", "a b", "a\nlevel=ERROR", "é", long.as_str()] {
            assert!(!is_token(bad), "{bad}");
        }
        assert_eq!(new_id().len(), 32);
        assert!(is_token(&new_id()));
    }
}
