//! State JSON from an untrusted source: parsing, validation and the
//! canonical form must never panic, and canonical text is a fixed point.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = pv_types::State::from_slice(data) {
        let _ = state.validate();
        let canon = state.to_canonical();
        let again = pv_types::State::from_slice(&canon).expect("canonical text parses");
        assert_eq!(again.to_canonical(), canon);
        let _ = state.objects();
    }
    if let Ok(v) = pv_json::parse(data) {
        let _ = pv_json::pretty::to_string(&v, pv_json::pretty::PVR_DIFF);
    }
});
