//! The Open Inference Protocol v2 (`inference.GRPCInferenceService`), as
//! KServe, Triton's `tritonclient` and MLServer clients speak it.
//!
//! One model, the served one, under its registered name. Input `features`
//! (FP64 or FP32, shape `[N, F]`, typed contents or `raw_input_contents`);
//! outputs `probability` (FP64 `[N]`) and `spike` (BOOL `[N]`), always as
//! `raw_output_contents`, which is all `tritonclient` reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tonic::{Request, Response, Status};
use tonic_types::FieldViolation;
use volspike_proto::inference as pb;
use volspike_proto::inference::grpc_inference_service_server::GrpcInferenceService;

use crate::metrics_names as m;
use crate::model::{LoadedModel, ModelSlot};
use crate::observe::observed;
use crate::rows::invalid_argument;

/// Input tensor name.
pub const INPUT: &str = "features";
/// Output: spike probabilities.
pub const OUTPUT_PROBABILITY: &str = "probability";
/// Output: decisions at the model's threshold.
pub const OUTPUT_SPIKE: &str = "spike";

/// The service.
#[derive(Debug, Clone)]
pub struct InferenceApi {
    slot: Arc<ModelSlot>,
    max_batch: usize,
    /// False once shutdown begins: ServerReady and ModelReady turn false.
    accepting: Arc<AtomicBool>,
}

impl InferenceApi {
    /// The service over the model slot.
    pub fn new(slot: Arc<ModelSlot>, max_batch: usize, accepting: Arc<AtomicBool>) -> InferenceApi {
        InferenceApi {
            slot,
            max_batch,
            accepting,
        }
    }

    /// The served model if it is `name` (and `version`, when given).
    fn model(&self, name: &str, version: &str) -> Result<Arc<LoadedModel>, Status> {
        let model = self
            .slot
            .current()
            .ok_or_else(|| Status::unavailable("no model is loaded yet"))?;
        if name != model.id.name {
            return Err(Status::not_found(format!(
                "unknown model `{name}`; this server serves `{}`",
                model.id.name
            )));
        }
        if !version.is_empty() && version != model.id.version {
            return Err(Status::not_found(format!(
                "model `{name}` version `{version}` is not served; version `{}` is",
                model.id.version
            )));
        }
        Ok(model)
    }

    fn ready(&self) -> bool {
        self.accepting.load(Ordering::Relaxed) && self.slot.current().is_some()
    }

    fn infer(&self, req: &pb::ModelInferRequest) -> Result<pb::ModelInferResponse, Status> {
        let model = self.model(&req.model_name, &req.model_version)?;
        let width = model.feature_names().len();
        let (rows, n) = read_input(req, width, self.max_batch)?;
        let wanted = requested_outputs(req)?;
        let scores = model.score_rows(&rows);
        metrics::counter!(m::ROWS_SCORED).increment(n as u64);
        let threshold = model.threshold();
        let mut outputs = Vec::with_capacity(wanted.len());
        let mut raw = Vec::with_capacity(wanted.len());
        for name in wanted {
            let (datatype, bytes) = if name == OUTPUT_PROBABILITY {
                (
                    "FP64",
                    scores
                        .iter()
                        .flat_map(|s| s.to_le_bytes())
                        .collect::<Vec<u8>>(),
                )
            } else {
                (
                    "BOOL",
                    scores.iter().map(|&s| u8::from(s >= threshold)).collect(),
                )
            };
            outputs.push(pb::model_infer_response::InferOutputTensor {
                name: name.to_owned(),
                datatype: datatype.to_owned(),
                shape: vec![n as i64],
                ..Default::default()
            });
            raw.push(bytes);
        }
        Ok(pb::ModelInferResponse {
            model_name: model.id.name.clone(),
            model_version: model.id.version.clone(),
            id: req.id.clone(),
            outputs,
            raw_output_contents: raw,
            ..Default::default()
        })
    }
}

