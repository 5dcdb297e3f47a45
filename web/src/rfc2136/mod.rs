//! RFC 2136 dynamic updates signed with TSIG (RFC 8945, HMAC-SHA256), over UDP and TCP on
//! `DYN53_DNS_UPDATE_ADDR`: what `nsupdate` and ACME clients' RFC 2136 plugins send to add
//! and remove `_acme-challenge` TXT values, or to change a host's addresses.
//!
//! A TSIG key is made from an update key (`dyn53 key create --tsig`), is named
//! `dyn53-key-<id>`, and acts as that key: with its owner's role, within its host limit,
//! through [`Access`] and the one update service (protocol `rfc2136` in the history, its
//! changes audited under `key:<prefix>` as the API's are). HMAC needs the secret itself on
//! the server, so it is stored as it is (`update_keys.tsig_secret`): whoever reads the
//! database can sign updates with it until the key is revoked, as with miniupdate's MD5.
//! The secret is a one-way function of the update key, so it gives away nothing else.
//!
//! Answers: an unsigned request is `REFUSED`; an unknown key or another algorithm
//! `NOTAUTH`/`BADKEY`, a wrong MAC `NOTAUTH`/`BADSIG` (both unsigned, and counted as wrong
//! credentials from the source: past `DYN53_AUTH_FAILURE_LIMIT` it is `REFUSED` unheard);
//! a time beyond the request's fudge `NOTAUTH`/`BADTIME` (signed). Then `update.rs`
//! decides, and the answer is signed. A signed SOA query is answered too (`soa.rs`: how
//! clients find the zone of a name); anything else is `NOTIMP`.

mod soa;
pub mod tsig;
mod update;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_server::proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_server::proto::rr::rdata::tsig::TsigError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;

use crate::access::Access;
use crate::db::{Db, WebUser};
use crate::update::{Credentials, TsigCheck, TsigKey, UpdateError, Updater};
use tsig::{Request, Signature};

/// Messages handled at once; more wait (UDP) or are not read yet (TCP).
const IN_FLIGHT: usize = 64;
/// A TCP connection silent this long is closed.
const IDLE: Duration = Duration::from_secs(30);

/// What answers updates: the update service and the database `Access` reads through.
#[derive(Clone)]
pub struct Rfc2136 {
    db: Db,
    updater: Updater,
}

