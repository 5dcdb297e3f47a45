//! The API's OpenAPI 3.1 document, made from the handlers' and types' annotations as they
//! are registered (`utoipa_actix_web`), served at `/api/v1/openapi.json`; and a reference
//! page made from that same document at `/api/v1/docs`.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde_json::Value;
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{OpenApi, Ref, RefOr, ServerBuilder};
use utoipa::{Modify, OpenApi as _};
use utoipa_actix_web::OpenApiFactory;

use super::problem::{
    BadRequest, Conflict, Forbidden, NotFound, NotJson, Problem, TooLarge, TooManyRequests,
    Unauthorized, Unavailable, Unprocessable,
};
use crate::pages::Nav;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "dyn53 API",
        description = "Hosts, records (including ACME DNS-01 challenges), groups, update keys, \
            notifications and the account of a dyn53 dynamic DNS account. Authenticate with a token from \
            `POST /api/v1/auth/token`, or an update key with the API scope, as \
            `Authorization: Bearer`. Errors are RFC 9457 problems with a stable `code`."
    ),
    components(
        schemas(Problem),
        responses(
            BadRequest, TooLarge, NotJson, Unauthorized, Forbidden, NotFound, Conflict,
            Unprocessable, TooManyRequests, Unavailable
        )
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "auth", description = "Tokens."),
        (name = "hosts", description = "Host names, their settings, updates and history."),
        (name = "records", description = "What a host serves; TXT values for ACME DNS-01."),
        (name = "groups", description = "Named sets of hosts, updated together by dyndns2."),
        (name = "keys", description = "Update keys."),
        (name = "notifications", description = "E-mails and signed webhooks about the account's hosts, with their delivery log."),
        (name = "account", description = "The account, its users and zones."),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

/// The whole document: the annotations of every operation registered in `api`.
pub fn document(api: &impl OpenApiFactory) -> OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.paths.merge(api.paths());
    let mut schemas = Vec::new();
    api.schemas(&mut schemas);
    if let Some(components) = doc.components.as_mut() {
        components.schemas.extend(schemas);
    }
    doc.servers = Some(vec![ServerBuilder::new().url("/").build()]);
    add_common_responses(&mut doc);
    doc
}

/// Answers any operation may give, added here once rather than on every handler: one
/// behind credentials may be refused them (401) or forbidden (403: the caller's role, key,
/// plan or account); every one may be rate-limited (429) or find the database unavailable
/// (503); one with a query string may get a malformed one (400); one with a body, a body
/// that is malformed (400), too large (413) or not JSON (415).
fn add_common_responses(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.patch,
            &mut item.delete,
        ];
        for op in operations.into_iter().flatten() {
            // `security(())`: an empty requirement, no credentials.
            let public = op.security.as_ref().is_some_and(|requirements| {
                requirements
                    .iter()
                    .all(|r| serde_json::to_value(r).is_ok_and(|v| v == serde_json::json!({})))
            });
            let queried = op
                .parameters
                .iter()
                .flatten()
                .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query));
            let mut common = vec![("429", "TooManyRequests"), ("503", "Unavailable")];
            if !public {
                common.extend([("401", "Unauthorized"), ("403", "Forbidden")]);
            }
            if queried {
                common.push(("400", "BadRequest"));
            }
            if op.request_body.is_some() {
                common.extend([
                    ("400", "BadRequest"),
                    ("413", "TooLarge"),
                    ("415", "NotJson"),
                ]);
            }
            for (status, name) in common {
                op.responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
            }
        }
    }
}

/// The document as served, the reference page made from it, and its paths' methods.
pub struct Published {
    /// Made once: a response shares these bytes rather than copying them.
    json: web::Bytes,
    page: web::Bytes,
    /// Each path template's segments, and its methods (upper case).
    methods: Vec<(Vec<String>, Vec<String>)>,
}

impl Published {
    pub fn new(doc: &OpenApi) -> Published {
        let json = doc.to_pretty_json().unwrap_or_else(|e| {
            tracing::error!("the OpenAPI document does not serialize: {e}");
            "{}".into()
        });
        let value: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
        let page = Reference::of(&value).render().unwrap_or_else(|e| {
            tracing::error!("the API reference does not render: {e}");
            String::new()
        });
        let methods = value["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(path, item)| {
                let segments = path.split('/').map(str::to_owned).collect();
                let methods = item
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(method, _)| method.to_uppercase())
                    .collect();
                (segments, methods)
            })
            .collect();
        Published {
            json: json.into(),
            page: page.into(),
            methods,
        }
    }

    /// The methods the document has for `path`, comma-separated; `None` for an unknown path.
    pub fn allowed(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.split('/').collect();
        let matches = |template: &[String]| {
            template.len() == segments.len()
                && template.iter().zip(&segments).all(|(t, s)| {
                    t == s || (t.starts_with('{') && t.ends_with('}') && !s.is_empty())
                })
        };
        let methods: Vec<&str> = self
            .methods
            .iter()
            .filter(|(template, _)| matches(template))
            .flat_map(|(_, methods)| methods.iter().map(String::as_str))
            .collect();
        (!methods.is_empty()).then(|| methods.join(", "))
    }
}

