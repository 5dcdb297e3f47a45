//! Answering one request: authoritative answers straight from the [`Store`].
//!
//! Not hickory's `Catalog`: it needs `&mut` to add zones and is slower per query; zones
//! here come and go with the feed. [`Handler::reply`] decides the whole response; it is
//! then encoded either by hickory's TCP server (through [`RequestHandler`]) or by our UDP
//! loop (`crate::udp`), so both transports answer alike.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::ProtoError;
use hickory_server::proto::op::{
    Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode, emit_message_parts,
};
use hickory_server::proto::rr::{DNSClass, Record, RecordType};
use hickory_server::proto::serialize::binary::{
    BinDecodable, BinDecoder, BinEncodable, BinEncoder,
};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder, Queries};
use tracing::debug;

use crate::cookies::{CookieSecret, Malformed};
use crate::names::NameKey;
use crate::rrl::{Class, RateLimiter, Verdict};
use crate::stats::Stats;
use crate::store::{Answer, Plain, Store};
use crate::wire::{AnswerEdns, AnswerHeader, PlainQuery, write_answer};

/// The largest UDP answer we send and the size we advertise in our OPT record (the DNS
/// flag day 2020 value: avoids IP fragmentation).
pub const MAX_UDP_PAYLOAD: u16 = 1232;

/// A plain DNS answer is limited to 512 bytes; EDNS sizes below that mean 512 (RFC 6891).
const MIN_UDP_PAYLOAD: u16 = 512;

/// The header, for the cheap size bound.
const HEADER_LEN: usize = 12;
/// An OPT record without options (root name, type, class, TTL, length).
const OPT_LEN: usize = 11;

/// Cheap to clone: the TCP server and every UDP loop hold one.
#[derive(Clone)]
pub(crate) struct Handler {
    store: Arc<Store>,
    stats: Arc<Stats>,
    cookies: CookieSecret,
}

/// A decided response: everything but the question, which stays in the request.
pub(crate) struct Reply {
    metadata: Metadata,
    edns: Option<Edns>,
    /// `None` for an error response (no records).
    answer: Option<Answer>,
    /// The most bytes the message may take (UDP), for the encoder.
    pub(crate) max_size: u16,
    /// The query proved its source address with a server cookie of ours: never limited.
    valid_cookie: bool,
}

impl Reply {
    /// The response as hickory's encoder takes it; the records are borrowed from `self`.
    pub(crate) fn response<'q>(
        &'q self,
        queries: &'q Queries,
    ) -> MessageResponse<
        'q,
        'q,
        impl Iterator<Item = &'q Record> + Send + 'q,
        impl Iterator<Item = &'q Record> + Send + 'q,
        impl Iterator<Item = &'q Record> + Send + 'q,
        impl Iterator<Item = &'q Record> + Send + 'q,
    > {
        let (answers, authority, additional) = self.sections();
        MessageResponseBuilder::new(queries, self.edns.as_ref()).build(
            self.metadata,
            answers.iter(),
            std::iter::empty(),
            authority,
            additional.iter(),
        )
    }

    /// Encodes the response to `request` (UDP). Unlike [`Reply::response`], the question is
    /// emitted as a name rather than copied as raw bytes, so that the encoder can point the
    /// answer's owner name at it: hickory's copy registers question name, type and class as
    /// one compression candidate, which no name ever matches (the owner name then goes out
    /// whole: 15 more bytes for `www.dyn.example`). TCP answers still go through hickory.
    pub(crate) fn emit(
        &self,
        request: &Request,
        encoder: &mut BinEncoder<'_>,
    ) -> Result<Header, ProtoError> {
        let (answers, authority, additional) = self.sections();
        emit_message_parts(
            &self.metadata,
            &mut request.queries.queries().iter().map(|q| q.original()),
            &mut answers.iter(),
            &mut authority.into_iter(),
            &mut additional.iter(),
            self.edns.as_ref(),
            None,
            encoder,
        )
    }

    /// Answer, authority and additional sections; all empty when truncated.
    fn sections(&self) -> (&[Record], Option<&Record>, &[Record]) {
        match &self.answer {
            Some(answer) if !self.metadata.truncation => {
                (answer.answers(), answer.authority(), answer.additional())
            }
            _ => (&[], None, &[]),
        }
    }
}

impl Handler {
    pub(crate) fn new(store: Arc<Store>, stats: Arc<Stats>, cookies: CookieSecret) -> Self {
        Self {
            store,
            stats,
            cookies,
        }
    }

