//! Domain types, parsed once at the edge. Past an adapter, code only sees these.

mod addr;
mod email;
mod fqdn;
mod group_name;
mod ipv6_prefix;
mod label;
mod notification;
mod password;
mod registration;
mod second_factor;
mod secret_token;
mod update_key;

pub use addr::{AddrError, parse_ip, parse_ipv4, parse_ipv6};
pub use email::{Email, EmailError};
pub use fqdn::{Fqdn, NameError};
pub use group_name::{GroupName, GroupNameError};
pub use ipv6_prefix::{InterfaceId, InterfaceIdError, Ipv6Given, Ipv6Prefix, PrefixError};
pub use label::{Label, LabelError};
pub use notification::{
    Channel, EventKind, Events, EventsError, WebhookUrl, WebhookUrlError, is_public,
    parse_stale_days, webhook_secret,
};
pub use password::{
    Argon2Memory, PasswordHash, WeakPassword, check_new_password, generate_password, hash_password,
    verify_password,
};
pub use registration::Registration;
pub use second_factor::{RecoveryCode, TotpSecret};
pub use secret_token::SecretToken;
pub use update_key::{UpdateKey, miniupdate_response, tsig_key_id, tsig_key_name};

/// Lowercase hex, in one allocation (every update with a key hexes its digest).
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

/// `len` characters from the OS-seeded CSPRNG, in an alphabet safe in URLs and configs.
fn random_base62(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// What a user may do inside their account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Owner,
    Admin,
    Editor,
    /// Reads only: may not change DNS.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [Role::Owner, Role::Admin, Role::Editor, Role::Viewer]
            .into_iter()
            .find(|r| r.as_str() == s)
    }

    /// The one table of what each role may do in its account (the account being active and,
    /// for a key limited to hosts, the action being on those hosts: see `access`).
    pub fn may(self, action: Action) -> bool {
        use Action::*;
        match self {
            Role::Owner | Role::Admin => true,
            Role::Editor => matches!(action, ChangeHosts | AddRemoveHosts | ManageGroups),
            Role::Viewer => false,
        }
    }
}

/// A kind of change a caller may make in an account; reading is always allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// A host's addresses, settings, records and ACME challenges (every update protocol).
    ChangeHosts,
    /// Creating and deleting hosts.
    AddRemoveHosts,
    ManageGroups,
    /// Creating and revoking the account's update keys.
    ManageKeys,
    /// Inviting and removing users.
    ManageTeam,
    /// Subscribing the account to notifications (e-mail, webhooks) and removing them.
    ManageNotifications,
}

impl Action {
    pub const ALL: [Action; 6] = [
        Action::ChangeHosts,
        Action::AddRemoveHosts,
        Action::ManageGroups,
        Action::ManageKeys,
        Action::ManageTeam,
        Action::ManageNotifications,
    ];
}

/// What an update key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyScope {
    /// Update addresses through the update protocols only.
    Update,
    /// Also use the REST API with the rights of its owner.
    Api,
}

impl KeyScope {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyScope::Update => "update",
            KeyScope::Api => "api",
        }
    }

    pub fn parse(s: &str) -> Option<KeyScope> {
        [KeyScope::Update, KeyScope::Api]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// An account's plan: decides limits and features.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    Free,
    Premium,
}

impl Plan {
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Premium => "premium",
        }
    }

    pub fn parse(s: &str) -> Option<Plan> {
        [Plan::Free, Plan::Premium]
            .into_iter()
            .find(|p| p.as_str() == s)
    }

    /// How many hosts an account may create in the account manager.
    pub fn max_hosts(self) -> u64 {
        match self {
            Plan::Free => 5,
            Plan::Premium => 100,
        }
    }
}

/// Whether an account may update (DESIGN.md §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    /// Its users and keys are refused (`badauth`, `IA_ACCT`).
    Suspended,
    /// Blocked by the operator for abuse: its updates answer `abuse`.
    Blocked,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Suspended => "suspended",
            AccountStatus::Blocked => "blocked",
        }
    }

    /// The audit log's name for a change to this status, made by staff or the CLI.
    pub fn audit_action(self) -> &'static str {
        match self {
            AccountStatus::Active => "account.reactivate",
            AccountStatus::Suspended => "account.suspend",
            AccountStatus::Blocked => "account.block",
        }
    }

    pub fn parse(s: &str) -> Option<AccountStatus> {
        [
            AccountStatus::Active,
            AccountStatus::Suspended,
            AccountStatus::Blocked,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }
}

/// The update protocol a request came through, recorded in history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    Dyndns2,
    /// miniDNS's `areg.php`.
    Minidns,
    /// miniDNS's TCP protocol.
    Miniupdate,
    /// Rexx's `dynamic.cgi`.
    Rexx,
    /// The account manager in the browser.
    Web,
    /// The REST API.
    Api,
    Cli,
    /// RFC 2136 dynamic updates signed with TSIG.
    Rfc2136,
}

impl Protocol {
    pub const ALL: [Protocol; 7] = [
        Protocol::Dyndns2,
        Protocol::Minidns,
        Protocol::Miniupdate,
        Protocol::Rexx,
        Protocol::Web,
        Protocol::Api,
        Protocol::Cli,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Dyndns2 => "dyndns2",
            Protocol::Minidns => "minidns",
            Protocol::Miniupdate => "miniupdate",
            Protocol::Rexx => "rexx",
            Protocol::Web => "web",
            Protocol::Api => "api",
            Protocol::Cli => "cli",
            Protocol::Rfc2136 => "rfc2136",
        }
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    #[test]
    fn hex_is_lowercase_two_digits_a_byte() {
        assert_eq!(super::hex(&[]), "");
        assert_eq!(super::hex(&[0x00, 0x0f, 0xf0, 0xff, 0x5a]), "000ff0ff5a");
        // FIPS 180-2's example: SHA-256 of "abc".
        assert_eq!(
            super::hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
