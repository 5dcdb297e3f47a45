//! Operator commands (`dyn53 zone|user|host|group|key …`). They write through the same
//! transactions as every other change, so the DNS feed picks them up like any update.

use std::io::BufRead;
use std::net::{Ipv4Addr, Ipv6Addr};

use anyhow::{Context, bail};

use crate::db::{AccountId, Db, KeyProtocols, NewHost, NewKey, NewUser, NewUserAccount, NewZone};
use crate::domain::{
    AccountStatus, Email, Fqdn, GroupName, KeyScope, UpdateKey, parse_ipv4, parse_ipv6,
};
use crate::hashing::PasswordHashing;

/// The TTL of hosts in a zone created without one: short, as dynamic addresses need.
pub const DEFAULT_TTL: u32 = 60;

/// Creates each zone that is missing; returns the names it created.
pub async fn ensure_zones(db: &Db, names: &[Fqdn]) -> anyhow::Result<Vec<Fqdn>> {
    let mut created = Vec::new();
    for name in names {
        let new = NewZone {
            name: name.clone(),
            nameservers: Vec::new(),
            default_ttl: DEFAULT_TTL,
            account: None,
        };
        if add_zone(db, new, "cli").await? {
            created.push(name.clone());
        }
    }
    Ok(created)
}

/// Creates a zone, audited as `actor`'s (the CLI, or a staff member in the console);
/// `Ok(false)` when it exists (nothing is changed).
pub async fn add_zone(db: &Db, new: NewZone, actor: &str) -> anyhow::Result<bool> {
    if !(1..=86_400).contains(&new.default_ttl) {
        bail!("a zone's TTL is 1 to 86400 seconds");
    }
    if new.nameservers.contains(&new.name) {
        bail!("a zone's name server cannot be the apex itself");
    }
    let name = new.name.clone();
    let mut tx = db.begin_write().await?;
    let created = tx.insert_zone(new).await?.is_some();
    if created {
        tx.audit(None, actor, "zone.create", name.as_str()).await?;
    }
    tx.commit().await?;
    Ok(created)
}

/// Creates a user with its own account. `Ok(false)`: the e-mail or login ID exists.
pub async fn add_user(
    db: &Db,
    email: Email,
    login: Option<String>,
    password: &str,
    staff: bool,
    account: NewUserAccount,
) -> anyhow::Result<bool> {
    if password.chars().count() < 8 {
        bail!("the password must have at least 8 characters");
    }
    // The same service as every other path, with one run: a command hashes one password.
    let password = PasswordHashing::with_runs(1, 0).hash(password).await?;
    let tx = db.begin_write().await?;
    let created = tx
        .insert_user(
            NewUser {
                email,
                login,
                password,
                staff,
                verified: true,
                account,
            },
            "cli",
        )
        .await?
        .is_some();
    tx.commit().await?;
    Ok(created)
}

/// Sets the status of the account of the user with `email`, audited with `reason`; `false`
/// if it had it already.
pub async fn set_account_status(
    db: &Db,
    email: &Email,
    status: AccountStatus,
    reason: &str,
) -> anyhow::Result<bool> {
    let account = account_of(db, email).await?;
    let tx = db.begin_write().await?;
    let changed = tx.set_account_status(account, status, reason).await?;
    tx.commit().await?;
    Ok(changed)
}

/// Blocks a name for abuse, whether a host has it yet or not, or lifts the block; `false`
/// if it already was so.
pub async fn set_name_blocked(
    db: &Db,
    name: &Fqdn,
    blocked: bool,
    reason: Option<&str>,
) -> anyhow::Result<bool> {
    let tx = db.begin_write().await?;
    let changed = tx.set_name_blocked(name, blocked, reason, "cli").await?;
    tx.commit().await?;
    Ok(changed)
}