    /// Decides the response to `request`.
    pub(crate) fn reply(&self, request: &Request) -> Reply {
        let tcp = request.protocol() != Protocol::Udp;
        let request_edns = request.edns.as_ref();
        let max_size = if tcp {
            u16::MAX
        } else {
            request_edns.map_or(MIN_UDP_PAYLOAD, |e| {
                e.max_payload().clamp(MIN_UDP_PAYLOAD, MAX_UDP_PAYLOAD)
            })
        };
        // As the client's own stack would name it (not ::ffff:a.b.c.d on a dual-stack
        // socket), so that every node computes the same cookie.
        let client_ip = request.src().ip().to_canonical();
        let cookie = request_edns
            .map(|e| self.cookies.check(e.options().as_ref(), client_ip))
            .transpose()
            .map(Option::flatten);
        // Our OPT advertises what we accept; for UDP, capped by what the client accepts,
        // since hickory's TCP-side encoder sizes UDP messages by it (kept alike here).
        let edns = request_edns.map(|request_edns| {
            let mut edns = Edns::new();
            edns.set_max_payload(if tcp { MAX_UDP_PAYLOAD } else { max_size });
            edns.set_version(0);
            // RFC 3225 §3: the DO bit is copied into the response.
            edns.set_dnssec_ok(request_edns.flags().dnssec_ok);
            // Every answer to a client cookie carries a fresh server cookie (RFC 7873 §5.2).
            if let Ok(Some(cookie)) = &cookie {
                edns.options_mut()
                    .insert(self.cookies.answer(cookie, client_ip));
            }
            edns
        });
        let mut metadata = Metadata::response_from_request(&request.metadata);
        if request.metadata.op_code != OpCode::Query {
            // RD and CD mean something only for queries; NSD and Knot clear them on NOTIMP.
            metadata.recursion_desired = false;
            metadata.checking_disabled = false;
        }
        if let Ok(Some(cookie)) = &cookie {
            self.stats.record_cookie(cookie.valid);
        }
        let valid_cookie = matches!(cookie, Ok(Some(c)) if c.valid);
        let decided = match cookie {
            // RFC 7873 §5.2.2: a COOKIE option of an impossible length.
            Err(Malformed) => Err(ResponseCode::FormErr),
            Ok(_) => self.decide(request, tcp),
        };
        let mut reply = match decided {
            Err(rcode) => {
                metadata.response_code = rcode;
                Reply {
                    metadata,
                    edns,
                    answer: None,
                    max_size,
                    valid_cookie,
                }
            }
            Ok(answer) => {
                // A QCLASS ANY answer may miss data of other classes: not authoritative
                // (NSD does the same).
                metadata.authoritative = !request
                    .queries
                    .queries()
                    .iter()
                    .any(|q| q.query_class() == DNSClass::ANY);
                metadata.response_code = answer.rcode();
                Reply {
                    metadata,
                    edns,
                    answer: Some(answer),
                    max_size,
                    valid_cookie,
                }
            }
        };
        if !tcp && !fits(&reply, request) {
            // The additional section is optional: leave it out before truncating.
            if let Some(answer) = reply.answer.as_mut().filter(|a| !a.additional().is_empty()) {
                answer.drop_additional();
            }
            if !fits(&reply, request) {
                // Truncate whole: a client retries over TCP and ignores partial sets.
                reply.metadata.truncation = true;
            }
        }
        reply
    }

    /// Counts a response about to be sent.
    fn count(&self, reply: &Reply, tcp: bool) {
        if reply.metadata.truncation {
            self.stats.record_truncated();
        }
        let empty = reply.metadata.truncation
            || reply.answer.as_ref().is_none_or(|a| a.answers().is_empty());
        self.stats.record(reply.metadata.response_code, empty, tcp);
    }

    /// Answers one UDP datagram into `out`; `false` when nothing is to be sent (not even a
    /// header, a response sent to us: never reflect, or an answer the rate limiter drops).
    pub(crate) fn answer_udp(
        &self,
        packet: &[u8],
        src: SocketAddr,
        out: &mut Vec<u8>,
        mut limiter: Option<&mut RateLimiter>,
    ) -> bool {
        if let Some(sent) = self.answer_plain(packet, src, out, limiter.as_deref_mut()) {
            return sent;
        }
        self.answer_general(packet, src, out, limiter)
    }

