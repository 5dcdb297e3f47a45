//! sea-orm entities, one per table of `migrations`. Relations are expressed in queries
//! where needed rather than declared, keeping these plain.

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod account {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "accounts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub plan: String,
        pub status: String,
        pub created_at: DateTimeUtc,
        /// The IPv6 prefix the account's router last sent, which derived hosts follow.
        pub ipv6_prefix: Option<String>,
    }
    no_relations!();
}

pub mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub account_id: i64,
        pub email: String,
        pub login: Option<String>,
        pub password_hash: String,
        pub role: String,
        pub staff: bool,
        pub created_at: DateTimeUtc,
        /// When the owner of the address confirmed it; sign-ups start without.
        pub email_verified_at: Option<DateTimeUtc>,
        /// The TOTP secret (base32); pending until `totp_enabled_at` is set.
        pub totp_secret: Option<String>,
        pub totp_enabled_at: Option<DateTimeUtc>,
        /// The last time step a code was taken in: no code is taken twice.
        pub totp_last_step: Option<i64>,
    }
    no_relations!();
}

pub mod recovery_code {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "recovery_codes")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub user_id: i64,
        /// SHA-256 of the code, normalised.
        pub digest: String,
    }
    no_relations!();
}

pub mod session {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        /// SHA-256 of the cookie's secret.
        pub digest: String,
        pub user_id: i64,
        /// The session's CSRF token, echoed by every form.
        pub csrf: String,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        /// The account a staff member views as, read only (`/admin/accounts/{id}`).
        pub viewing_account: Option<i64>,
    }
    no_relations!();
}

pub mod token {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tokens")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        /// SHA-256 of the link's secret.
        pub digest: String,
        /// `verify`, `reset`, `email` or `invite`.
        pub purpose: String,
        pub user_id: Option<i64>,
        pub account_id: Option<i64>,
        /// The address the link was sent to (a new one, for an e-mail change).
        pub email: Option<String>,
        pub role: Option<String>,
        pub expires_at: DateTimeUtc,
        pub used_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod zone {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "zones")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        /// `None` for a shared zone run by the operator.
        pub account_id: Option<i64>,
        pub default_ttl: i32,
        pub min_ttl: i32,
        pub max_ttl: i32,
        pub mname: String,
        pub rname: String,
        /// Comma-separated NS names.
        pub nameservers: String,
        pub refresh: i32,
        pub retry: i32,
        pub expire: i32,
        pub negative_ttl: i32,
        pub created_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod host {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "hosts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub zone_id: i64,
        pub account_id: i64,
        pub name: String,
        /// `address`, `alias` or `redirect`.
        pub kind: String,
        pub ipv4: Option<String>,
        pub ipv6: Option<String>,
        pub ttl: Option<i32>,
        pub alias: Option<String>,
        pub mx: Option<String>,
        pub mx_preference: i32,
        /// The MX is a backup: the host itself is the first mail exchanger.
        pub backmx: bool,
        /// JSON array of strings.
        pub txt: String,
        /// JSON array of strings: TXT values served at `_acme-challenge.<name>`.
        pub acme_txt: String,
        pub wildcard: bool,
        pub offline: bool,
        /// Blocked by the operator for abuse: updates are refused.
        pub blocked: bool,
        pub offline_ipv4: Option<String>,
        pub offline_ipv6: Option<String>,
        /// The address's last bits when it follows the account's `ipv6_prefix`.
        pub ipv6_interface_id: Option<String>,
        pub last_agent: Option<String>,
        pub last_source: Option<String>,
        pub last_protocol: Option<String>,
        pub updated_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
    }
    no_relations!();
}

/// A host's current addresses, beside its row, for the console's search by address
/// (`m0020`): [`super::WriteTx`] writes them with the host's.
pub mod host_address {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "host_addresses")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub host_id: i64,
        pub ipv4: Option<String>,
        pub ipv6: Option<String>,
    }
    no_relations!();
}

pub mod group {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "groups")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub account_id: i64,
        pub name: String,
        pub created_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod group_host {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "group_hosts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub group_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub host_id: i64,
    }
    no_relations!();
}

