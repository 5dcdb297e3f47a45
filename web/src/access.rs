//! What a caller may do in an account, and the one way to do it: [`Access`].
//!
//! Every surface that reaches an account's data (the pages, the REST API) makes an `Access`
//! at its edge from the caller it authenticated: a browser session, an API token, or an API
//! key with its stored host limit. Reads go through it (a host-limited key sees its hosts
//! only; another account's object is "not found"). Each kind of change is a capability that
//! `Access` hands out only when [`Access::may`] allows it: the rules are [`Role::may`] (the
//! one table of roles), the account's status, and a key's limit. A handler that holds a
//! [`KeyAdmin`] can revoke keys; one that does not, cannot: there is no check to forget.
//! The update protocols reach hosts through the update service, which applies the same table.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::db::{
    Db, DbError, DbResult, Delivery, GroupInfo, HistoryLine, Host, HostFilter, KeyInfo,
    KeyProtocols, Member, NewSubscription, Subscription, Tenant, WebUser, Zone,
};
use chrono::Duration;

use crate::blocklists::Blocklists;
use crate::domain::{
    AccountStatus, Action, Channel, Email, Events, Fqdn, GroupName, Ipv6Prefix, KeyScope, Label,
    Role, SecretToken, UpdateKey, webhook_secret,
};
use crate::update::{Client, Credentials, HostEntry, UpdateRequest};

/// Why a capability was not handed out. The message is what the caller is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A viewer: reads only.
    #[error("Your role may not change DNS.")]
    ReadOnly,
    /// A role below the one the action needs.
    #[error("Only the account's owner and admins may do this.")]
    Role,
    /// A key limited to some hosts reaches those hosts and nothing else.
    #[error("This key is limited to some hosts; it can only reach those.")]
    KeyLimited,
    /// A suspended or blocked account changes nothing.
    #[error("This account may not make changes.")]
    AccountInactive,
    /// Staff viewing an account's pages as its owner: reads only, whatever the role.
    #[error("Read only: viewing as staff.")]
    ViewingAsStaff,
}

/// An authenticated caller's handle on its account.
pub struct Access {
    tenant: Tenant,
    user: WebUser,
    /// The host ids a host-limited key may reach, as stored; `None`: the whole account.
    limit: Option<Vec<i64>>,
    /// What the update service takes for this caller.
    credentials: Credentials,
    /// Staff viewing the account as `user`: no capability is handed out.
    read_only: bool,
    /// Who the audit log names for the caller's changes: the user's e-mail, or
    /// `key:<prefix>` for an API key.
    actor: String,
}

impl Access {
    /// The handle of `user` (a key's owner, with the key's `limit`). Only an edge that
    /// authenticated the caller makes one; this is the one place that opens a [`Tenant`]
    /// (clippy's `disallowed-methods` refuses `Db::tenant` anywhere else).
    pub fn new(
        db: &Db,
        user: WebUser,
        limit: Option<Vec<i64>>,
        credentials: Credentials,
    ) -> Access {
        #[allow(clippy::disallowed_methods)]
        let tenant = db.tenant(user.account);
        Access {
            tenant,
            actor: user.email.to_string(),
            user,
            limit,
            credentials,
            read_only: false,
        }
    }

    /// A read-only handle on the account of `owner`, for staff viewing it as its owner
    /// (`admin::accounts`): it reads what the owner reads and [`Access::may`] refuses every
    /// change, so no capability exists to make one.
    pub fn view_as(db: &Db, owner: WebUser, credentials: Credentials) -> Access {
        Access {
            read_only: true,
            ..Access::new(db, owner, None, credentials)
        }
    }

    /// The same caller acting through its API key `prefix` (the key's visible start): the
    /// audit log names the key rather than its owner.
    pub fn by_key(mut self, prefix: &str) -> Access {
        self.actor = format!("key:{prefix}");
        self
    }

