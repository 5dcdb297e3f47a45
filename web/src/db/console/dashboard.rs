//! The dashboard's figures: accounts, hosts and keys by plan, update outcomes, sign-ups.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Statement};

use super::Console;
use crate::db::DbResult;
use crate::db::entity::{account, update_outcome};

/// One plan's accounts, hosts and live keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanCounts {
    pub plan: String,
    pub accounts: i64,
    pub hosts: i64,
    pub keys: i64,
}

/// `CAST(SUM(count) AS BIGINT)`: PostgreSQL's sum of a bigint is a numeric.
pub(super) fn summed() -> sea_orm::sea_query::SimpleExpr {
    Expr::cust("CAST(SUM(count) AS BIGINT)")
}

impl Console {
    /// Accounts, hosts and keys (not revoked) of each plan, by plan name.
    pub async fn plan_counts(&self) -> DbResult<Vec<PlanCounts>> {
        let mut plans: Vec<PlanCounts> = Vec::new();
        let queries = [
            "SELECT plan, COUNT(*) AS n FROM accounts GROUP BY plan",
            "SELECT a.plan AS plan, COUNT(*) AS n FROM hosts h \
             JOIN accounts a ON a.id = h.account_id GROUP BY a.plan",
            "SELECT a.plan AS plan, COUNT(*) AS n FROM update_keys k \
             JOIN accounts a ON a.id = k.account_id WHERE k.revoked_at IS NULL GROUP BY a.plan",
        ];
        let conn = &self.db.conn;
        for (column, sql) in queries.into_iter().enumerate() {
            let rows = conn
                .query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
                .await?;
            for row in rows {
                let plan: String = row.try_get("", "plan")?;
                let n: i64 = row.try_get("", "n")?;
                let at = match plans.iter().position(|p| p.plan == plan) {
                    Some(at) => at,
                    None => {
                        plans.push(PlanCounts {
                            plan,
                            ..PlanCounts::default()
                        });
                        plans.len() - 1
                    }
                };
                let counts = &mut plans[at];
                *[&mut counts.accounts, &mut counts.hosts, &mut counts.keys][column] = n;
            }
        }
        plans.sort_by(|a, b| a.plan.cmp(&b.plan));
        Ok(plans)
    }

    /// Updates answered since `since`, as (protocol, result, count), by protocol and result.
    pub async fn outcomes_since(
        &self,
        since: DateTime<Utc>,
    ) -> DbResult<Vec<(String, String, i64)>> {
        let mut rows: Vec<(String, String, i64)> = update_outcome::Entity::find()
            .select_only()
            .column(update_outcome::Column::Protocol)
            .column(update_outcome::Column::Result)
            .column_as(summed(), "n")
            .filter(update_outcome::Column::Minute.gte(since))
            .group_by(update_outcome::Column::Protocol)
            .group_by(update_outcome::Column::Result)
            .into_tuple()
            .all(&self.db.conn)
            .await?;
        rows.sort();
        Ok(rows)
    }

    /// Accounts created per day (UTC) from `since`'s day to today, every day listed.
    pub async fn signups_since(&self, since: DateTime<Utc>) -> DbResult<Vec<(NaiveDate, i64)>> {
        let created: Vec<DateTime<Utc>> = account::Entity::find()
            .select_only()
            .column(account::Column::CreatedAt)
            .filter(account::Column::CreatedAt.gte(since))
            .into_tuple()
            .all(&self.db.conn)
            .await?;
        let today = Utc::now().date_naive();
        let days: Vec<NaiveDate> = since
            .date_naive()
            .iter_days()
            .take_while(|d| *d <= today)
            .collect();
        Ok(days
            .into_iter()
            .map(|day| {
                let n = created.iter().filter(|c| c.date_naive() == day).count();
                (day, n as i64)
            })
            .collect())
    }
}
