//! Who is updating: credentials in the forms the protocols carry them, checked against the
//! users and update keys; the same query reads the hosts the request names.

use std::collections::HashMap;
use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{Principal, UpdateError, Updater};
use crate::db::{HostState, UpdateContext, UserAuth, WebSession, WebUser};
use crate::domain::{
    AccountStatus, Action, Fqdn, KeyScope, UpdateKey, miniupdate_response, tsig_key_id,
};
use crate::notify;

/// A login (e-mail or login ID; a per-host key may log in as its host) and a secret.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub login: String,
    pub secret: Secret,
}

impl Credentials {
    /// A user the account manager signed in: only a live session makes these.
    pub fn signed_in(session: &WebSession) -> Credentials {
        Credentials {
            login: session.user.email.to_string(),
            secret: Secret::SignedIn(SessionProof(())),
        }
    }

    /// The user a verified API token names (`api::auth`).
    pub fn token_user(user: &WebUser) -> Credentials {
        Credentials {
            login: user.email.to_string(),
            secret: Secret::SignedIn(SessionProof(())),
        }
    }

    /// An update key presented alone as a bearer token: it must have the API scope.
    pub fn api_key(secret: &str) -> Credentials {
        Credentials {
            login: String::new(),
            secret: Secret::ApiKey(secret.to_owned()),
        }
    }

    /// Most protocols: the account password or an update key.
    pub fn password_or_key(login: &str, secret: &str) -> Credentials {
        Credentials {
            login: login.to_owned(),
            secret: Secret::PasswordOrKey(secret.to_owned()),
        }
    }
}

#[derive(Clone)]
pub enum Secret {
    PasswordOrKey(String),
    /// An update key, never the password (Rexx's pass key).
    Key(String),
    /// miniupdate's answer to a challenge, computed from a key flagged for it.
    Md5Response {
        challenge: String,
        response: String,
    },
    /// Checked already: the browser session of this user ([`Credentials::signed_in`]).
    SignedIn(SessionProof),
    /// An update key with the API scope, alone (`Authorization: Bearer`); the login is not
    /// used.
    ApiKey(String),
    /// The update key of a TSIG key whose MAC verified ([`TsigKey::verify`]).
    Tsig(TsigProof),
}

impl Secret {
    /// Whether checking it takes no password hash: a key (found by its digest), a miniupdate
    /// answer, a session or a TSIG MAC checked already.
    fn is_hashless(&self) -> bool {
        match self {
            Secret::PasswordOrKey(secret) => UpdateKey::parse(secret).is_some(),
            _ => true,
        }
    }
}

/// Made only by [`TsigKey::verify`]: the digest of the update key a TSIG key was made from,
/// once a message's MAC under that key verified.
#[derive(Clone)]
pub struct TsigProof(String);

/// A TSIG key (RFC 8945, HMAC-SHA256) made from an update key (`dyn53 key create --tsig`):
/// what an RFC 2136 message is verified and its answer signed with.
pub struct TsigKey {
    /// The update key's digest: the key the update service then checks.
    digest: String,
    /// The update key's visible prefix, naming it in the audit log.
    pub prefix: String,
    secret: Vec<u8>,
}

impl TsigKey {
    fn hmac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        Hmac::new_from_slice(&self.secret).unwrap_or_else(|_| unreachable!())
    }

    /// The HMAC-SHA256 of `data` under this key.
    pub fn mac(&self, data: &[u8]) -> Vec<u8> {
        let mut hmac = self.hmac();
        hmac.update(data);
        hmac.finalize().into_bytes().to_vec()
    }

    /// The credentials of the update key, if `mac` is the MAC of `data` (compared in
    /// constant time; a truncated MAC is refused).
    fn verify(&self, data: &[u8], mac: &[u8]) -> Option<Credentials> {
        let mut hmac = self.hmac();
        hmac.update(data);
        hmac.verify_slice(mac).ok()?;
        Some(Credentials {
            login: String::new(),
            secret: Secret::Tsig(TsigProof(self.digest.clone())),
        })
    }
}

/// What a message's TSIG came to.
pub enum TsigCheck {
    /// The MAC is the key's: the key, to sign the answer with, and its credentials.
    Verified(TsigKey, Credentials),
    /// No live TSIG key of that name (`BADKEY`).
    UnknownKey,
    /// The key's, but not its MAC (`BADSIG`).
    WrongMac,
}

/// Made only by [`Credentials::signed_in`] (a live session) and [`Credentials::token_user`]
/// (a verified API token): no adapter can claim a signed-in user from what a request says.
#[derive(Clone)]
pub struct SessionProof(());

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Secret::PasswordOrKey(_) => "PasswordOrKey(…)",
            Secret::Key(_) => "Key(…)",
            Secret::Md5Response { .. } => "Md5Response(…)",
            Secret::SignedIn(_) => "SignedIn",
            Secret::ApiKey(_) => "ApiKey(…)",
            Secret::Tsig(_) => "Tsig(…)",
        })
    }
}

