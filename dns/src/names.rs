//! Name keys: how the store indexes names without allocating per query.
//!
//! A key is the name's labels in lowercase wire form without the root byte
//! (`a.dyn.example` → `\x01a\x03dyn\x07example`). Length prefixes keep labels that contain a
//! dot unambiguous, and every suffix that starts at a label boundary is itself the key of an
//! ancestor, so walking up the tree is slicing, not allocating.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

use hickory_server::proto::rr::{Name, RData, Record};

/// An owned key, as stored in the map of zones.
pub(crate) type Key = Box<[u8]>;

/// A host's key relative to its zone (the labels below the apex, e.g. `\x01a` for
/// `a.dyn.example` in `dyn.example`), as stored in a zone's map: short keys, the vast
/// majority, are kept inline, so a host costs no allocation of its own for its name.
/// Hashes and compares as the `[u8]` it holds, so maps are probed with plain slices.
#[derive(Clone)]
pub(crate) enum HostKey {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Boxed(Box<[u8]>),
}

/// Bytes of a key kept inline: the enum then takes 24 bytes, like a `Vec`.
const INLINE_KEY: usize = 22;

impl HostKey {
    pub(crate) fn new(key: &[u8]) -> Self {
        if key.len() > INLINE_KEY {
            return Self::Boxed(key.into());
        }
        let mut bytes = [0; INLINE_KEY];
        bytes[..key.len()].copy_from_slice(key);
        Self::Inline {
            len: key.len() as u8,
            bytes,
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Self::Boxed(key) => key,
        }
    }
}

impl Borrow<[u8]> for HostKey {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Hash for HostKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialEq for HostKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for HostKey {}

/// The longest name in wire form is 255 bytes including the root byte.
const MAX_KEY: usize = 255;
/// A name of at most 255 wire bytes has at most 127 labels.
const MAX_LABELS: usize = 128;

/// A query name's key on the stack, with the offset of every label.
pub(crate) struct NameKey {
    buf: [u8; MAX_KEY],
    len: u8,
    starts: [u8; MAX_LABELS],
    labels: u8,
}

impl NameKey {
    /// `None` for a name that cannot come from the wire (too long).
    pub(crate) fn new(name: &Name) -> Option<Self> {
        let mut key = Self {
            buf: [0; MAX_KEY],
            len: 0,
            starts: [0; MAX_LABELS],
            labels: 0,
        };
        let mut pos = 0usize;
        for label in name.iter() {
            let end = pos + 1 + label.len();
            if end > MAX_KEY - 1 || label.len() > 63 || key.labels as usize >= MAX_LABELS {
                return None;
            }
            key.starts[key.labels as usize] = pos as u8;
            key.labels += 1;
            key.buf[pos] = label.len() as u8;
            for (dst, &b) in key.buf[pos + 1..end].iter_mut().zip(label) {
                *dst = b.to_ascii_lowercase();
            }
            pos = end;
        }
        key.len = pos as u8;
        Some(key)
    }

    /// The key of the uncompressed name at the start of `wire` (a question's name, in any
    /// case) and the name's length there, root byte included. `None` where [`NameKey::new`]
    /// would refuse the name, and for a compression pointer or a name cut short: such
    /// queries take the general path.
    pub(crate) fn from_wire(wire: &[u8]) -> Option<(Self, usize)> {
        let mut key = Self {
            buf: [0; MAX_KEY],
            len: 0,
            starts: [0; MAX_LABELS],
            labels: 0,
        };
        let mut pos = 0usize;
        loop {
            let len = usize::from(*wire.get(pos)?);
            if len == 0 {
                key.len = pos as u8;
                return Some((key, pos + 1));
            }
            let end = pos + 1 + len;
            if end > MAX_KEY - 1 || len > 63 || key.labels as usize >= MAX_LABELS {
                return None;
            }
            key.starts[key.labels as usize] = pos as u8;
            key.labels += 1;
            key.buf[pos] = len as u8;
            for (dst, &b) in key.buf[pos + 1..end]
                .iter_mut()
                .zip(wire.get(pos + 1..end)?)
            {
                *dst = b.to_ascii_lowercase();
            }
            pos = end;
        }
    }

    /// Where each label starts, from the first: in the key, and so in the name's wire form.
    pub(crate) fn label_starts(&self) -> impl Iterator<Item = usize> + '_ {
        self.starts[..self.labels as usize]
            .iter()
            .map(|&s| usize::from(s))
    }

    pub(crate) fn full(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }

    /// The key of the ancestor that drops the first `skip` labels (`skip == labels()` is the
    /// root, an empty key).
    pub(crate) fn suffix(&self, skip: usize) -> &[u8] {
        let start = if skip >= self.labels as usize {
            self.len as usize
        } else {
            self.starts[skip] as usize
        };
        &self.buf[start..self.len as usize]
    }

    pub(crate) fn labels(&self) -> usize {
        self.labels as usize
    }
}

/// The number of labels in a key.
pub(crate) fn key_labels(key: &[u8]) -> usize {
    let mut n = 0;
    let mut pos = 0;
    while let Some(&len) = key.get(pos) {
        pos += 1 + len as usize;
        n += 1;
    }
    n
}

