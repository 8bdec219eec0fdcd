//! The model being served, swapped atomically.
//!
//! A request takes one snapshot of the slot ([`ModelSlot::current`]) and uses
//! it for everything it computes, so a swap in the middle of a request can
//! neither fail it nor mix two models in one response.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use volspike_core::ModelId;
use volspike_model::artifact::ModelFile;

/// A model ready to score, with what requests and the live scorer need.
#[derive(Debug)]
pub struct LoadedModel {
    /// Name, version and kind.
    pub id: ModelId,
    /// The registry alias it was loaded by (`champion`), empty for a file.
    pub alias: String,
    /// The model file.
    pub file: ModelFile,
    /// For each model input, its index in [`FEATURE_NAMES`] (live rows).
    pub live_index: Vec<usize>,
}

impl LoadedModel {
    /// Checks that every input is a feature the featurizer computes.
    pub fn new(
        file: ModelFile,
        name: &str,
        version: Option<u64>,
        alias: &str,
    ) -> Result<LoadedModel, String> {
        let live_index = file.live_index()?;
        Ok(LoadedModel {
            id: ModelId {
                name: name.to_owned(),
                version: version.map_or_else(|| "file".to_owned(), |v| v.to_string()),
                kind: file.model.name().to_owned(),
            },
            alias: alias.to_owned(),
            file,
            live_index,
        })
    }

    /// Input names, in order.
    pub fn feature_names(&self) -> &[String] {
        &self.file.model.feature_names
    }

    /// Decision threshold.
    pub fn threshold(&self) -> f64 {
        self.file.model.threshold
    }

    /// The score of one row of inputs in model order.
    pub fn score(&self, row: &[f64]) -> f64 {
        self.file.model.score(row)
    }

    /// Scores of rows (row-major, model order).
    pub fn score_rows(&self, rows: &[f64]) -> Vec<f64> {
        self.file.model.score_rows(rows)
    }
}

/// The served model; empty until one is loaded.
#[derive(Debug, Default)]
pub struct ModelSlot(ArcSwapOption<LoadedModel>);

impl ModelSlot {
    /// An empty slot.
    pub fn new() -> ModelSlot {
        ModelSlot::default()
    }

    /// The model now, for the whole of one request.
    pub fn current(&self) -> Option<Arc<LoadedModel>> {
        self.0.load_full()
    }

    /// Serves `model` from now on; returns the one it replaces.
    pub fn swap(&self, model: LoadedModel) -> Option<Arc<LoadedModel>> {
        self.0.swap(Some(Arc::new(model)))
    }
}