    /// Who the audit log names for this caller's changes.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    pub fn user(&self) -> &WebUser {
        &self.user
    }

    /// The credentials the update service takes for this caller.
    pub fn credentials(&self) -> Credentials {
        self.credentials.clone()
    }

    /// Whether the caller may do `action`: not staff viewing the account, the account is active, a host-limited key does
    /// nothing but change its hosts, and the role's row of [`Role::may`] allows it.
    pub fn may(&self, action: Action) -> Result<(), Refusal> {
        if self.read_only {
            return Err(Refusal::ViewingAsStaff);
        }
        if self.user.account_status != AccountStatus::Active {
            return Err(Refusal::AccountInactive);
        }
        if self.limit.is_some() && action != Action::ChangeHosts {
            return Err(Refusal::KeyLimited);
        }
        match (self.user.role.may(action), self.user.role) {
            (true, _) => Ok(()),
            (false, Role::Viewer) => Err(Refusal::ReadOnly),
            (false, _) => Err(Refusal::Role),
        }
    }

    fn reaches(&self, host: &Host) -> bool {
        self.limit
            .as_ref()
            .is_none_or(|ids| ids.contains(&host.state.id))
    }

    /// The hosts the caller reaches, by name.
    pub async fn hosts(&self) -> DbResult<Vec<Host>> {
        let mut hosts = self.tenant.hosts().await?;
        hosts.retain(|h| self.reaches(h));
        Ok(hosts)
    }

    /// The caller's host `id`; `None` for another account's or one beyond a key's limit.
    pub async fn host(&self, id: i64) -> DbResult<Option<Host>> {
        Ok(self.tenant.host(id).await?.filter(|h| self.reaches(h)))
    }

    /// The caller's host `name`; `None` as for [`Access::host`].
    pub async fn host_named(&self, name: &Fqdn) -> DbResult<Option<Host>> {
        Ok(self
            .tenant
            .host_named(name)
            .await?
            .filter(|h| self.reaches(h)))
    }

    /// A page of the hosts the caller reaches that `filter` keeps.
    pub async fn hosts_page(&self, mut filter: HostFilter, limit: u64) -> DbResult<Vec<Host>> {
        filter.only = self.limit.clone();
        self.tenant.hosts_page(&filter, limit).await
    }

    /// The newest `limit` history lines of `host` (one the caller reached) before the line
    /// `before`.
    pub async fn history_before(
        &self,
        host: &Host,
        before: Option<i64>,
        limit: u64,
    ) -> DbResult<Vec<HistoryLine>> {
        self.tenant
            .history_before(host.state.id, before, limit)
            .await
    }

    /// The newest `limit` history lines of `host`, skipping `offset`.
    pub async fn history(
        &self,
        host: &Host,
        offset: u64,
        limit: u64,
    ) -> DbResult<Vec<HistoryLine>> {
        self.tenant.history(host.state.id, offset, limit).await
    }

    /// The zones the account may create hosts in.
    pub async fn zones(&self) -> DbResult<Vec<Zone>> {
        self.tenant.zones().await
    }

    /// What the whole account holds (its groups, keys, users): not for a host-limited key.
    pub fn account(&self) -> Result<AccountView<'_>, Refusal> {
        match self.limit {
            Some(_) => Err(Refusal::KeyLimited),
            None => Ok(AccountView(self)),
        }
    }

    /// Changing the caller's hosts (through the update service, with [`Access::credentials`]).
    pub fn host_writer(&self) -> Result<HostWriter<'_>, Refusal> {
        self.may(Action::ChangeHosts).map(|()| HostWriter(self))
    }

    pub fn host_admin(&self) -> Result<HostAdmin<'_>, Refusal> {
        self.may(Action::AddRemoveHosts).map(|()| HostAdmin(self))
    }

    pub fn group_admin(&self) -> Result<GroupAdmin<'_>, Refusal> {
        self.may(Action::ManageGroups).map(|()| GroupAdmin(self))
    }

    pub fn key_admin(&self) -> Result<KeyAdmin<'_>, Refusal> {
        self.may(Action::ManageKeys).map(|()| KeyAdmin(self))
    }

    pub fn team_admin(&self) -> Result<TeamAdmin<'_>, Refusal> {
        self.may(Action::ManageTeam).map(|()| TeamAdmin(self))
    }

    pub fn notification_admin(&self) -> Result<NotificationAdmin<'_>, Refusal> {
        self.may(Action::ManageNotifications)
            .map(|()| NotificationAdmin(self))
    }
}

/// Reads of the whole account.
pub struct AccountView<'a>(&'a Access);

