//! miniDNS's `miniupdate` TCP protocol (`DYN53_MINIUPDATE_ADDR`, port 9120 by default): one
//! command per line, one `OK …` or `ERR …` line per command.
//!
//! ```text
//! <== dyn53 Update Server 0.1.0
//! ==> AGENT miniupdate-Win32/1.2
//! <== OK Agent accepted
//! ==> LOGIN me@example.com digest-md5-text
//! <== CHALLENGE 0e2950658c15c2c5e25aafe5c90c5d1a
//! ==> RESPONSE 9f99f101d7761be8277967c14327e0b2
//! <== OK Authenticated
//! ==> A_UPDATE online home.dyn.localhost 192.0.2.1
//! <== OK HOME.DYN.LOCALHOST mapped to 192.0.2.1
//! ==> EXIT
//! <== OK Bye!
//! ```
//!
//! The response is the MD5 hex of (the MD5 hex of the secret, then the challenge). The
//! server must therefore keep an MD5 of the secret, which is as good as the secret for this
//! protocol: whoever reads it from the database can log in here. So the secret is never the
//! account password, only an update key created for this protocol (`dyn53 key create
//! --miniupdate`), which can be limited to some hosts and revoked; that key's MD5 reveals
//! nothing usable elsewhere, as its 190 random bits cannot be recovered from it.
//!
//! Every update goes through [`Updater::update`] again with the session's challenge and
//! response, so a key revoked or an account suspended mid-session takes effect at once.
//! A session is bounded: [`MAX_COMMANDS`], [`IDLE`], [`MAX_LINE`], and at most
//! [`PER_SOURCE`] sessions at a time from one address.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::Rng;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::domain::{Fqdn, NameError, Protocol, parse_ip};
use crate::update::{
    AuthFailure, Client, Credentials, HostEntry, HostResult, Secret, UpdateError, UpdateRequest,
    Updater,
};

/// Commands a session may send; the next one is refused and the connection closed.
pub const MAX_COMMANDS: usize = 10;
/// A session silent this long is closed.
pub const IDLE: Duration = Duration::from_secs(30);
/// Longest line accepted, terminator included.
pub const MAX_LINE: usize = 512;
/// Sessions open at once from one source address.
pub const PER_SOURCE: usize = 4;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Accepts sessions until the task is dropped.
pub async fn serve(listener: TcpListener, updater: Updater) {
    let open = Arc::new(OpenSessions::default());
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!("miniupdate accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let updater = updater.clone();
        let open = open.clone();
        tokio::spawn(async move {
            let Some(_slot) = open.take(peer.ip()) else {
                let mut stream = stream;
                let _ = reply(&mut stream, "ERR too many connections from your address").await;
                return;
            };
            if let Err(e) = Session::new(updater, peer).run(stream).await {
                tracing::debug!(%peer, "miniupdate session: {e}");
            }
        });
    }
}

/// How many sessions each source address has open.
#[derive(Default)]
struct OpenSessions(Mutex<HashMap<IpAddr, usize>>);

/// One session's place; given back when dropped.
struct Slot {
    open: Arc<OpenSessions>,
    source: IpAddr,
}

impl OpenSessions {
    fn take(self: &Arc<Self>, source: IpAddr) -> Option<Slot> {
        let mut open = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(source).or_default();
        if *count >= PER_SOURCE {
            return None;
        }
        *count += 1;
        Some(Slot {
            open: self.clone(),
            source,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.source) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.source);
            }
        }
    }
}

async fn reply(stream: &mut TcpStream, line: &str) -> std::io::Result<()> {
    stream.write_all(format!("{line}\r\n").as_bytes()).await
}

struct Session {
    updater: Updater,
    peer: SocketAddr,
    agent: Option<String>,
    /// After `LOGIN`: the login and the challenge sent.
    challenge: Option<(String, String)>,
    /// After a right `RESPONSE`: what each update presents again.
    credentials: Option<Credentials>,
}

/// What to do after answering a command.
enum Next {
    Continue,
    Close,
}

impl Session {
    fn new(updater: Updater, peer: SocketAddr) -> Session {
        Session {
            updater,
            peer,
            agent: None,
            challenge: None,
            credentials: None,
        }
    }