/// The key of the ancestor that drops the first `skip` labels.
pub(crate) fn key_suffix(key: &[u8], skip: usize) -> &[u8] {
    let mut pos = 0;
    for _ in 0..skip {
        match key.get(pos) {
            Some(&len) => pos += 1 + len as usize,
            None => break,
        }
    }
    key.get(pos..).unwrap_or(&[])
}

/// Parses a feed name (lowercase ASCII, optional trailing dot) into a lowercase FQDN and its
/// key. The root is refused: nothing is served there.
pub(crate) fn parse_name(text: &str) -> Result<(Name, Key), String> {
    let mut name = Name::from_ascii(text)
        .map_err(|e| format!("invalid name {text:?}: {e}"))?
        .to_lowercase();
    name.set_fqdn(true);
    let key = name_key(&name, text)?;
    Ok((name, key.full().into()))
}

/// [`parse_name`]'s key alone, on the stack.
pub(crate) fn parse_key(text: &str) -> Result<NameKey, String> {
    let name = Name::from_ascii(text).map_err(|e| format!("invalid name {text:?}: {e}"))?;
    name_key(&name, text)
}

fn name_key(name: &Name, text: &str) -> Result<NameKey, String> {
    if name.is_root() {
        return Err(format!("invalid name {text:?}: the root"));
    }
    NameKey::new(name).ok_or_else(|| format!("invalid name {text:?}: too long"))
}

/// A name's length on the wire, uncompressed.
pub(crate) fn name_wire_len(name: &Name) -> usize {
    name.iter().map(|l| l.len() + 1).sum::<usize>() + 1
}

/// An upper bound of a record's size on the wire (names uncompressed); used to decide
/// cheaply whether a UDP answer can be truncated at all.
pub(crate) fn record_wire_len(record: &Record) -> usize {
    let rdata = match &record.data {
        RData::A(_) => 4,
        RData::AAAA(_) => 16,
        RData::MX(mx) => 2 + name_wire_len(&mx.exchange),
        RData::TXT(txt) => txt.txt_data.iter().map(|s| s.len() + 1).sum(),
        RData::CNAME(c) => name_wire_len(&c.0),
        RData::NS(ns) => name_wire_len(&ns.0),
        RData::SOA(soa) => name_wire_len(&soa.mname) + name_wire_len(&soa.rname) + 20,
        // We never store other types; an unknown size forces the exact check.
        _ => usize::from(u16::MAX),
    };
    name_wire_len(&record.name) + 10 + rdata
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).expect("valid name")
    }

    #[test]
    fn key_is_lowercase_wire_form_and_suffixes_are_ancestors() {
        let key = NameKey::new(&name("Www.Dyn.example.")).expect("key");
        assert_eq!(key.full(), b"\x03www\x03dyn\x07example");
        assert_eq!(key.labels(), 3);
        assert_eq!(key.suffix(1), b"\x03dyn\x07example");
        assert_eq!(key.suffix(2), b"\x07example");
        assert_eq!(key.suffix(3), b"");
        assert_eq!(key_labels(key.full()), 3);
        assert_eq!(key_suffix(key.full(), 1), key.suffix(1));
        assert_eq!(key_suffix(key.full(), 9), b"");
    }

    #[test]
    fn a_dot_inside_a_label_is_not_a_label_boundary() {
        let dotted = Name::from_labels(vec![&b"a.b"[..], b"zone"]).expect("name");
        let two = name("a.b.zone.");
        let k1 = NameKey::new(&dotted).expect("key");
        let k2 = NameKey::new(&two).expect("key");
        assert_ne!(k1.full(), k2.full());
    }

    #[test]
    fn parse_name_lowercases_and_refuses_the_root() {
        let (n, k) = parse_name("Host.Dyn.Example").expect("parse");
        assert_eq!(n.to_ascii(), "host.dyn.example.");
        assert_eq!(&*k, b"\x04host\x03dyn\x07example");
        assert!(parse_name("").is_err());
        assert!(parse_name(".").is_err());
        assert!(parse_name(&"a".repeat(64)).is_err());
        assert_eq!(parse_key("Host.Dyn.Example.").expect("key").full(), &*k);
        assert!(parse_key(".").is_err());
    }

    #[test]
    fn host_keys_are_inline_when_short_and_compare_as_bytes() {
        use std::collections::HashMap;
        assert_eq!(std::mem::size_of::<HostKey>(), 24);
        let short = HostKey::new(b"\x01a");
        let long = HostKey::new(&[b'x'; 40]);
        assert!(matches!(short, HostKey::Inline { .. }));
        assert!(matches!(long, HostKey::Boxed(_)));
        let map: HashMap<HostKey, u8> = [(short, 1), (long, 2), (HostKey::new(b""), 3)].into();
        assert_eq!(map.get(&b"\x01a"[..]), Some(&1));
        assert_eq!(map.get(&[b'x'; 40][..]), Some(&2));
        assert_eq!(map.get(&b""[..]), Some(&3));
        assert_eq!(map.get(&b"\x01b"[..]), None);
    }

    #[test]
    fn wire_len_counts_labels_and_root() {
        assert_eq!(name_wire_len(&name("www.example.com.")), 17);
    }
}
