#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dyn53_fuzz::dyndns2_query(data));
