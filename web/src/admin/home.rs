//! `/admin`: the dashboard. Accounts, hosts and keys by plan; updates of the last hour and
//! day by protocol and result, drawn as bar charts (inline SVG, with a table of the same
//! figures); sign-ups per day over 30 days.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{Duration, Utc};

use super::Staff;
use crate::db::{Console, DbResult, PlanCounts};
use crate::pages::{Nav, page, try_later};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(home));
}

/// Height of one bar's row in a chart, and where bars start (after the labels).
const ROW: usize = 22;
const LABEL_WIDTH: usize = 150;
const BAR_SPACE: usize = 250;

/// One bar: a label, its figure, its place and length in the chart.
pub struct Bar {
    pub label: String,
    pub count: i64,
    pub y: usize,
    pub text_y: usize,
    pub width: usize,
    /// Where its figure is written, after the bar.
    pub count_x: usize,
}

/// A horizontal bar chart, and the same figures for a table.
pub struct Chart {
    pub id: &'static str,
    pub title: String,
    pub bars: Vec<Bar>,
    pub bar_x: usize,
    pub width: usize,
    pub height: usize,
    pub total: i64,
}

impl Chart {
    pub fn new(id: &'static str, title: String, figures: Vec<(String, i64)>) -> Chart {
        let max = figures.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
        let bars = figures
            .into_iter()
            .enumerate()
            .map(|(i, (label, count))| {
                let width = (count.max(0) as usize * BAR_SPACE / max as usize).max(1);
                Bar {
                    label,
                    count,
                    y: i * ROW + 4,
                    text_y: i * ROW + 16,
                    width,
                    count_x: LABEL_WIDTH + width + 4,
                }
            })
            .collect::<Vec<_>>();
        Chart {
            id,
            title,
            bar_x: LABEL_WIDTH,
            width: LABEL_WIDTH + BAR_SPACE + 60,
            height: bars.len().max(1) * ROW + 8,
            total: bars.iter().map(|b| b.count).sum(),
            bars,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/home.html")]
struct HomePage {
    nav: Nav,
    plans: Vec<PlanCounts>,
    charts: Vec<Chart>,
    signups: Chart,
}

async fn home(staff: Staff) -> HttpResponse {
    match figures(&staff.console).await {
        Ok((plans, charts, signups)) => page(
            StatusCode::OK,
            &HomePage {
                nav: staff.nav(),
                plans,
                charts,
                signups,
            },
        ),
        Err(e) => try_later(&e),
    }
}

async fn figures(console: &Console) -> DbResult<(Vec<PlanCounts>, Vec<Chart>, Chart)> {
    let plans = console.plan_counts().await?;
    let now = Utc::now();
    let mut charts = Vec::new();
    for (id, span, since) in [
        ("hour", "the last hour", now - Duration::hours(1)),
        ("day", "the last day", now - Duration::days(1)),
    ] {
        let outcomes = console.outcomes_since(since).await?;
        let figures = outcomes
            .into_iter()
            .map(|(protocol, result, n)| (format!("{protocol} {result}"), n))
            .collect();
        charts.push(Chart::new(
            id,
            format!("Updates in {span}, by protocol and result"),
            figures,
        ));
    }
    let signups = console.signups_since(now - Duration::days(29)).await?;
    let signups = Chart::new(
        "signups",
        "Sign-ups per day, last 30 days".into(),
        signups
            .into_iter()
            .map(|(day, n)| (day.format("%Y-%m-%d").to_string(), n))
            .collect(),
    );
    Ok((plans, charts, signups))
}
