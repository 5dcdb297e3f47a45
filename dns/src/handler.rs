//! Our hickory `RequestHandler`: authoritative answers straight from the [`Store`].
//!
//! Not hickory's `Catalog`: it needs `&mut` to add zones and is slower per query; zones
//! here come and go with the feed. hickory's server has already dropped packets shorter
//! than a header, answered FORMERR to undecodable ones and dropped responses before we
//! are called.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{Edns, Header, HeaderCounts, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::{DNSClass, Record, RecordType};
use hickory_server::proto::serialize::binary::BinEncoder;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use tracing::debug;

use crate::stats::Stats;
use crate::store::{Answer, Store};

/// The largest UDP answer we send and the size we advertise in our OPT record (the DNS
/// flag day 2020 value: avoids IP fragmentation).
pub const MAX_UDP_PAYLOAD: u16 = 1232;

/// A plain DNS answer is limited to 512 bytes; EDNS sizes below that mean 512 (RFC 6891).
const MIN_UDP_PAYLOAD: u16 = 512;

/// Header (12 bytes) and our OPT record (11 bytes), for the cheap size bound.
const FIXED_OVERHEAD: usize = 12 + 11;

pub(crate) struct Handler {
    store: Arc<Store>,
    stats: Arc<Stats>,
}

impl Handler {
    pub(crate) fn new(store: Arc<Store>, stats: Arc<Stats>) -> Self {
        Self { store, stats }
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
        let tcp = request.protocol() != Protocol::Udp;
        let request_edns = request.edns.as_ref();
        // hickory sizes a UDP answer by the payload of the OPT we send back, so for UDP that
        // is the client's size capped by ours; over TCP we advertise our own.
        let udp_limit = request_edns.map_or(MIN_UDP_PAYLOAD, |e| {
            e.max_payload().clamp(MIN_UDP_PAYLOAD, MAX_UDP_PAYLOAD)
        });
        let response_edns = request_edns.map(|_| {
            let mut edns = Edns::new();
            edns.set_max_payload(if tcp { MAX_UDP_PAYLOAD } else { udp_limit });
            edns.set_version(0);
            edns
        });
        let edns = response_edns.as_ref();
        let builder = MessageResponseBuilder::new(&request.queries, edns);

        let (result, rcode, empty) = match self.decide(request, tcp) {
            Err(rcode) => {
                let response = builder.error_msg(&request.metadata, rcode);
                (handle.send_response(response).await, rcode, true)
            }
            Ok(answer) => {
                let mut metadata = Metadata::response_from_request(&request.metadata);
                metadata.authoritative = true;
                metadata.response_code = answer.rcode();
                let mut answers = answer.answers();
                let mut authority = answer.authority();
                if !tcp && !fits(request, edns, metadata, &answer, udp_limit) {
                    // Truncate whole: a client retries over TCP and ignores partial sets.
                    metadata.truncation = true;
                    answers = &[];
                    authority = None;
                    self.stats.record_truncated();
                }
                let response = builder.build(
                    metadata,
                    answers.iter(),
                    std::iter::empty(),
                    authority,
                    std::iter::empty(),
                );
                let rcode = answer.rcode();
                (
                    handle.send_response(response).await,
                    rcode,
                    answers.is_empty(),
                )
            }
        };
        self.stats.record(rcode, empty, tcp);
        match result {
            Ok(info) => info,
            Err(error) => {
                debug!(%error, "failed to send a response");
                let mut metadata = Metadata::response_from_request(&request.metadata);
                metadata.response_code = ResponseCode::ServFail;
                ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }
}

/// Whether the whole answer fits a UDP message of `limit` bytes. A cheap upper bound settles
/// almost every query; only large answers are encoded once more to know exactly.
fn fits(
    request: &Request,
    edns: Option<&Edns>,
    metadata: Metadata,
    answer: &Answer,
    limit: u16,
) -> bool {
    let bound = FIXED_OVERHEAD + request.queries.as_bytes().len() + answer.wire_len_bound();
    if bound <= usize::from(limit) {
        return true;
    }
    let mut buf = Vec::with_capacity(usize::from(limit));
    let mut encoder = BinEncoder::new(&mut buf);
    encoder.set_max_size(limit);
    let response = MessageResponseBuilder::new(&request.queries, edns).build(
        metadata,
        answer.answers().iter(),
        std::iter::empty::<&Record>(),
        answer.authority(),
        std::iter::empty::<&Record>(),
    );
    match response.destructive_emit(&mut encoder) {
        Ok(info) => !info.truncation,
        Err(_) => false,
    }
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
