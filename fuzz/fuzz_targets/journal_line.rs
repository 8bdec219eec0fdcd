//! The journal reader: any line is a frame or an error, never a panic; a
//! frame's text decodes as a live frame would.
#![no_main]

use libfuzzer_sys::fuzz_target;
use volspike_ingestor::journal::parse_line;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(frame) = parse_line(line) {
        let mut ticks = Vec::new();
        let _ = volspike_core::decode_frame(frame.text.as_bytes(), frame.receive_time_ns, &mut ticks);
    }
});
