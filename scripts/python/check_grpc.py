"""Calls a running volspike inference server with third-party clients.

- tritonclient (NVIDIA Triton's client, Open Inference Protocol v2): server
  and model readiness, ModelMetadata, and ModelInfer on rows of a feature
  file, whose probabilities must equal `volspike evaluate --predictions-out`
  on the same rows to 1e-6;
- plain grpcio with no generated code: the API is discovered by server
  reflection, then GetModel, Score (same rows, same check) and GetScore.

- with the prediction log and alerts as kcat read them (NDJSON): one
  prediction per feature row that has every model input (and is warm, when
  the model scores only warm rows), each equal to
  `volspike evaluate`'s score where evaluate scored the row, and alerts that
  are JSON naming predictions that crossed the threshold.

usage: check_grpc.py HOST:PORT MODEL FEATURES.parquet PREDICTIONS.parquet PRODUCT
                     [PREDICTION_LOG.ndjson ALERTS.ndjson]
"""

import json

import sys

import grpc
import numpy as np
import pandas as pd
import tritonclient.grpc as triton
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

url, model, features_path, predictions_path, product = sys.argv[1:6]
ROWS = 200


def reflected(channel):
    """A caller of volspike.v1.VolatilityService built from reflection alone."""
    pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
    service = pool.FindServiceByName("volspike.v1.VolatilityService")

    def call(method_name, request):
        method = service.methods_by_name[method_name]
        req_cls = message_factory.GetMessageClass(method.input_type)
        resp_cls = message_factory.GetMessageClass(method.output_type)
        stub = channel.unary_unary(
            f"/{service.full_name}/{method_name}",
            request_serializer=req_cls.SerializeToString,
            response_deserializer=resp_cls.FromString,
        )
        return stub(json_format.ParseDict(request, req_cls()), timeout=10)

    return call


channel = grpc.insecure_channel(url)
call = reflected(channel)
info = call("GetModel", {})
names = list(info.feature_names)
version = info.model.version
print(f"check_grpc: reflection found volspike.v1.VolatilityService; GetModel {info.model.name}/{version} ({info.model.kind}) inputs {len(names)}")

# Rows that `volspike evaluate` scored, with their inputs, joined on the
# row key (product, time, tie).
features = pd.read_parquet(features_path)
predictions = pd.read_parquet(predictions_path)
key = ["product_id", "event_time_ns", "tie"]
rows = features.merge(predictions, on=key).dropna(subset=names)
assert len(rows) >= ROWS, f"only {len(rows)} scored rows to check"
rows = rows.sample(ROWS, random_state=0)
x = rows[names].to_numpy(np.float64)
expected = rows["score"].to_numpy()

client = triton.InferenceServerClient(url=url)
assert client.is_server_live() and client.is_server_ready(), "server not live and ready"
assert client.is_model_ready(model), f"model {model} not ready"
meta = client.get_model_metadata(model)
assert meta.inputs[0].name == "features" and list(meta.inputs[0].shape) == [-1, len(names)], meta
assert version in meta.versions, (version, meta.versions)
inp = triton.InferInput("features", list(x.shape), "FP64")
inp.set_data_from_numpy(x)
result = client.infer(
    model,
    [inp],
    outputs=[triton.InferRequestedOutput("probability"), triton.InferRequestedOutput("spike")],
)
probability = result.as_numpy("probability")
spike = result.as_numpy("spike")
err = float(np.max(np.abs(probability - expected)))
assert err <= 1e-6, f"tritonclient ModelInfer differs from volspike evaluate by {err}"
assert (spike == rows["decision"].to_numpy().astype(bool)).all(), "spike decisions differ"
print(f"check_grpc: tritonclient ModelInfer on {ROWS} rows = volspike evaluate (max |diff| {err:.2e}), version {result.get_response().model_version}")

worst = 0.0
for values, want in zip(x[:50], expected[:50]):
    s = call("Score", {"row": {"named": dict(zip(names, map(float, values)))}})
    worst = max(worst, abs(s.probability - want))
    assert s.model.version == version
assert worst <= 1e-6, f"grpcio Score differs from volspike evaluate by {worst}"
print(f"check_grpc: grpcio Score on 50 rows = volspike evaluate (max |diff| {worst:.2e})")

s = call("GetScore", {"product_id": product})
assert 0.0 <= s.probability <= 1.0 and s.product_id == product, s
print(f"check_grpc: grpcio GetScore {product}: probability {s.probability:.4f} spike {s.spike} at {s.feature_time.ToJsonString()}")

try:
    call("Score", {"row": {"values": [1.0]}})
    raise AssertionError("a row with one value must be refused")
except grpc.RpcError as e:
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
if len(sys.argv) > 7:
    log = [json.loads(line) for line in open(sys.argv[6]) if line.strip()]
    alerts = [json.loads(line) for line in open(sys.argv[7]) if line.strip()]
    all_features = pd.read_parquet(features_path)
    scorable_rows = all_features.dropna(subset=names)
    if info.warm_only:
        scorable_rows = scorable_rows[scorable_rows["warm"]]
    scorable = len(scorable_rows)
    ids = {p["prediction_id"] for p in log}
    assert len(ids) == scorable, f"{len(ids)} distinct predictions for {scorable} scorable rows"
    logged = pd.DataFrame(log).drop_duplicates("prediction_id")
    joined = logged.merge(predictions, on=key)
    err = float(np.max(np.abs(joined["probability"] - joined["score"])))
    assert len(joined) > 0 and err <= 1e-6, f"prediction log differs from volspike evaluate by {err}"
    assert all(p["features"].keys() == set(names) for p in log[:100]), "feature snapshot"
    assert len(alerts) >= 1, "no alert on alerts.volatility"
    by_id = logged.set_index("prediction_id")
    for a in alerts:
        p = by_id.loc[a["alert_id"]]
        assert a["probability"] == p["probability"] >= a["threshold"], a
    print(f"check_grpc: prediction log: {len(ids)} predictions = {scorable} scorable rows, "
          f"{len(joined)} equal to volspike evaluate (max |diff| {err:.2e}); {len(alerts)} alerts (kcat)")
print("check_grpc: ok")