    /// [`Handler::answer_udp`] through hickory's message types, for any query.
    pub(crate) fn answer_general(
        &self,
        packet: &[u8],
        src: SocketAddr,
        out: &mut Vec<u8>,
        mut limiter: Option<&mut RateLimiter>,
    ) -> bool {
        out.clear();
        let request = match Request::from_bytes(packet.to_vec(), src, Protocol::Udp) {
            Ok(request) => request,
            Err(error) => {
                // As hickory does for TCP: FORMERR when at least the header is readable.
                let Ok(header) = Header::read(&mut BinDecoder::new(packet)) else {
                    return false;
                };
                if header.message_type == MessageType::Response {
                    return false;
                }
                debug!(%error, %src, "undecodable query");
                // Only the header goes back: a slipped answer would be the same.
                if let Some(limiter) = limiter.as_deref_mut()
                    && limiter.check(src.ip(), Class::Error, &[]) == Verdict::Drop
                {
                    return false;
                }
                self.stats.record(ResponseCode::FormErr, true, false);
                return emit_header(&header.metadata, ResponseCode::FormErr, out);
            }
        };
        if request.metadata.message_type == MessageType::Response {
            return false;
        }
        let mut reply = self.reply(&request);
        if let Some(limiter) = limiter
            && !reply.valid_cookie
        {
            match rate_limit(limiter, &reply, &request) {
                Verdict::Send => {}
                // Empty sections follow from TC (`Reply::sections`); the OPT and its
                // cookie stay, so the client can come back with a valid cookie.
                Verdict::Slip => reply.metadata.truncation = true,
                Verdict::Drop => return false,
            }
        }
        self.count(&reply, false);
        let mut encoder = BinEncoder::new(out);
        encoder.set_max_size(reply.max_size);
        match reply.emit(&request, &mut encoder) {
            Ok(_) => true,
            Err(error) => {
                debug!(%error, "cannot encode an answer");
                emit_header(&request.metadata, ResponseCode::ServFail, out)
            }
        }
    }

    /// [`Handler::answer_udp`] for the commonest queries, on their wire bytes
    /// (`crate::wire`): the same answer, counted and rate limited alike, without decoding
    /// the query into a message or building records. `None` when the query or its answer
    /// is not one of those: then nothing has been counted, charged or sent.
    pub(crate) fn answer_plain(
        &self,
        packet: &[u8],
        src: SocketAddr,
        out: &mut Vec<u8>,
        limiter: Option<&mut RateLimiter>,
    ) -> Option<bool> {
        let query = PlainQuery::parse(packet)?;
        let client_ip = src.ip().to_canonical();
        let cookie = match query.edns.and_then(|edns| edns.cookie) {
            // A malformed option (FORMERR) is the general path's business.
            Some(data) => Some(self.cookies.check_data(data, client_ip).ok()?),
            None => None,
        };
        let max_size = query.edns.map_or(MIN_UDP_PAYLOAD, |edns| {
            edns.max_payload.clamp(MIN_UDP_PAYLOAD, MAX_UDP_PAYLOAD)
        });
        let edns = query.edns.map(|edns| AnswerEdns {
            max_payload: max_size,
            dnssec_ok: edns.dnssec_ok,
            cookie: cookie.map(|cookie| self.cookies.answer_data(&cookie, client_ip)),
        });
        let (rcode, class, zone_key) = self.store.plain(&query.key, query.qtype, |plain| {
            let (rcode, class, zone_key) = match &plain {
                Plain::A(..) | Plain::Aaaa(..) => (ResponseCode::NoError, Class::Positive, 0),
                Plain::Negative {
                    rcode, zone_labels, ..
                } => (
                    *rcode,
                    Class::Negative,
                    query.key.labels().saturating_sub(*zone_labels),
                ),
            };
            let header = AnswerHeader {
                rcode,
                truncated: false,
            };
            write_answer(&query, Some(&plain), header, edns.as_ref(), out);
            (rcode, class, zone_key)
        })?;
        if out.len() > usize::from(max_size) {
            // Too long for the client: the general path leaves parts out or truncates.
            return None;
        }
        if let Some(cookie) = &cookie {
            self.stats.record_cookie(cookie.valid);
        }
        let mut truncated = false;
        if let Some(limiter) = limiter
            && !cookie.is_some_and(|cookie| cookie.valid)
            && !limiter.exempts(src.ip())
        {
            // As `rate_limit`: positive answers by the query name, negative ones by the zone
            // (the query name's key without the labels below the zone).
            let name = match class {
                Class::Positive => query.key.full(),
                _ => query.key.suffix(zone_key),
            };
            match limiter.check(src.ip(), class, name) {
                Verdict::Send => {}
                Verdict::Slip => {
                    truncated = true;
                    let header = AnswerHeader {
                        rcode,
                        truncated: true,
                    };
                    write_answer(&query, None, header, edns.as_ref(), out);
                }
                Verdict::Drop => return Some(false),
            }
        }
        if truncated {
            self.stats.record_truncated();
        }
        self.stats
            .record(rcode, truncated || class == Class::Negative, false);
        Some(true)
    }