/// Why credentials were refused. Most protocols say only `badauth`; Rexx tells these apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    NoSuchLogin,
    /// The user has no live update key the protocol can use (miniupdate: one made for it).
    NoKey,
    WrongSecret,
    /// The source address sent too many wrong credentials lately, or the login too many
    /// wrong passwords from anywhere: not checked at all.
    TooManyFailures,
}

impl Updater {
    /// Checks a message's TSIG: the key `name` (as `domain::tsig_key_name` makes them) and
    /// its `mac` over `covered`. An unknown key or a wrong MAC counts as wrong credentials
    /// from `source`, which is refused unheard once it had too many (`Err(BadAuth)`).
    pub async fn check_tsig(
        &self,
        name: &str,
        covered: &[u8],
        mac: &[u8],
        source: IpAddr,
    ) -> Result<TsigCheck, UpdateError> {
        if self.auth_failures.is_full(source).await {
            return Err(UpdateError::BadAuth(AuthFailure::TooManyFailures));
        }
        let key = match tsig_key_id(name) {
            Some(id) => self.db.tsig_key(id).await?,
            None => None,
        };
        let check = match key {
            None => TsigCheck::UnknownKey,
            Some((digest, prefix, secret)) => {
                let key = TsigKey {
                    digest,
                    prefix,
                    secret,
                };
                match key.verify(covered, mac) {
                    Some(credentials) => TsigCheck::Verified(key, credentials),
                    None => TsigCheck::WrongMac,
                }
            }
        };
        if !matches!(check, TsigCheck::Verified(..)) {
            self.auth_failures.record(source).await;
        }
        Ok(check)
    }

    /// Checks the credentials; the same query reads the hosts named in the account. A
    /// source that keeps guessing is refused unheard for a while: no argon2id, and no
    /// answer that a right guess would change. A key is looked up while the source's count
    /// is read, as the lookup costs no more than that read and most sources are not
    /// guessing; a password waits for the count.
    pub(super) async fn authenticate(
        &self,
        credentials: &Credentials,
        names: &[&Fqdn],
        source: IpAddr,
    ) -> Result<(Principal, HashMap<String, HostState>), UpdateError> {
        let refused = Err(UpdateError::BadAuth(AuthFailure::TooManyFailures));
        let context = if credentials.secret.is_hashless() {
            let (guessing, context) = tokio::join!(
                self.auth_failures.is_full(source),
                self.find_context(credentials, names)
            );
            if guessing {
                return refused;
            }
            context
        } else {
            if self.auth_failures.is_full(source).await {
                return refused;
            }
            self.find_context(credentials, names).await
        };
        let result = match context {
            Ok(context) => self.principal_of(credentials, context).await,
            Err(e) => Err(e),
        };
        if let Err(UpdateError::BadAuth(_)) = &result {
            self.auth_failures.record(source).await;
        }
        result
    }

    /// The context the credentials open, if they are right.
    async fn find_context(
        &self,
        credentials: &Credentials,
        names: &[&Fqdn],
    ) -> Result<Option<UpdateContext>, UpdateError> {
        let login = credentials.login.as_str();
        Ok(match &credentials.secret {
            Secret::PasswordOrKey(secret) => match UpdateKey::parse(secret) {
                Some(key) => self.key_context(login, &key, names).await?,
                // A secret that cannot be a key is a password.
                None => self.password_context(login, secret, names).await?,
            },
            Secret::Key(secret) => match UpdateKey::parse(secret) {
                Some(key) => self.key_context(login, &key, names).await?,
                None => None,
            },
            Secret::Md5Response {
                challenge,
                response,
            } => self.md5_context(login, challenge, response, names).await?,
            Secret::SignedIn(_) => self.db.update_context(login, None, names).await?,
            Secret::ApiKey(secret) => match UpdateKey::parse(secret) {
                Some(key) => self
                    .db
                    .update_context_by_key(&key.digest(), names)
                    .await?
                    .filter(|c| c.key.as_ref().is_some_and(|k| k.scope == KeyScope::Api)),
                None => None,
            },
            Secret::Tsig(TsigProof(digest)) => self.db.update_context_by_key(digest, names).await?,
        })
    }

    /// Who acts, with the hosts read: refused without a context (and why), or when the
    /// account may not update.
    async fn principal_of(
        &self,
        credentials: &Credentials,
        context: Option<UpdateContext>,
    ) -> Result<(Principal, HashMap<String, HostState>), UpdateError> {
        let Some(context) = context else {
            return Err(UpdateError::BadAuth(self.why_refused(credentials).await?));
        };
        // Only a confirmed address acts: whoever signed up with someone else's cannot.
        if !context.user.verified {
            return Err(UpdateError::AccountInactive);
        }
        let blocked = match context.user.account_status {
            AccountStatus::Active => false,
            AccountStatus::Blocked => true,
            AccountStatus::Suspended => return Err(UpdateError::AccountInactive),
        };
        let principal = Principal {
            blocked,
            account: context.user.account,
            plan: context.user.plan,
            may_change_dns: context.user.role.may(Action::ChangeHosts),
            key: context.key,
            user: context.user,
        };
        Ok((principal, context.hosts.into_iter().collect()))
    }

