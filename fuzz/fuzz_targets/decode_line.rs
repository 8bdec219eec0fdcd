//! Every recording shape the decoder reads, and live frames: no input may
//! panic, and a tick that comes out has a finite positive price.
#![no_main]

use libfuzzer_sys::fuzz_target;
use volspike_core::{decode_frame, decode_line};

fuzz_target!(|data: &[u8]| {
    let mut ticks = Vec::new();
    if decode_line(data, &mut ticks).is_ok() {
        for t in &ticks {
            assert!(t.price.is_finite() && t.price > 0.0, "{t:?}");
        }
    }
    ticks.clear();
    let _ = decode_frame(data, 1_775_337_223_000_000_000, &mut ticks);
});
