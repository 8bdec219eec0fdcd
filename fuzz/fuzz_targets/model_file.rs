//! The model loader: whatever the bytes, loading either refuses them or
//! gives a model that scores a row of its width without panicking or
//! looping, to a probability in [0, 1].
#![no_main]

use libfuzzer_sys::fuzz_target;
use volspike_model::artifact::ModelFile;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = ModelFile::from_json(data, "fuzz") else {
        return;
    };
    let width = file.model.feature_names.len();
    for row in [vec![0.0; width], vec![f64::NAN; width], vec![1e300; width]] {
        let p = file.model.score(&row);
        assert!(p.is_nan() || (0.0..=1.0).contains(&p), "{p}");
    }
});
