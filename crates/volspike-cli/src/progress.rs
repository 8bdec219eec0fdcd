//! Progress bars on the terminal.

use volspike_train::artifacts::{Stage, counts_line};

/// A progress bar for training `models` models: labeling, then each fit;
/// it prints the labeling counts above itself and clears when dropped.
pub fn training(models: usize) -> impl FnMut(Stage<'_>) {
    let bar = indicatif::ProgressBar::new(models as u64 + 1);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
            .expect("valid template"),
    );
    bar.set_message("labeling and splitting");
    let guard = ClearOnDrop(bar.clone());
    move |stage| {
        let _ = &guard;
        match stage {
            Stage::Labeled(counts, cfg) => {
                bar.suspend(|| eprintln!("{}", counts_line(counts, cfg)))
            }
            Stage::Fitting(name) => {
                bar.inc(1);
                bar.set_message(format!("fitting {name}"));
            }
        }
    }
}

struct ClearOnDrop(indicatif::ProgressBar);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