    /// What to answer: an error code, or a lookup result.
    fn decide(&self, request: &Request, tcp: bool) -> Result<Answer, ResponseCode> {
        if request.metadata.op_code != OpCode::Query {
            return Err(ResponseCode::NotImp);
        }
        if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            return Err(ResponseCode::BADVERS);
        }
        let [query] = request.queries.queries() else {
            return Err(ResponseCode::FormErr);
        };
        if !matches!(query.query_class(), DNSClass::IN | DNSClass::ANY) {
            return Err(ResponseCode::Refused);
        }
        let qtype = query.query_type();
        match qtype {
            // No zone transfers: nodes are fed by the feed, not by AXFR.
            RecordType::AXFR | RecordType::IXFR => return Err(ResponseCode::Refused),
            RecordType::OPT => return Err(ResponseCode::FormErr),
            _ => {}
        }
        // ANY over UDP gets one RRset (RFC 8482: no amplification); over TCP, all of them.
        self.store
            .lookup(query.original().name(), qtype, tcp)
            .ok_or(ResponseCode::Refused)
    }

    async fn handle<R: ResponseHandler>(&self, request: &Request, mut handle: R) -> ResponseInfo {
        let reply = self.reply(request);
        self.count(&reply, request.protocol() != Protocol::Udp);
        match handle.send_response(reply.response(&request.queries)).await {
            Ok(info) => info,
            Err(error) => {
                debug!(%error, "failed to send a response");
                servfail_info(&request.metadata)
            }
        }
    }
}

/// The rate limiter's verdict on `reply`: positive answers are charged to the query name,
/// negative ones to the zone, errors to the source alone (see `crate::rrl`).
fn rate_limit(limiter: &mut RateLimiter, reply: &Reply, request: &Request) -> Verdict {
    // An exempt source (a load generator, monitoring) costs no name key.
    if limiter.exempts(request.src().ip()) {
        return Verdict::Send;
    }
    let (class, name) = match &reply.answer {
        Some(answer) if !answer.answers().is_empty() => (
            Class::Positive,
            request
                .queries
                .queries()
                .first()
                .map(|q| q.original().name()),
        ),
        Some(answer) => (Class::Negative, answer.authority().map(|soa| &soa.name)),
        None => (Class::Error, None),
    };
    let key = name.and_then(NameKey::new);
    limiter.check(
        request.src().ip(),
        class,
        key.as_ref().map_or(&[][..], NameKey::full),
    )
}

/// Whether the whole answer fits `reply.max_size`. A cheap upper bound settles almost every
/// query; only large answers are encoded once more to know exactly.
fn fits(reply: &Reply, request: &Request) -> bool {
    let Some(answer) = &reply.answer else {
        return true;
    };
    // Our OPT carries a cookie at most: a code and length each, then the option's bytes.
    let opt = reply.edns.as_ref().map_or(0, |edns| {
        let options = edns.options().as_ref().iter();
        OPT_LEN
            + options
                .map(|(_, o)| 4 + usize::from(o.len()))
                .sum::<usize>()
    });
    let bound = HEADER_LEN + request.queries.as_bytes().len() + answer.wire_len_bound() + opt;
    if bound <= usize::from(reply.max_size) {
        return true;
    }
    let mut buf = Vec::with_capacity(usize::from(reply.max_size));
    let mut encoder = BinEncoder::new(&mut buf);
    encoder.set_max_size(reply.max_size);
    match reply.emit(request, &mut encoder) {
        Ok(header) => !header.metadata.truncation,
        Err(_) => false,
    }
}

/// A bare response header with `rcode` (no sections).
fn emit_header(request: &Metadata, rcode: ResponseCode, out: &mut Vec<u8>) -> bool {
    out.clear();
    let mut metadata = Metadata::response_from_request(request);
    metadata.response_code = rcode;
    let header = Header {
        metadata,
        counts: HeaderCounts::default(),
    };
    header.emit(&mut BinEncoder::new(out)).is_ok()
}

/// The header of a SERVFAIL answer to `request`.
pub(crate) fn servfail_info(request: &Metadata) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(request);
    metadata.response_code = ResponseCode::ServFail;
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

// hickory declares this trait with `#[async_trait]`; this is the same signature written out,
// which spares the crate a dependency on the macro.
impl RequestHandler for Handler {
    fn handle_request<'life0, 'life1, 'async_trait, R, T>(
        &'life0 self,
        request: &'life1 Request,
        response_handle: R,
    ) -> Pin<Box<dyn Future<Output = ResponseInfo> + Send + 'async_trait>>
    where
        R: ResponseHandler + 'async_trait,
        T: Time + 'async_trait,
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.handle(request, response_handle))
    }
}