fn bad(field: impl Into<String>, description: impl Into<String>) -> Status {
    invalid_argument(vec![FieldViolation::new(field, description)])
}

/// The `features` input as row-major f64 rows and the row count, with its
/// declared shape and type checked against the data. Public for the fuzz
/// target (`fuzz/fuzz_targets/oip_tensor.rs`): any request gives rows or an
/// INVALID_ARGUMENT, never a panic.
pub fn read_input(
    req: &pb::ModelInferRequest,
    width: usize,
    max_batch: usize,
) -> Result<(Vec<f64>, usize), Status> {
    let [input] = req.inputs.as_slice() else {
        return Err(bad(
            "inputs",
            format!("expected one input `{INPUT}`, got {}", req.inputs.len()),
        ));
    };
    if input.name != INPUT {
        return Err(bad(
            "inputs[0].name",
            format!("`{}`; the input is `{INPUT}`", input.name),
        ));
    }
    let n = match input.shape.as_slice() {
        [n, f] if *f == width as i64 && *n >= 1 => *n as usize,
        _ => {
            return Err(bad(
                "inputs[0].shape",
                format!("{:?}; expected [N, {width}] with N >= 1", input.shape),
            ));
        }
    };
    if n > max_batch {
        return Err(bad(
            "inputs[0].shape",
            format!("{n} rows; at most {max_batch}"),
        ));
    }
    let count = n * width;
    let typed = input.contents.as_ref();
    let values: Vec<f64> = if req.raw_input_contents.is_empty() {
        let c = typed.ok_or_else(|| {
            bad(
                "inputs[0].contents",
                "no data: give contents or raw_input_contents",
            )
        })?;
        match input.datatype.as_str() {
            "FP64" => c.fp64_contents.clone(),
            "FP32" => c.fp32_contents.iter().map(|&v| f64::from(v)).collect(),
            other => {
                return Err(bad(
                    "inputs[0].datatype",
                    format!("`{other}`; FP64 or FP32"),
                ));
            }
        }
    } else {
        if req.raw_input_contents.len() != 1 {
            return Err(bad(
                "raw_input_contents",
                format!("{} entries for 1 input", req.raw_input_contents.len()),
            ));
        }
        if typed.is_some_and(|c| !c.fp64_contents.is_empty() || !c.fp32_contents.is_empty()) {
            return Err(bad(
                "inputs[0].contents",
                "data in both contents and raw_input_contents",
            ));
        }
        let raw = &req.raw_input_contents[0];
        let size = match input.datatype.as_str() {
            "FP64" => 8,
            "FP32" => 4,
            other => {
                return Err(bad(
                    "inputs[0].datatype",
                    format!("`{other}`; FP64 or FP32"),
                ));
            }
        };
        if raw.len() != count * size {
            return Err(bad(
                "raw_input_contents[0]",
                format!(
                    "{} bytes; shape {:?} of {} needs {}",
                    raw.len(),
                    input.shape,
                    input.datatype,
                    count * size
                ),
            ));
        }
        if size == 8 {
            raw.chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect()
        } else {
            raw.chunks_exact(4)
                .map(|b| f64::from(f32::from_le_bytes(b.try_into().expect("4 bytes"))))
                .collect()
        }
    };
    if values.len() != count {
        return Err(bad(
            "inputs[0].contents",
            format!(
                "{} values; shape {:?} needs {count}",
                values.len(),
                input.shape
            ),
        ));
    }
    let bad_values: Vec<FieldViolation> = values
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.is_finite())
        .take(10)
        .map(|(i, v)| {
            FieldViolation::new(
                format!("inputs[0][{}][{}]", i / width, i % width),
                format!("{v} is not a finite number"),
            )
        })
        .collect();
    if !bad_values.is_empty() {
        return Err(invalid_argument(bad_values));
    }
    Ok((values, n))
}