    async fn run(mut self, stream: TcpStream) -> std::io::Result<()> {
        let mut stream = BufReader::new(stream);
        reply(stream.get_mut(), &format!("dyn53 Update Server {VERSION}")).await?;
        let mut line = Vec::with_capacity(MAX_LINE);
        let mut count = 0;
        loop {
            count += 1;
            line.clear();
            let mut limited = (&mut stream).take(MAX_LINE as u64);
            let read = limited.read_until(b'\n', &mut line);
            let Ok(read) = tokio::time::timeout(IDLE, read).await else {
                return reply(stream.get_mut(), "ERR idle for too long").await;
            };
            if read? == 0 {
                return Ok(());
            }
            if line.last() != Some(&b'\n') {
                return reply(stream.get_mut(), "ERR line too long").await;
            }
            if count > MAX_COMMANDS {
                return reply(stream.get_mut(), "ERR too many commands").await;
            }
            let text = String::from_utf8_lossy(&line);
            let (answer, next) = self.answer(text.trim()).await;
            reply(stream.get_mut(), &answer).await?;
            if let Next::Close = next {
                return Ok(());
            }
        }
    }

    async fn answer(&mut self, line: &str) -> (String, Next) {
        let answer = match Command::parse(line) {
            Command::Exit => return ("OK Bye!".into(), Next::Close),
            Command::Agent(agent) => {
                self.agent = Some(agent);
                "OK Agent accepted".into()
            }
            Command::Usage(usage @ AGENT_USAGE) => usage.into(),
            _ if self.agent.is_none() => "ERR send AGENT first".into(),
            Command::Version => format!("OK {VERSION}"),
            Command::Login(login) => {
                let challenge = format!("{:032x}", rand::rng().random::<u128>());
                let answer = format!("CHALLENGE {challenge}");
                self.challenge = Some((login.to_owned(), challenge));
                self.credentials = None;
                answer
            }
            Command::Response(response) => self.login(response).await,
            Command::AUpdate { mode, host, ip } => self.a_update(mode, host, ip).await,
            Command::Usage(usage) => usage.into(),
        };
        (answer, Next::Continue)
    }

    /// Checks `response` against the challenge; a challenge is good for one try.
    async fn login(&mut self, response: &str) -> String {
        let Some((login, challenge)) = self.challenge.take() else {
            return "ERR send LOGIN first".into();
        };
        let credentials = Credentials {
            login,
            secret: Secret::Md5Response {
                challenge,
                response: response.to_owned(),
            },
        };
        match self.updater.check(&credentials, self.peer.ip()).await {
            Ok(()) => {
                self.credentials = Some(credentials);
                "OK Authenticated".into()
            }
            Err(e) => error(&e),
        }
    }

    async fn a_update(&mut self, mode: &str, host: &str, ip: Option<&str>) -> String {
        let Some(credentials) = self.credentials.clone() else {
            return "ERR not authenticated".into();
        };
        let UpdateTarget {
            offline,
            name,
            addresses,
        } = match update_target(mode, host, ip) {
            Ok(target) => target,
            Err(refusal) => return refusal.into(),
        };
        let client = Client {
            protocol: Protocol::Miniupdate,
            source: self.peer.ip(),
            agent: self.agent.clone(),
        };
        let shown = name
            .as_ref()
            .map(|n| n.as_str().to_ascii_uppercase())
            .unwrap_or_default();
        let mut request =
            UpdateRequest::new(credentials, vec![HostEntry::host(name)], addresses, client);
        request.offline = Some(offline);
        match self.updater.update(request).await {
            Ok(results) => match results.first() {
                Some(HostResult::Changed(_) | HostResult::Unchanged(_)) if offline => {
                    format!("OK {shown} offline")
                }
                Some(HostResult::Changed(a) | HostResult::Unchanged(a)) => {
                    let ip = a.ipv4.map(IpAddr::V4).or(a.ipv6.map(IpAddr::V6));
                    let ip = ip.map(|ip| ip.to_string()).unwrap_or_default();
                    format!("OK {shown} mapped to {ip}")
                }
                Some(HostResult::NotFqdn) => "ERR not a host name".into(),
                Some(HostResult::Abuse) => {
                    "ERR updates of this host are refused for now (abuse)".into()
                }
                Some(HostResult::NoHost | HostResult::ForeignZone) | None => {
                    "ERR no such host of yours".into()
                }
            },
            Err(e) => error(&e),
        }
    }
}

/// The answer to `AGENT` without a name, given before any other command too.
const AGENT_USAGE: &str = "ERR AGENT needs the client's name";