impl AccountView<'_> {
    pub async fn groups(&self) -> DbResult<Vec<GroupInfo>> {
        self.0.tenant.groups().await
    }

    pub async fn keys(&self) -> DbResult<Vec<KeyInfo>> {
        self.0.tenant.keys().await
    }

    pub async fn members(&self) -> DbResult<Vec<Member>> {
        self.0.tenant.members().await
    }

    pub async fn host_count(&self) -> DbResult<u64> {
        self.0.tenant.host_count().await
    }

    pub async fn ipv6_prefix(&self) -> DbResult<Option<Ipv6Prefix>> {
        self.0.tenant.ipv6_prefix().await
    }

    /// The account's notification subscriptions.
    pub async fn subscriptions(&self) -> DbResult<Vec<Subscription>> {
        self.0.tenant.subscriptions().await
    }

    /// The delivery log: the newest `limit` notifications (of `subscription` only, if
    /// given) with their attempts.
    pub async fn deliveries(
        &self,
        subscription: Option<i64>,
        limit: u64,
    ) -> DbResult<Vec<Delivery>> {
        self.0.tenant.deliveries(subscription, limit).await
    }
}

/// Proof that the caller may change its hosts' addresses and settings.
pub struct HostWriter<'a>(&'a Access);

impl HostWriter<'_> {
    /// A request to the update service for `hosts`, as [`UpdateRequest::new`] makes it,
    /// with the caller's credentials and their actor: what it changes is audited as
    /// `host.change` (a person's change, unlike a device's update, which is history).
    pub fn request(
        &self,
        hosts: Vec<HostEntry>,
        addresses: (Option<Ipv4Addr>, Option<Ipv6Addr>),
        client: Client,
    ) -> UpdateRequest {
        let mut request = UpdateRequest::new(self.0.credentials(), hosts, addresses, client);
        request.audited = Some(self.0.actor.clone());
        request
    }
}

/// Why a host could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateHostError {
    #[error("{0} is in none of your zones.")]
    NoZone(Fqdn),
    #[error("Choose another name: {0}.")]
    BadLabel(String),
    #[error("Your plan allows {0} host names.")]
    PlanLimit(u64),
    #[error("{0} is taken: choose another name.")]
    Taken(Fqdn),
    #[error("Names may not point to {0}: it is in a range the operator refuses.")]
    AddressBlocked(IpAddr),
    #[error(transparent)]
    Db(DbError),
}

/// Creating and deleting hosts.
pub struct HostAdmin<'a>(&'a Access);

impl HostAdmin<'_> {
    /// Creates `name` (one label under one of the account's zones, the longest that holds
    /// it) with `addresses`, none in a blocked range (as an update's), within the plan's
    /// number of hosts: the rule every surface applies.
    pub async fn create(
        &self,
        name: Fqdn,
        addresses: (Option<Ipv4Addr>, Option<Ipv6Addr>),
        blocklists: &Blocklists,
    ) -> Result<Host, CreateHostError> {
        let access = self.0;
        if let Some(blocked) = blocklists.blocked_of(addresses.0, addresses.1) {
            return Err(CreateHostError::AddressBlocked(blocked));
        }
        let zones = access.tenant.zones().await.map_err(CreateHostError::Db)?;
        let zone = zones
            .iter()
            .filter(|z| name.is_within(&z.name) && name != z.name)
            .max_by_key(|z| z.name.as_str().len())
            .ok_or_else(|| CreateHostError::NoZone(name.clone()))?;
        let label = &name.as_str()[..name.as_str().len() - zone.name.as_str().len() - 1];
        Label::parse(label).map_err(|e| CreateHostError::BadLabel(e.to_string()))?;
        let limit = access.user.plan.max_hosts();
        let count = access
            .tenant
            .host_count()
            .await
            .map_err(CreateHostError::Db)?;
        if count >= limit {
            return Err(CreateHostError::PlanLimit(limit));
        }
        match access
            .tenant
            .create_host(zone, name.clone(), addresses, &access.actor)
            .await
        {
            Ok(host) => Ok(host),
            Err(DbError::Taken(_) | DbError::NotAllowed(_)) => Err(CreateHostError::Taken(name)),
            Err(e) => Err(CreateHostError::Db(e)),
        }
    }

    /// Deletes the account's host `id`; `false` when it has none such.
    pub async fn delete(&self, id: i64) -> DbResult<bool> {
        self.0.tenant.delete_host(id, &self.0.actor).await
    }
}

/// Creating, changing and deleting the account's groups.
pub struct GroupAdmin<'a>(&'a Access);