/// Sets the addresses a host serves while offline; none: it serves no address then.
pub async fn set_offline_addresses(
    db: &Db,
    name: &Fqdn,
    ipv4: Option<Ipv4Addr>,
    ipv6: Option<Ipv6Addr>,
) -> anyhow::Result<()> {
    let mut tx = db.begin_write().await?;
    tx.set_offline_addresses(name, ipv4, ipv6).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn account_of(db: &Db, owner: &Email) -> anyhow::Result<AccountId> {
    db.account_of(owner)
        .await?
        .with_context(|| format!("no user {owner}"))
}

/// Creates a host; `Ok(false)` when the owner has it already (nothing is changed).
pub async fn add_host(
    db: &Db,
    name: Fqdn,
    owner: &Email,
    ipv4: Option<Ipv4Addr>,
    ipv6: Option<Ipv6Addr>,
    ttl: Option<u32>,
) -> anyhow::Result<bool> {
    let account = account_of(db, owner).await?;
    match db.owner_of_host(&name).await? {
        Some(holder) if holder == account => return Ok(false),
        Some(_) => bail!("{name} belongs to another account"),
        None => {}
    }
    let zone = db.zone_of(&name).await?.filter(|z| z.name != name);
    let zone = zone.with_context(|| {
        format!("{name} is not inside any zone of this service (add one with `dyn53 zone add`)")
    })?;
    if let Some(ttl) = ttl.filter(|t| !(zone.min_ttl..=zone.max_ttl).contains(t)) {
        bail!(
            "a TTL of {ttl} s is outside {}'s bounds, {} to {} s",
            zone.name,
            zone.min_ttl,
            zone.max_ttl
        );
    }
    let mut tx = db.begin_write().await?;
    let created = tx
        .insert_hosts(
            &[zone],
            vec![NewHost {
                name,
                account,
                ipv4,
                ipv6,
                ttl,
            }],
        )
        .await?;
    for host in &created {
        tx.audit(Some(account), "cli", "host.create", host.name.as_str())
            .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Bulk creation from lines of `FQDN OWNER_EMAIL [IPV4] [IPV6]`; blank lines and `#`
/// comments are skipped. Every line is checked before anything is written, so a bad
/// file changes nothing. Returns the number of hosts created.
pub async fn import_hosts(db: &Db, input: impl BufRead) -> anyhow::Result<usize> {
    let mut owners: std::collections::HashMap<Email, AccountId> = Default::default();
    let mut hosts = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (n, line) in input.lines().enumerate() {
        let line = line.with_context(|| format!("line {}: not readable text", n + 1))?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let host = parse_import_line(line, db, &mut owners)
            .await
            .with_context(|| format!("line {}: {line:?}", n + 1))?;
        if !seen.insert(host.name.clone()) {
            bail!("line {}: {} appears twice", n + 1, host.name);
        }
        hosts.push(host);
    }
    let zones = db.zones().await?;
    let total = hosts.len();
    // One transaction, so a conflict half-way leaves nothing behind: one feed revision.
    let mut tx = db.begin_write().await?;
    tx.insert_hosts(&zones, hosts).await?;
    tx.audit(None, "cli", "host.import", &format!("{total} hosts"))
        .await?;
    tx.commit().await?;
    Ok(total)
}

async fn parse_import_line(
    line: &str,
    db: &Db,
    owners: &mut std::collections::HashMap<Email, AccountId>,
) -> anyhow::Result<NewHost> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if !(2..=4).contains(&fields.len()) {
        bail!("expected FQDN OWNER_EMAIL [IPV4] [IPV6]");
    }
    let name = Fqdn::parse(fields[0])?;
    let owner = Email::parse(fields[1])?;
    let account = match owners.get(&owner) {
        Some(a) => *a,
        None => {
            let a = account_of(db, &owner).await?;
            owners.insert(owner, a);
            a
        }
    };
    let (mut ipv4, mut ipv6) = (None, None);
    for field in &fields[2..] {
        if field.contains(':') {
            ipv6 = Some(parse_ipv6(field)?);
        } else {
            ipv4 = Some(parse_ipv4(field)?);
        }
    }
    Ok(NewHost {
        name,
        account,
        ipv4,
        ipv6,
        ttl: None,
    })
}

pub async fn add_group(
    db: &Db,
    name: &GroupName,
    owner: &Email,
    hosts: &[Fqdn],
) -> anyhow::Result<()> {
    let account = account_of(db, owner).await?;
    let tx = db.begin_write().await?;
    tx.upsert_group(account, name, hosts, "cli").await?;
    tx.commit().await?;
    Ok(())
}

/// Creates an update key and returns it with its id: the only time its secret exists
/// outside the client.
pub async fn create_key(
    db: &Db,
    user: &Email,
    name: &str,
    hosts: &[Fqdn],
    scope: KeyScope,
    also_for: KeyProtocols,
) -> anyhow::Result<(UpdateKey, i64)> {
    let key = UpdateKey::generate();
    let tx = db.begin_write().await?;
    let new = NewKey {
        owner: user,
        name,
        hosts,
        scope,
        also_for,
    };
    let id = tx.insert_key(new, &key, "cli").await?;
    tx.commit().await?;
    Ok((key, id))
}