/// A UDP socket and a TCP listener on the same address (port 0: a free port both have).
pub async fn bind(addr: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    let mut tries = 0;
    loop {
        let udp = UdpSocket::bind(addr).await?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            // The port UDP got may be taken for TCP: draw another.
            Err(_) if addr.port() == 0 && tries < 10 => tries += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Serves `udp` and `tcp` until the task is dropped.
pub async fn serve(udp: UdpSocket, tcp: TcpListener, db: Db, updater: Updater) {
    let server = Rfc2136 { db, updater };
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    tokio::join!(
        server.clone().serve_udp(Arc::new(udp), slots.clone()),
        server.serve_tcp(tcp, slots)
    );
}

/// `FORMERR` for a message that does not decode, if it has a request's header.
fn malformed(bytes: &[u8]) -> Option<Vec<u8>> {
    let header = bytes.get(..12)?;
    let is_response = header[2] & 0x80 != 0;
    if is_response {
        return None;
    }
    let id = u16::from_be_bytes([header[0], header[1]]);
    let answer = Message::error_msg(id, OpCode::Update, ResponseCode::FormErr);
    answer.to_vec().ok()
}

impl Rfc2136 {
    async fn serve_udp(self, socket: Arc<UdpSocket>, slots: Arc<Semaphore>) {
        let mut buf = vec![0u8; 65_535];
        loop {
            let (len, peer) = match socket.recv_from(&mut buf).await {
                Ok(received) => received,
                Err(e) => {
                    tracing::debug!("DNS update over UDP: {e}");
                    continue;
                }
            };
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let (server, socket, bytes) = (self.clone(), socket.clone(), buf[..len].to_vec());
            tokio::spawn(async move {
                if let Some(answer) = server.answer(&bytes, peer.ip()).await {
                    let _ = socket.send_to(&answer, peer).await;
                }
                drop(slot);
            });
        }
    }

    async fn serve_tcp(self, listener: TcpListener, slots: Arc<Semaphore>) {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!("DNS update accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let (server, slots) = (self.clone(), slots.clone());
            tokio::spawn(async move {
                if let Err(e) = server.connection(stream, peer, slots).await {
                    tracing::debug!(%peer, "DNS update over TCP: {e}");
                }
            });
        }
    }

    /// Length-prefixed messages, each answered in turn, until the client closes or idles.
    async fn connection(
        &self,
        mut stream: TcpStream,
        peer: SocketAddr,
        slots: Arc<Semaphore>,
    ) -> std::io::Result<()> {
        loop {
            let mut len = [0u8; 2];
            match tokio::time::timeout(IDLE, stream.read_exact(&mut len)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(()),
            }
            let mut bytes = vec![0u8; usize::from(u16::from_be_bytes(len))];
            tokio::time::timeout(IDLE, stream.read_exact(&mut bytes))
                .await
                .map_err(|_| std::io::ErrorKind::TimedOut)??;
            let Ok(_slot) = slots.acquire().await else {
                return Ok(());
            };
            let Some(answer) = self.answer(&bytes, peer.ip()).await else {
                return Ok(());
            };
            let Ok(len) = u16::try_from(answer.len()) else {
                return Ok(());
            };
            stream.write_all(&len.to_be_bytes()).await?;
            stream.write_all(&answer).await?;
        }
    }

    /// The answer to one message; `None` for what deserves none (a response, garbage
    /// shorter than a header).
    async fn answer(&self, bytes: &[u8], source: IpAddr) -> Option<Vec<u8>> {
        let Ok(request) = Request::parse(bytes) else {
            return malformed(bytes);
        };
        let message = &request.message;
        if message.metadata.message_type != MessageType::Query {
            return None;
        }
        let mut response = Message::response(message.metadata.id, message.metadata.op_code);
        response.add_queries(message.queries.iter().cloned());
        let unsigned = |mut response: Message, code| {
            response.metadata.response_code = code;
            response.to_vec().ok()
        };
        let is_update = message.metadata.op_code == OpCode::Update;
        let is_soa_query = message.metadata.op_code == OpCode::Query && soa::is_soa_query(message);
        if !is_update && !is_soa_query {
            return unsigned(response, ResponseCode::NotImp);
        }
        let Some(signature) = &request.signature else {
            return unsigned(response, ResponseCode::Refused);
        };
        let (key, credentials) = match self.verify(signature, source).await {
            Ok(verified) => verified,
            Err(Unverified::Tsig(error)) => {
                response.metadata.response_code = ResponseCode::NotAuth;
                return signature.refuse(response, error).ok();
            }
            Err(Unverified::Refused(code)) => return unsigned(response, code),
        };
        if !signature.in_time(tsig::now()) {
            response.metadata.response_code = ResponseCode::NotAuth;
            return signature
                .sign(response, &key, Some(TsigError::BadTime))
                .ok();
        }
        let code = match self.access(credentials, &key, source).await {
            Ok(access) if is_update => update::apply(message, &access, &self.updater, source).await,
            Ok(access) => soa::answer(message, &access, &self.db, &mut response).await,
            Err(code) => code,
        };
        response.metadata.response_code = code;
        signature.sign(response, &key, None).ok()
    }

    /// The request's key and its credentials, once its MAC verified. Another algorithm is
    /// a key we do not have.
    async fn verify(
        &self,
        signature: &Signature,
        source: IpAddr,
    ) -> Result<(TsigKey, Credentials), Unverified> {
        if !signature.is_hmac_sha256() {
            return Err(Unverified::Tsig(TsigError::BadKey));
        }
        let name = signature.key_name.to_ascii();
        let (covered, mac) = (signature.covered(), &signature.tsig.mac);
        match self.updater.check_tsig(&name, covered, mac, source).await {
            Ok(TsigCheck::Verified(key, credentials)) => Ok((key, credentials)),
            Ok(TsigCheck::UnknownKey) => Err(Unverified::Tsig(TsigError::BadKey)),
            Ok(TsigCheck::WrongMac) => Err(Unverified::Tsig(TsigError::BadSig)),
            Err(UpdateError::BadAuth(_)) => Err(Unverified::Refused(ResponseCode::Refused)),
            Err(e) => {
                tracing::warn!("DNS update key lookup: {e}");
                Err(Unverified::Refused(ResponseCode::ServFail))
            }
        }
    }

    /// The caller's [`Access`], as the API makes it for a key: its owner, its host limit,
    /// audited under its prefix; else the code that refuses it.
    async fn access(
        &self,
        credentials: Credentials,
        key: &TsigKey,
        source: IpAddr,
    ) -> Result<Access, ResponseCode> {
        let (user, key_auth) = self
            .updater
            .holder(&credentials, source)
            .await
            .map_err(|e| {
                tracing::debug!(%source, "DNS update refused: {e}");
                match e {
                    UpdateError::BadAuth(_) => ResponseCode::NotAuth,
                    UpdateError::Unavailable(_) | UpdateError::Busy(_) => ResponseCode::ServFail,
                    _ => ResponseCode::Refused,
                }
            })?;
        let user = WebUser::checked(&user).ok_or(ResponseCode::Refused)?;
        let limit = key_auth.and_then(|k| k.hosts);
        Ok(Access::new(&self.db, user, limit, credentials).by_key(&key.prefix))
    }
}

/// Why a signed request goes no further than its signature.
enum Unverified {
    /// Answered `NOTAUTH` with this TSIG error, unsigned.
    Tsig(TsigError),
    /// Answered with this code, unsigned: refused unheard, or the database failed.
    Refused(ResponseCode),
}
