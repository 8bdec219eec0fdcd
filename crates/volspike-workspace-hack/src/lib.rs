//! No code: this crate depends on every third-party crate the workspace
//! uses, with the union of the features any member (tests included)
//! enables, so that `cargo test --workspace` and `cargo build` of one
//! binary resolve features alike and compile each crate once. `cargo
//! hakari generate` writes its `Cargo.toml` from `.config/hakari.toml`.