/// The outputs asked for, in request order; all when none are named.
fn requested_outputs(req: &pb::ModelInferRequest) -> Result<Vec<&'static str>, Status> {
    if req.outputs.is_empty() {
        return Ok(vec![OUTPUT_PROBABILITY, OUTPUT_SPIKE]);
    }
    req.outputs
        .iter()
        .enumerate()
        .map(|(i, o)| match o.name.as_str() {
            OUTPUT_PROBABILITY => Ok(OUTPUT_PROBABILITY),
            OUTPUT_SPIKE => Ok(OUTPUT_SPIKE),
            other => Err(bad(
                format!("outputs[{i}].name"),
                format!("`{other}`; outputs are `{OUTPUT_PROBABILITY}` and `{OUTPUT_SPIKE}`"),
            )),
        })
        .collect()
}

#[tonic::async_trait]
impl GrpcInferenceService for InferenceApi {
    async fn server_live(
        &self,
        _req: Request<pb::ServerLiveRequest>,
    ) -> Result<Response<pb::ServerLiveResponse>, Status> {
        let start = Instant::now();
        observed(
            "ServerLive",
            start,
            Ok(Response::new(pb::ServerLiveResponse { live: true })),
        )
    }

    async fn server_ready(
        &self,
        _req: Request<pb::ServerReadyRequest>,
    ) -> Result<Response<pb::ServerReadyResponse>, Status> {
        let start = Instant::now();
        let ready = self.ready();
        observed(
            "ServerReady",
            start,
            Ok(Response::new(pb::ServerReadyResponse { ready })),
        )
    }

    async fn model_ready(
        &self,
        req: Request<pb::ModelReadyRequest>,
    ) -> Result<Response<pb::ModelReadyResponse>, Status> {
        let start = Instant::now();
        let r = req.get_ref();
        let ready = self.ready() && self.model(&r.name, &r.version).is_ok();
        observed(
            "ModelReady",
            start,
            Ok(Response::new(pb::ModelReadyResponse { ready })),
        )
    }

    async fn server_metadata(
        &self,
        _req: Request<pb::ServerMetadataRequest>,
    ) -> Result<Response<pb::ServerMetadataResponse>, Status> {
        let start = Instant::now();
        let r = pb::ServerMetadataResponse {
            name: "volspike".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            extensions: Vec::new(),
        };
        observed("ServerMetadata", start, Ok(Response::new(r)))
    }

    async fn model_metadata(
        &self,
        req: Request<pb::ModelMetadataRequest>,
    ) -> Result<Response<pb::ModelMetadataResponse>, Status> {
        use pb::model_metadata_response::TensorMetadata;
        let start = Instant::now();
        let r = self
            .model(&req.get_ref().name, &req.get_ref().version)
            .map(|model| {
                let width = model.feature_names().len() as i64;
                Response::new(pb::ModelMetadataResponse {
                    name: model.id.name.clone(),
                    versions: vec![model.id.version.clone()],
                    platform: format!("volspike_{}", model.id.kind),
                    inputs: vec![TensorMetadata {
                        name: INPUT.to_owned(),
                        datatype: "FP64".to_owned(),
                        shape: vec![-1, width],
                    }],
                    outputs: vec![
                        TensorMetadata {
                            name: OUTPUT_PROBABILITY.to_owned(),
                            datatype: "FP64".to_owned(),
                            shape: vec![-1],
                        },
                        TensorMetadata {
                            name: OUTPUT_SPIKE.to_owned(),
                            datatype: "BOOL".to_owned(),
                            shape: vec![-1],
                        },
                    ],
                })
            });
        observed("ModelMetadata", start, r)
    }

    async fn model_infer(
        &self,
        req: Request<pb::ModelInferRequest>,
    ) -> Result<Response<pb::ModelInferResponse>, Status> {
        let start = Instant::now();
        observed(
            "ModelInfer",
            start,
            self.infer(req.get_ref()).map(Response::new),
        )
    }
}
