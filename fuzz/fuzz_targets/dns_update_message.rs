#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dyn53_fuzz::dns_update_message(data));
