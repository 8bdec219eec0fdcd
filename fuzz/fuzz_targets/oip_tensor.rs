//! The Open Inference Protocol tensor decoder: any `ModelInferRequest` gives
//! rows of the model's width or INVALID_ARGUMENT, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use volspike_proto::inference::ModelInferRequest;

fuzz_target!(|data: &[u8]| {
    let Ok(req) = ModelInferRequest::decode(data) else {
        return;
    };
    for width in [1, 3, 21] {
        if let Ok((rows, n)) = volspike_inference::oip::read_input(&req, width, 1_000) {
            assert_eq!(rows.len(), n * width);
            assert!(n <= 1_000);
        }
    }
});