/// One command line (trimmed), parsed; what it does depends on the session
/// (`Session::answer`).
#[derive(Debug, PartialEq, Eq)]
pub enum Command<'a> {
    Exit,
    /// The client's name, at most 255 characters.
    Agent(String),
    Version,
    /// `LOGIN <login> digest-md5-text`.
    Login(&'a str),
    Response(&'a str),
    /// Checked by [`update_target`] once the session is authenticated.
    AUpdate {
        mode: &'a str,
        host: &'a str,
        ip: Option<&'a str>,
    },
    /// Malformed or unknown: the `ERR` line to answer.
    Usage(&'static str),
}

impl<'a> Command<'a> {
    pub fn parse(line: &'a str) -> Command<'a> {
        let line = line.trim();
        let mut words = line.split_whitespace();
        let command = words.next().unwrap_or("").to_ascii_uppercase();
        let args: Vec<&str> = words.collect();
        match (command.as_str(), args.as_slice()) {
            ("EXIT", _) => Command::Exit,
            ("AGENT", [_, ..]) => {
                let agent = line.split_once(char::is_whitespace).map_or("", |(_, a)| a);
                Command::Agent(agent.trim().chars().take(255).collect())
            }
            ("AGENT", []) => Command::Usage(AGENT_USAGE),
            ("VERSION", []) => Command::Version,
            ("LOGIN", [login, method]) if method.eq_ignore_ascii_case("digest-md5-text") => {
                Command::Login(login)
            }
            ("LOGIN", [_, _]) => Command::Usage("ERR the only method is digest-md5-text"),
            ("LOGIN", _) => Command::Usage("ERR usage: LOGIN <login> digest-md5-text"),
            ("RESPONSE", [response]) => Command::Response(response),
            ("RESPONSE", _) => Command::Usage("ERR usage: RESPONSE <32 hex digits>"),
            ("A_UPDATE", [mode, host, rest @ ..]) if rest.len() <= 1 => Command::AUpdate {
                mode,
                host,
                ip: rest.first().copied(),
            },
            ("A_UPDATE", _) => Command::Usage("ERR usage: A_UPDATE online|offline <host> [ip]"),
            _ => Command::Usage("ERR unknown command"),
        }
    }
}

/// What an `A_UPDATE` asks, its arguments checked.
pub struct UpdateTarget {
    pub offline: bool,
    /// A malformed name is answered by the update service (`NotFqdn`).
    pub name: Result<Fqdn, NameError>,
    pub addresses: (Option<Ipv4Addr>, Option<Ipv6Addr>),
}

/// `A_UPDATE`'s arguments checked, or the `ERR` line. The address is ignored when going
/// offline, as miniDNS documents.
pub fn update_target(
    mode: &str,
    host: &str,
    ip: Option<&str>,
) -> Result<UpdateTarget, &'static str> {
    let offline = match mode.to_ascii_lowercase().as_str() {
        "online" => false,
        "offline" => true,
        _ => return Err("ERR the mode is online or offline"),
    };
    let addresses = match ip.filter(|_| !offline).map(parse_ip) {
        None => (None, None),
        Some(Ok(IpAddr::V4(v4))) => (Some(v4), None),
        Some(Ok(IpAddr::V6(v6))) => (None, Some(v6)),
        Some(Err(_)) => return Err("ERR not an IP address"),
    };
    Ok(UpdateTarget {
        offline,
        name: Fqdn::parse(host),
        addresses,
    })
}

/// The `ERR` line for a request that failed as a whole.
fn error(e: &UpdateError) -> String {
    match e {
        UpdateError::BadAuth(AuthFailure::NoKey) => "ERR authentication failed: this login has \
            no key made for miniupdate (dyn53 key create --miniupdate, or \"miniupdate\" on the \
            keys page)"
            .into(),
        UpdateError::BadAuth(_) => "ERR authentication failed".into(),
        UpdateError::AccountInactive => "ERR the account is not active".into(),
        UpdateError::ReadOnly => "ERR this user may not change DNS".into(),
        UpdateError::NotOnPlan => "ERR offline is not on your plan".into(),
        UpdateError::AddressBlocked(address) => format!("ERR updates to {address} are blocked"),
        UpdateError::Unavailable(_) | UpdateError::Interrupted | UpdateError::Busy(_) => {
            tracing::error!("miniupdate: {e}");
            "ERR server busy; try later".into()
        }
    }
}
