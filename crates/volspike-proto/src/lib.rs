//! Generated gRPC code: volspike's own API (`volspike.v1`) and the Open
//! Inference Protocol v2 (`inference`), from the files under `proto/`.

#![allow(missing_docs, unreachable_pub, missing_debug_implementations)]
#![allow(clippy::all, clippy::pedantic)]

/// volspike's scoring API.
pub mod volspike {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("volspike.v1");
    }
}

/// The Open Inference Protocol v2 (KServe, Triton, MLServer).
pub mod inference {
    tonic::include_proto!("inference");
}

/// The encoded `FileDescriptorSet` of every file under `proto/` and what
/// they import, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("descriptor");
