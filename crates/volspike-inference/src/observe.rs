//! Per-RPC request counts (by gRPC code) and handling-time histograms.

use std::time::Instant;

use tonic::{Code, Status};

use crate::metrics_names as m;

/// Records one handled request and passes its result through.
pub(crate) fn observed<T>(
    rpc: &'static str,
    start: Instant,
    r: Result<T, Status>,
) -> Result<T, Status> {
    let code = match &r {
        Ok(_) => Code::Ok,
        Err(s) => s.code(),
    };
    metrics::counter!(m::REQUESTS, "rpc" => rpc, "code" => code_name(code)).increment(1);
    metrics::histogram!(m::REQUEST_SECONDS, "rpc" => rpc).record(start.elapsed().as_secs_f64());
    r
}

fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
