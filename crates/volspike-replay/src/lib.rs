//! Recorded Coinbase feeds to features, offline and exactly as live.
//!
//! [`recordings`] expands globs, reads plain, `.gz` and `.zst` files and
//! decodes their lines in parallel, delivering ticks in input order;
//! [`replay::replay`] runs the one feature engine over them; [`counts`]
//! keeps what was read, skipped and refused, and prints the summary line;
//! [`parquet`] writes and reads feature rows in canonical order; [`compare`]
//! finds the first difference between two row sets, bit for bit. Start
//! reading at [`replay::replay`].

pub mod compare;
pub mod counts;
pub mod parquet;
pub mod recordings;
pub mod replay;

pub use compare::first_difference;
pub use counts::Counts;
pub use recordings::{decode_files, expand_globs, load_ticks, order_by_first_tick};
pub use replay::{replay, replay_ticks};
