//! TSIG (RFC 8945) on the wire: finding a request's TSIG record and what its MAC covers,
//! and signing an answer. Only HMAC-SHA256 with a whole MAC is accepted.

use std::time::{SystemTime, UNIX_EPOCH};

use hickory_server::proto::ProtoError;
use hickory_server::proto::op::{Header, Message, OpCode};
use hickory_server::proto::rr::rdata::tsig::{TSIG, TsigAlgorithm, TsigError, make_tsig_record};
use hickory_server::proto::rr::{Name, RData, RecordType};
use hickory_server::proto::serialize::binary::{BinDecodable, BinDecoder, BinEncoder};

use crate::update::TsigKey;

/// The clock difference allowed between a client and us, as RFC 8945 recommends.
pub const FUDGE: u16 = 300;

/// A request as received: the message without its TSIG record, and the TSIG record.
pub struct Request {
    pub message: Message,
    pub signature: Option<Signature>,
}

/// A request's TSIG record, and the bytes its MAC covers.
pub struct Signature {
    pub key_name: Name,
    pub tsig: TSIG,
    covered: Vec<u8>,
}

impl Request {
    /// Decodes `bytes`; a TSIG record anywhere but last in the additional section is an error.
    pub fn parse(bytes: &[u8]) -> Result<Request, ProtoError> {
        let mut message = Message::from_vec(bytes)?;
        let is_tsig = |r: &hickory_server::proto::rr::Record| r.record_type() == RecordType::TSIG;
        let last = message.additionals.len().checked_sub(1);
        if message
            .additionals
            .iter()
            .enumerate()
            .any(|(i, r)| is_tsig(r) && Some(i) != last)
        {
            return Err(ProtoError::from("TSIG is not the last record"));
        }
        let Some(record) = message.additionals.pop_if(|r| is_tsig(r)) else {
            return Ok(Request {
                message,
                signature: None,
            });
        };
        let RData::TSIG(tsig) = record.data else {
            return Err(ProtoError::from("TSIG record without TSIG data"));
        };
        let covered = covered(bytes, &tsig, &record.name)?;
        Ok(Request {
            message,
            signature: Some(Signature {
                key_name: record.name,
                tsig,
                covered,
            }),
        })
    }
}

/// What a request's MAC covers (RFC 8945 §4.3.3): the message as it was before the TSIG
/// record was added (its original id, one additional record fewer), as received, then
/// the TSIG variables.
fn covered(bytes: &[u8], tsig: &TSIG, key_name: &Name) -> Result<Vec<u8>, ProtoError> {
    let mut decoder = BinDecoder::new(bytes);
    let header = Header::read(&mut decoder)?;
    let counts = header.counts;
    Message::read_queries(&mut decoder, counts.queries.into())?;
    let records = usize::from(counts.answers) + usize::from(counts.authorities);
    Message::read_records(&mut decoder, records, false, OpCode::Update)?;
    let before_tsig = usize::from(counts.additionals.saturating_sub(1));
    Message::read_records(&mut decoder, before_tsig, true, OpCode::Update)?;
    let tsig_start = bytes.len() - decoder.len();

    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&tsig.oid.to_be_bytes());
    out.extend_from_slice(&bytes[2..10]);
    out.extend_from_slice(&counts.additionals.saturating_sub(1).to_be_bytes());
    out.extend_from_slice(&bytes[12..tsig_start]);
    out.extend(variables(tsig, key_name)?);
    Ok(out)
}

/// The TSIG variables a MAC covers after the message.
fn variables(tsig: &TSIG, key_name: &Name) -> Result<Vec<u8>, ProtoError> {
    let mut out = Vec::new();
    tsig.emit_tsig_for_mac(&mut BinEncoder::new(&mut out), key_name)?;
    Ok(out)
}

/// Seconds since the epoch, as TSIG counts time.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Signature {
    pub fn is_hmac_sha256(&self) -> bool {
        self.tsig.algorithm == TsigAlgorithm::HmacSha256
    }

    pub fn covered(&self) -> &[u8] {
        &self.covered
    }

    /// Whether the request was signed within the fudge it states of `now`.
    pub fn in_time(&self, now: u64) -> bool {
        now.abs_diff(self.tsig.time) <= u64::from(self.tsig.fudge)
    }

    /// `response` signed with `key` (RFC 8945 §5.3): the MAC covers the request's MAC, the
    /// response and its TSIG variables. `BADTIME` carries our time as its other data.
    pub fn sign(
        &self,
        mut response: Message,
        key: &TsigKey,
        error: Option<TsigError>,
    ) -> Result<Vec<u8>, ProtoError> {
        let now = now();
        let other = match error {
            Some(TsigError::BadTime) => now.to_be_bytes()[2..].to_vec(),
            _ => Vec::new(),
        };
        let tsig = TSIG::new(
            TsigAlgorithm::HmacSha256,
            now,
            FUDGE,
            Vec::new(),
            response.metadata.id,
            error,
            other,
        );
        let mut covered = Vec::new();
        let request_mac = &self.tsig.mac;
        covered.extend_from_slice(&(request_mac.len() as u16).to_be_bytes());
        covered.extend_from_slice(request_mac);
        covered.extend(response.to_vec()?);
        covered.extend(variables(&tsig, &self.key_name)?);
        let mac = key.mac(&covered);
        response.signature = Some(Box::new(make_tsig_record(
            self.key_name.clone(),
            tsig.set_mac(mac),
        )));
        response.to_vec()
    }

    /// `response` with an unsigned TSIG record saying why the request's was refused
    /// (`BADKEY`, `BADSIG`: RFC 8945 §5.3.2, an empty MAC).
    pub fn refuse(&self, mut response: Message, error: TsigError) -> Result<Vec<u8>, ProtoError> {
        let tsig = TSIG::new(
            self.tsig.algorithm.clone(),
            now(),
            FUDGE,
            Vec::new(),
            response.metadata.id,
            Some(error),
            Vec::new(),
        );
        response.signature = Some(Box::new(make_tsig_record(self.key_name.clone(), tsig)));
        response.to_vec()
    }
}