pub fn routes(cfg: &mut web::ServiceConfig, published: web::Data<OnceLock<Published>>) {
    let json = published.clone();
    cfg.route(
        "/api/v1/openapi.json",
        web::get().to(move || {
            let body = json.get().map(|p| p.json.clone()).unwrap_or_default();
            async move {
                HttpResponse::Ok()
                    .content_type("application/json")
                    .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
                    .body(body)
            }
        }),
    )
    .route(
        "/api/v1/docs",
        web::get().to(move || {
            let body = published.get().map(|p| p.page.clone()).unwrap_or_default();
            async move {
                HttpResponse::Ok()
                    .content_type("text/html; charset=utf-8")
                    .body(body)
            }
        }),
    );
}

/// One operation on the reference page.
struct Operation {
    anchor: String,
    method: String,
    path: String,
    summary: String,
    public: bool,
    params: Vec<Field>,
    body: Option<String>,
    responses: Vec<(String, String)>,
}

/// A parameter or a property.
struct Field {
    name: String,
    kind: String,
    required: bool,
    description: String,
}

struct SchemaDoc {
    name: String,
    description: String,
    fields: Vec<Field>,
}

#[derive(Template)]
#[template(path = "api_docs.html")]
struct Reference {
    nav: Nav,
    title: String,
    description: String,
    tags: Vec<(String, String, Vec<Operation>)>,
    schemas: Vec<SchemaDoc>,
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// A schema's type in a few words: `string (ipv4)`, `array of Group`, `Host or null`.
fn kind(schema: &Value) -> String {
    if let Some(name) = schema["$ref"].as_str() {
        return name.rsplit('/').next().unwrap_or(name).to_owned();
    }
    if let Some(any) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        return any.iter().map(kind).collect::<Vec<_>>().join(" or ");
    }
    let types: Vec<String> = match &schema["type"] {
        Value::String(t) => vec![t.clone()],
        Value::Array(ts) => ts.iter().map(text).collect(),
        _ => vec!["any".into()],
    };
    let one = |t: &String| match t.as_str() {
        "array" => format!("array of {}", kind(&schema["items"])),
        t => match schema["format"].as_str() {
            Some(format) => format!("{t} ({format})"),
            None => t.to_owned(),
        },
    };
    types.iter().map(one).collect::<Vec<_>>().join(" or ")
}

fn fields(schema: &Value) -> Vec<Field> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    schema["properties"]
        .as_object()
        .map(|props| {
            props
                .iter()
                .map(|(name, prop)| Field {
                    name: name.clone(),
                    kind: kind(prop),
                    required: required.contains(&name.as_str()),
                    description: text(&prop["description"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Reference {
    fn of(doc: &Value) -> Reference {
        let mut tags: Vec<(String, String, Vec<Operation>)> = doc["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| (text(&t["name"]), text(&t["description"]), Vec::new()))
            .collect();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let tag = op["tags"][0].as_str().unwrap_or_default();
                let Some(section) = tags.iter_mut().find(|t| t.0 == tag) else {
                    continue;
                };
                let body = &op["requestBody"]["content"]["application/json"]["schema"];
                section.2.push(Operation {
                    anchor: text(&op["operationId"]),
                    method: method.to_uppercase(),
                    path: path.clone(),
                    summary: text(&op["summary"]),
                    public: op["security"].as_array().is_some_and(|s| {
                        s.iter()
                            .all(|r| r.as_object().is_some_and(|o| o.is_empty()))
                    }),
                    params: op["parameters"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|p| Field {
                            name: format!("{} ({})", text(&p["name"]), text(&p["in"])),
                            kind: kind(&p["schema"]),
                            required: p["required"].as_bool().unwrap_or(false),
                            description: text(&p["description"]),
                        })
                        .collect(),
                    body: (!body.is_null()).then(|| kind(body)),
                    responses: op["responses"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(status, r)| {
                            let description = match r["$ref"].as_str() {
                                Some(name) => {
                                    let name = name.rsplit('/').next().unwrap_or(name);
                                    text(&doc["components"]["responses"][name]["description"])
                                }
                                None => text(&r["description"]),
                            };
                            (status.clone(), description)
                        })
                        .collect(),
                });
            }
        }
        let schemas = doc["components"]["schemas"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, schema)| SchemaDoc {
                name: name.clone(),
                description: text(&schema["description"]),
                fields: fields(schema),
            })
            .collect();
        Reference {
            nav: Nav::anonymous(""),
            title: text(&doc["info"]["title"]),
            description: text(&doc["info"]["description"]),
            tags,
            schemas,
        }
    }
}
