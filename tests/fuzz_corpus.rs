//! Replays every checked-in fuzz corpus file (`fuzz/corpus/<target>/`) through the fuzz
//! targets' own entry points (`fuzz/src/lib.rs`, included here), so that the inputs the
//! fuzzers found interesting, and every crash fixed since, stay covered without a nightly
//! compiler. A panic fails the test with the file's name.

#[path = "../fuzz/src/lib.rs"]
mod entries;

use std::path::Path;

fn replay(target: &str, entry: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 20, "{target}: only {} inputs", files.len());
    for file in files {
        let input = std::fs::read(&file).expect("a corpus file");
        let replayed = std::panic::catch_unwind(|| entry(&input));
        assert!(replayed.is_ok(), "{target}: {} panics", file.display());
    }
}

#[test]
fn dns_request_corpus() {
    replay("dns_request", entries::dns_request);
}

#[test]
fn dyndns2_query_corpus() {
    replay("dyndns2_query", entries::dyndns2_query);
}

#[test]
fn dns_update_message_corpus() {
    replay("dns_update_message", entries::dns_update_message);
}

#[test]
fn miniupdate_line_corpus() {
    replay("miniupdate_line", entries::miniupdate_line);
}
