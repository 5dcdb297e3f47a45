//! The JSON body of an API call. A body that does not fit is refused with a message that
//! names the field it failed at (`hosts[1]: invalid type: integer …`), not the parser's
//! internals.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, mime, web};
use serde::de::DeserializeOwned;

use super::problem::Problem;

/// A JSON body of at most 16 KiB (`PayloadConfig` of the scope), sent as `application/json`.
pub struct Body<T>(pub T);

impl<T> Deref for Body<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Problem>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime::Mime>().ok())
            .is_some_and(|m| {
                m.type_() == mime::APPLICATION
                    && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
            });
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !json {
                return Err(Problem::new(
                    415,
                    "unsupported_media_type",
                    "Send the body as application/json.",
                ));
            }
            // Reading fails only for a body over the limit.
            let bytes = bytes.await.map_err(|_| Problem::too_large())?;
            decode(&bytes).map(Body)
        })
    }
}

/// `bytes` as a `T`, or a 400 `invalid_body` saying where and why it is not one.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut json = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let field = e.path().to_string();
        let why = without_position(e.inner());
        match e.inner().classify() {
            serde_json::error::Category::Data if field != "." => {
                Problem::invalid_body(&format!("`{field}`: {why}"))
            }
            serde_json::error::Category::Data => Problem::invalid_body(&why),
            _ => Problem::invalid_body(&format!("not JSON ({why})")),
        }
    })?;
    json.end()
        .map_err(|e| Problem::invalid_body(&format!("not JSON ({e})")))?;
    Ok(value)
}

/// serde_json's message without " at line 1 column 12": the field's name says more.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&position).unwrap_or(&text).to_owned()
}
