//! The operator's abuse blocks. A block belongs to the name, not to the host that has it:
//! a host deleted and created again (by anyone, on any surface) is still blocked, and a
//! name can be blocked before it is taken. `hosts.blocked` mirrors it for the update path,
//! which reads the host row anyway.

use chrono::Utc;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, TryInsertResult};

use super::entity::{blocked_name, host};
use super::{AccountId, DbResult, Event, WriteTx};
use crate::domain::{EventKind, Fqdn};
use serde_json::json;

impl WriteTx {
    /// Blocks `name` for abuse (updates of its host, now or later, answer `abuse`), or lifts
    /// the block; `false` if it already was so. What the host serves does not change. The
    /// audit line names `actor` and `reason`, which a block also keeps.
    pub async fn set_name_blocked(
        &self,
        name: &Fqdn,
        blocked: bool,
        reason: Option<&str>,
        actor: &str,
    ) -> DbResult<bool> {
        let named = blocked_name::Column::Name.eq(name.as_str());
        let listed = if blocked {
            let row = blocked_name::ActiveModel {
                name: Set(name.to_string()),
                reason: Set(reason.map(str::to_owned)),
                created_at: Set(Utc::now()),
            };
            let inserted = blocked_name::Entity::insert(row)
                .on_conflict_do_nothing()
                .exec_without_returning(self.tx())
                .await?;
            matches!(inserted, TryInsertResult::Inserted(n) if n > 0)
        } else {
            blocked_name::Entity::delete_many()
                .filter(named)
                .exec(self.tx())
                .await?
                .rows_affected
                > 0
        };
        let holder = host::Entity::find()
            .select_only()
            .columns([host::Column::Id, host::Column::AccountId])
            .filter(host::Column::Name.eq(name.as_str()))
            .into_tuple::<(i64, i64)>()
            .one(self.tx())
            .await?;
        let account = holder.map(|(_, account)| AccountId(account));
        let flagged = host::Entity::update_many()
            .col_expr(host::Column::Blocked, Expr::value(blocked))
            .filter(host::Column::Name.eq(name.as_str()))
            .filter(host::Column::Blocked.ne(blocked))
            .exec(self.tx())
            .await?
            .rows_affected
            > 0;
        let changed = listed || flagged;
        if changed {
            let action = if blocked {
                "host.block"
            } else {
                "host.unblock"
            };
            let detail = match reason {
                Some(reason) => format!("{name}: {reason}"),
                None => name.to_string(),
            };
            self.audit(account, actor, action, &detail).await?;
        }
        if let Some((id, account)) = holder.filter(|_| blocked && flagged) {
            self.enqueue(&Event {
                kind: EventKind::AbuseBlocked,
                account: AccountId(account),
                host: Some((id, name.to_string())),
                data: json!({ "reason": "staff", "detail": reason }),
                dedupe: None,
            })
            .await?;
        }
        Ok(changed)
    }
}
