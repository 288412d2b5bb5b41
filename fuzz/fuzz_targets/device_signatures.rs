//! The device verifier reads signatures out of raw state text: it must
//! never panic on any input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let trust = pv_sign::DeviceTrust::default();
    let _ = pv_sign::device_verify(data, &trust, std::time::SystemTime::UNIX_EPOCH);
});
