//! `/admin/audit`: the audit log, newest first, filtered by actor, account, action and time,
//! 100 lines to a page; `/admin/audit.csv`: the same lines, all of them, as CSV, streamed:
//! read 1,000 lines at a time and sent as they are read, so that an export of the whole
//! log holds a few chunks in memory, never the log.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::{StatusCode, header};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Deserialize;

use super::Staff;
use crate::db::{AuditFilter, AuditLine, Console, DbError};
use crate::pages::{Nav, page, try_later};

const PAGE: u64 = 100;
/// Lines read at a time for the export.
const EXPORT_CHUNK: u64 = 1000;
/// Chunks of the export read ahead of the client (a slow download stops the reads).
const EXPORT_AHEAD: usize = 2;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/audit", web::get().to(log))
        .route("/admin/audit.csv", web::get().to(export));
}

/// The filter form's fields as sent, kept to be shown again.
#[derive(Clone, Debug, Default, Deserialize)]
struct Filters {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    before: Option<i64>,
}

impl Filters {
    /// The filter these fields ask for, or what is wrong with one of them.
    fn filter(&self) -> Result<AuditFilter, String> {
        let text = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        let account = match self.account.trim() {
            "" => None,
            id => Some(
                id.trim_start_matches('#')
                    .parse()
                    .map_err(|_| "The account is a number, as /admin/accounts shows it.")?,
            ),
        };
        Ok(AuditFilter {
            actor: text(&self.actor),
            account,
            action: text(&self.action),
            from: time(&self.from, "From")?,
            to: time(&self.to, "To")?,
            before: self.before,
        })
    }

    /// The URL of these filters on `path`, from the line `before` on (none: the newest).
    fn url(&self, path: &str, before: Option<i64>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("actor", &self.actor),
            ("account", &self.account),
            ("action", &self.action),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !value.trim().is_empty() {
                query.append_pair(key, value);
            }
        }
        if let Some(before) = before {
            query.append_pair("before", &before.to_string());
        }
        format!("{path}?{}", query.finish())
    }
}

/// A time as the form's fields give it, UTC: a day (its start) or a day and a time.
fn time(value: &str, field: &str) -> Result<Option<DateTime<Utc>>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let parsed = NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| {
            NaiveDate::parse_from_str(value, "%Y-%m-%d").map(|d| d.and_time(Default::default()))
        });
    match parsed {
        Ok(t) => Ok(Some(t.and_utc())),
        Err(_) => Err(format!(
            "{field}: give a time as 2026-12-05 or 2026-12-05T17:30 (UTC)."
        )),
    }
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    nav: Nav,
    filters: Filters,
    lines: Vec<AuditLine>,
    next: Option<String>,
    first: Option<String>,
    csv: String,
    error: Option<String>,
}

async fn log(staff: Staff, filters: web::Query<Filters>) -> HttpResponse {
    let filters = filters.into_inner();
    let (lines, next, error) = match filters.filter() {
        Err(error) => (Vec::new(), None, Some(error)),
        Ok(filter) => match staff.console.audit_log(&filter, PAGE + 1).await {
            Err(e) => return try_later(&e),
            Ok(mut lines) => {
                let next = (lines.len() as u64 > PAGE).then(|| {
                    lines.truncate(PAGE as usize);
                    filters.url("/admin/audit", lines.last().map(|l| l.id))
                });
                (lines, next, None)
            }
        },
    };
    let status = match error {
        Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
        None => StatusCode::OK,
    };
    let view = AuditPage {
        nav: staff.nav(),
        first: filters
            .before
            .is_some()
            .then(|| filters.url("/admin/audit", None)),
        csv: filters.url("/admin/audit.csv", None),
        filters,
        lines,
        next,
        error,
    };
    page(status, &view)
}

/// Every line the filters keep, newest first, as CSV, streamed chunk by chunk. A database
/// failure on the first chunk answers "try later"; on a later one the download is cut short
/// (the connection is closed before the body's end), which the browser reports as failed.
async fn export(staff: Staff, filters: web::Query<Filters>) -> HttpResponse {
    let mut filter = match filters.filter() {
        Ok(filter) => filter,
        Err(error) => {
            return HttpResponse::UnprocessableEntity()
                .content_type("text/plain; charset=utf-8")
                .body(error);
        }
    };
    let console = staff.console;
    let first = match csv_chunk(&console, &mut filter, true).await {
        Ok(first) => first,
        Err(e) => return try_later(&e),
    };
    let (chunks, body) = tokio::sync::mpsc::channel(EXPORT_AHEAD);
    tokio::spawn(async move {
        let (mut chunk, mut more) = first;
        loop {
            if !chunk.is_empty() && chunks.send(Ok(chunk)).await.is_err() {
                return; // the client went away
            }
            if !more {
                return;
            }
            match csv_chunk(&console, &mut filter, false).await {
                Ok(next) => (chunk, more) = next,
                Err(e) => {
                    tracing::error!("audit log export: {e}");
                    let _ = chunks.send(Err(e)).await;
                    return;
                }
            }
        }
    });
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"audit.csv\"",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(CsvBody(body))
}

/// The CSV of the next chunk of lines `filter` keeps (with the header line if `header`),
/// `filter.before` moved past them, and whether more may follow.
async fn csv_chunk(
    console: &Console,
    filter: &mut AuditFilter,
    header: bool,
) -> Result<(Bytes, bool), DbError> {
    let lines = console.audit_log(filter, EXPORT_CHUNK).await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut write = |record: [&str; 6]| {
        out.write_record(record.map(neutralised))
            .map_err(|e| DbError::Malformed(format!("writing CSV: {e}")))
    };
    if header {
        write(["id", "at", "account", "actor", "action", "detail"])?;
    }
    for line in &lines {
        let account = line.account.map(|a| a.to_string()).unwrap_or_default();
        write([
            &line.id.to_string(),
            &line.at.to_rfc3339(),
            &account,
            &line.actor,
            &line.action,
            &line.detail,
        ])?;
    }
    let more = match lines.last() {
        Some(last) if lines.len() as u64 == EXPORT_CHUNK => {
            filter.before = Some(last.id);
            true
        }
        _ => false,
    };
    let out = out
        .into_inner()
        .map_err(|e| DbError::Malformed(format!("writing CSV: {e}")))?;
    Ok((Bytes::from(out), more))
}

/// The export's body: the chunks as the reading task sends them.
struct CsvBody(tokio::sync::mpsc::Receiver<Result<Bytes, DbError>>);

impl MessageBody for CsvBody {
    type Error = DbError;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        self.0.poll_recv(cx)
    }
}

/// A cell a spreadsheet would read as a formula (it starts with `=`, `+`, `-`, `@`, a tab
/// or a carriage return) gets a leading `'`, so that it is shown as the text it is.
fn neutralised(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::neutralised;

    #[test]
    fn formulas_are_text() {
        assert_eq!(neutralised("=1+1"), "'=1+1");
        assert_eq!(neutralised("-2"), "'-2");
        assert_eq!(neutralised("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralised("+x"), "'+x");
        assert_eq!(neutralised("a=b"), "a=b");
        assert_eq!(neutralised(""), "");
    }
}