pub mod update_key {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "update_keys")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub account_id: i64,
        pub user_id: i64,
        pub name: String,
        pub prefix: String,
        pub digest: String,
        /// `update` or `api`.
        pub scope: String,
        pub miniupdate: bool,
        /// For miniupdate keys: the MD5 hex of the secret, which its challenge needs.
        pub miniupdate_md5: Option<String>,
        /// For keys made for RFC 2136: the TSIG secret, base64.
        pub tsig_secret: Option<String>,
        pub last_used_at: Option<DateTimeUtc>,
        pub last_used_from: Option<String>,
        pub revoked_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        /// Limited to the hosts of its `update_key_hosts` rows, even when none are left.
        pub limited: bool,
    }
    no_relations!();
}

pub mod update_key_host {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "update_key_hosts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub host_id: i64,
    }
    no_relations!();
}

pub mod blocked_name {
    use sea_orm::entity::prelude::*;

    /// A name the operator blocked for abuse: whichever host has it, now or later.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "blocked_names")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub reason: Option<String>,
        pub created_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod update_history {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "update_history")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub host_id: i64,
        pub account_id: i64,
        pub at: DateTimeUtc,
        pub protocol: String,
        pub source: Option<String>,
        pub agent: Option<String>,
        pub result: String,
        pub ipv4: Option<String>,
        pub ipv6: Option<String>,
    }
    no_relations!();
}

pub mod audit_log {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_log")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub at: DateTimeUtc,
        pub account_id: Option<i64>,
        pub actor: String,
        pub action: String,
        pub detail: String,
    }
    no_relations!();
}

pub mod outbox {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub revision: i64,
        pub created_at: DateTimeUtc,
        /// The batch's changes as JSON.
        pub payload: String,
    }
    no_relations!();
}

pub mod service_setting {
    use sea_orm::entity::prelude::*;

    /// A service-wide setting staff changed; a missing row is the default.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "service_settings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub value: String,
        pub reason: Option<String>,
        pub changed_by: String,
        pub changed_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod update_outcome {
    use sea_orm::entity::prelude::*;

    /// Updates answered in one minute with one result, by one protocol, by every replica.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "update_outcomes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub minute: DateTimeUtc,
        #[sea_orm(primary_key, auto_increment = false)]
        pub protocol: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub result: String,
        pub count: i64,
    }
    no_relations!();
}

pub mod update_client {
    use sea_orm::entity::prelude::*;

    /// Requests in one minute from one client: a User-Agent (`agent`) or a source address
    /// refused for wrong credentials (`refused`).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "update_clients")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub minute: DateTimeUtc,
        #[sea_orm(primary_key, auto_increment = false)]
        pub kind: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub client: String,
        pub count: i64,
    }
    no_relations!();
}

pub mod blocklist {
    use sea_orm::entity::prelude::*;

    /// A User-Agent (`agent`) or an address range (`range`) the operator's staff refuse.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "blocklist")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub kind: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub pattern: String,
        pub reason: String,
        pub actor: String,
        pub created_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod notification_subscription {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notification_subscriptions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub account_id: i64,
        /// `None`: every host of the account.
        pub host_id: Option<i64>,
        /// `email` or `webhook`.
        pub channel: String,
        /// The e-mail address or the webhook's URL.
        pub target: String,
        /// A webhook's HMAC secret, kept in clear: signing needs it.
        pub secret: Option<String>,
        /// Event names, comma-separated.
        pub events: String,
        /// Days without an update after which a host is stale.
        pub stale_days: i32,
        pub created_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod notification_delivery {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notification_deliveries")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub subscription_id: i64,
        pub account_id: i64,
        /// Random, the same on every attempt: receivers de-duplicate by it.
        pub event_id: String,
        pub event: String,
        /// The JSON body, as signed and sent.
        pub payload: String,
        /// Set for events told once per window: a second one with the same key is not
        /// queued.
        pub dedupe_key: Option<String>,
        /// `pending`, `delivered` or `failed`.
        pub state: String,
        pub attempts: i32,
        pub next_attempt_at: DateTimeUtc,
        pub created_at: DateTimeUtc,
        pub finished_at: Option<DateTimeUtc>,
    }
    no_relations!();
}

pub mod notification_attempt {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notification_attempts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub delivery_id: i64,
        pub at: DateTimeUtc,
        pub duration_ms: i32,
        /// The HTTP status a webhook answered.
        pub status: Option<i32>,
        /// Why the attempt failed, when it did.
        pub error: Option<String>,
    }
    no_relations!();
}

pub mod notification_stale_mark {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notification_stale_marks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub subscription_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub host_id: i64,
        /// The host's last update when it was told stale: a later one starts a new episode.
        pub since: DateTimeUtc,
    }
    no_relations!();
}