impl GroupAdmin<'_> {
    pub async fn create(&self, name: &GroupName, hosts: &[Fqdn]) -> DbResult<()> {
        let access = self.0;
        access.tenant.create_group(name, hosts, &access.actor).await
    }

    pub async fn save(&self, id: i64, name: &GroupName, hosts: &[Fqdn]) -> DbResult<bool> {
        let access = self.0;
        access
            .tenant
            .save_group(id, name, hosts, &access.actor)
            .await
    }

    pub async fn delete(&self, id: i64) -> DbResult<bool> {
        self.0.tenant.delete_group(id, &self.0.actor).await
    }
}

/// Creating and revoking the account's update keys.
pub struct KeyAdmin<'a>(&'a Access);

impl KeyAdmin<'_> {
    /// A new key of the caller's, limited to `hosts` when any, and its id.
    pub async fn create(
        &self,
        name: &str,
        hosts: &[Fqdn],
        scope: KeyScope,
        also_for: KeyProtocols,
    ) -> DbResult<(UpdateKey, i64)> {
        let access = self.0;
        access
            .tenant
            .create_key(
                &access.user.email,
                name,
                hosts,
                scope,
                also_for,
                &access.actor,
            )
            .await
    }

    /// Revokes the account's key `id`; `false` when it has no such live key.
    pub async fn revoke(&self, id: i64) -> DbResult<bool> {
        self.0.tenant.revoke_key(id, &self.0.actor).await
    }
}

/// Subscriptions an account may have: each is a queue of deliveries to fill.
pub const MAX_SUBSCRIPTIONS: usize = 20;

/// Why a subscription could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    #[error("Notifications by e-mail go to an address of one of this account's users.")]
    NotAMember,
    #[error("An account has at most {MAX_SUBSCRIPTIONS} subscriptions.")]
    TooMany,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// What a new subscription is for.
pub struct SubscriptionRequest {
    /// One of the caller's hosts; `None`: every host of the account.
    pub host: Option<Host>,
    pub channel: Channel,
    pub events: Events,
    pub stale_days: u32,
}

/// Subscribing the account to notifications, and removing subscriptions.
pub struct NotificationAdmin<'a>(&'a Access);

impl NotificationAdmin<'_> {
    /// Subscribes the account: the new subscription's id and, for a webhook, the secret
    /// that signs its requests (shown this once by the caller).
    pub async fn subscribe(
        &self,
        request: SubscriptionRequest,
    ) -> Result<(i64, Option<String>), SubscribeError> {
        let tenant = &self.0.tenant;
        if let Channel::Email(email) = &request.channel {
            let members = tenant.members().await?;
            if !members.iter().any(|m| m.email == email.as_str()) {
                return Err(SubscribeError::NotAMember);
            }
        }
        if tenant.subscriptions().await?.len() >= MAX_SUBSCRIPTIONS {
            return Err(SubscribeError::TooMany);
        }
        let secret = matches!(request.channel, Channel::Webhook(_)).then(webhook_secret);
        let new = NewSubscription {
            host: request.host.map(|h| h.state.id),
            channel: request.channel,
            events: request.events,
            stale_days: request.stale_days,
            secret: secret.clone(),
        };
        let id = tenant.create_subscription(new, &self.0.actor).await?;
        Ok((id, secret))
    }

    /// Removes the account's subscription `id`; `false` when it has none such.
    pub async fn unsubscribe(&self, id: i64) -> DbResult<bool> {
        self.0.tenant.delete_subscription(id, &self.0.actor).await
    }
}

/// Inviting and removing the account's users.
pub struct TeamAdmin<'a>(&'a Access);

impl TeamAdmin<'_> {
    /// Removes the account's user `id` (never its owner, nor the caller); `false` when the
    /// account has no such user.
    pub async fn remove(&self, id: i64) -> DbResult<bool> {
        let access = self.0;
        if id == access.user.id {
            return Ok(false);
        }
        access.tenant.remove_member(id, &access.actor).await
    }

    /// The account and inviter an invitation is issued for.
    pub fn inviter(&self) -> &WebUser {
        &self.0.user
    }

    /// An invitation link's token for `email` to join as `role`, valid for `ttl`; audited.
    pub async fn invite(&self, email: &Email, role: Role, ttl: Duration) -> DbResult<SecretToken> {
        let access = self.0;
        access.tenant.invite(email, role, ttl, &access.actor).await
    }
}