    async fn why_refused(&self, credentials: &Credentials) -> Result<AuthFailure, UpdateError> {
        let login = &credentials.login;
        Ok(
            match (self.db.live_keys(login).await?, &credentials.secret) {
                (None, _) => AuthFailure::NoSuchLogin,
                (Some(0), Secret::PasswordOrKey(_)) => AuthFailure::WrongSecret,
                (Some(0), _) => AuthFailure::NoKey,
                (Some(_), Secret::Md5Response { .. })
                    if self.db.miniupdate_keys(login).await?.is_empty() =>
                {
                    AuthFailure::NoKey
                }
                (Some(_), _) => AuthFailure::WrongSecret,
            },
        )
    }

    /// The login's key, or a per-host key logging in as its host.
    async fn key_context(
        &self,
        login: &str,
        key: &UpdateKey,
        names: &[&Fqdn],
    ) -> Result<Option<UpdateContext>, UpdateError> {
        let digest = key.digest();
        match self.db.update_context(login, Some(&digest), names).await? {
            Some(context) => Ok(Some(context)),
            None => self.host_key_context(login, &digest, names).await,
        }
    }

    /// A password, unless its login has had its cap of wrong ones from all sources lately:
    /// then it is refused unchecked (the login's keys still work).
    async fn password_context(
        &self,
        login: &str,
        password: &str,
        names: &[&Fqdn],
    ) -> Result<Option<UpdateContext>, UpdateError> {
        let login_key = login.to_lowercase();
        if self.password_guesses.is_full(login_key.clone()).await {
            return Err(UpdateError::BadAuth(AuthFailure::TooManyFailures));
        }
        let context = self.db.update_context(login, None, names).await?;
        let user = context.as_ref().map(|c| &c.user);
        let ok = self.verify_password(user, password).await?;
        if !ok {
            self.password_guesses.record(login_key.clone()).await;
            if let Some(user) = user
                && self.password_guesses.is_full(login_key).await
            {
                let limit = self.limits.password_guesses_per_login;
                notify::credentials_failing(&self.db, user.account, &user.email, limit);
            }
        }
        Ok(context.filter(|_| ok))
    }

    /// miniupdate: the live miniupdate key of `login` whose answer to `challenge` is
    /// `response`. Every key is compared, in constant time.
    async fn md5_context(
        &self,
        login: &str,
        challenge: &str,
        response: &str,
        names: &[&Fqdn],
    ) -> Result<Option<UpdateContext>, UpdateError> {
        let response = response.to_ascii_lowercase();
        let mut matched = None;
        for (digest, md5) in self.db.miniupdate_keys(login).await? {
            let expected = miniupdate_response(&md5, challenge);
            if bool::from(expected.as_bytes().ct_eq(response.as_bytes())) {
                matched = Some(digest);
            }
        }
        let Some(digest) = matched else {
            return Ok(None);
        };
        Ok(self.db.update_context(login, Some(&digest), names).await?)
    }

    /// A key limited to some hosts may log in as one of them (Fritz!Box and nsupdate.info
    /// style: the host's name as the user name). `None` unless `login` is such a host.
    async fn host_key_context(
        &self,
        login: &str,
        key_digest: &str,
        names: &[&Fqdn],
    ) -> Result<Option<UpdateContext>, UpdateError> {
        let Ok(host) = Fqdn::parse(login) else {
            return Ok(None);
        };
        let mut with_host = names.to_vec();
        with_host.push(&host);
        let Some(context) = self
            .db
            .update_context_by_key(key_digest, &with_host)
            .await?
        else {
            return Ok(None);
        };
        let host_id = context
            .hosts
            .iter()
            .find(|(name, _)| name == host.as_str())
            .map(|(_, state)| state.id);
        let allowed = context
            .key
            .as_ref()
            .and_then(|k| k.hosts.as_ref())
            .zip(host_id)
            .is_some_and(|(ids, id)| ids.contains(&id));
        Ok(allowed.then_some(context))
    }

    /// argon2id, unless this password was verified for this user lately (or is being
    /// verified right now: then its answer is awaited). Without a user, the same work
    /// against a fixed hash: timing does not tell which logins exist.
    async fn verify_password(
        &self,
        user: Option<&UserAuth>,
        password: &str,
    ) -> Result<bool, UpdateError> {
        let Some(user) = user else {
            return Ok(self.hashing.verify(password, None).await?);
        };
        let stored = user.password.clone();
        let run = || self.hashing.verify(password, Some(stored));
        Ok(self
            .passwords
            .verify(user.user_id, &user.password, password, run)
            .await?)
    }
}
