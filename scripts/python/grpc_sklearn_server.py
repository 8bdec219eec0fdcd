"""volspike.v1 Score and GetScore served by Python grpcio and scikit-learn.

The comparison point of `scripts/bench-grpc.sh`: the same logistic model
(a volspike model file's log of the scale inputs in numpy, its scaler and
coefficients put into scikit-learn's StandardScaler and LogisticRegression),
the same proto, the same semantics
(GetScore scores the latest row of a product on each request), measured with
the same load generator (`volspike bench grpc`).

usage: grpc_sklearn_server.py MODEL.json FEATURES.parquet PORT [WORKERS]
"""

import json
import os
import sys
import tempfile
from concurrent import futures

import grpc
import grpc_tools
import numpy as np
import pandas as pd
from grpc_tools import protoc
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

model_path, features_path, port = sys.argv[1:4]
workers = int(sys.argv[4]) if len(sys.argv) > 4 else 8
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto")
gen = tempfile.mkdtemp()
include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
rc = protoc.main(["protoc", f"-I{root}", f"-I{include}", f"--python_out={gen}",
                  f"--grpc_python_out={gen}", "volspike/v1/volatility.proto"])
assert rc == 0, "protoc failed"
sys.path.insert(0, gen)
from volspike.v1 import volatility_pb2 as pb  # noqa: E402
from volspike.v1 import volatility_pb2_grpc as pb_grpc  # noqa: E402

spec = json.load(open(model_path))
model = spec["model"]
assert model["params"]["kind"] == "logistic", "this server serves logistic models"
names = model["feature_names"]
threshold = model["threshold"]
# The model file's preparation: ln(max(x, floor)) of the scale inputs.
floors = model["scaler"].get("log_floor") or [None] * len(names)
logged = np.array([f is not None for f in floors])
floor_values = np.array([f if f is not None else 0.0 for f in floors])


def prepare(x):
    x = x.copy()
    x[:, logged] = np.log(np.maximum(x[:, logged], floor_values[logged]))
    return x


scaler = StandardScaler()
scaler.mean_ = np.array(model["scaler"]["mean"])
scaler.scale_ = np.array(model["scaler"]["scale"])
scaler.var_ = scaler.scale_ ** 2
scaler.n_features_in_ = len(names)
lr = LogisticRegression()
lr.coef_ = np.array([model["params"]["coef"]])
lr.intercept_ = np.array([model["params"]["intercept"]])
lr.classes_ = np.array([0, 1])
lr.n_features_in_ = len(names)

# The latest complete row of each product, as `volspike serve --warm-from` keeps it.
features = pd.read_parquet(features_path).dropna(subset=names)
if model.get("warm_only"):
    features = features[features["warm"]]
latest = {}
for product, rows in features.sort_values(["event_time_ns", "tie"]).groupby("product_id"):
    last = rows.iloc[-1]
    latest[product] = (np.array([last[n] for n in names], dtype=np.float64), int(last["event_time_ns"]))

version = pb.ModelVersion(name="volspike", version="sklearn", kind="logistic")


def score(x, product, time_ns=None):
    p = float(lr.predict_proba(scaler.transform(prepare(x.reshape(1, -1))))[0, 1])
    s = pb.VolatilityScore(probability=p, spike=p >= threshold, threshold=threshold, model=version, product_id=product)
    if time_ns is not None:
        s.feature_time.FromNanoseconds(time_ns)
    return s


class Service(pb_grpc.VolatilityServiceServicer):
    def GetScore(self, request, context):
        row = latest.get(request.product_id)
        if row is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unknown product {request.product_id}")
        return score(row[0], request.product_id, row[1])

    def Score(self, request, context):
        r = request.row
        if r.values:
            if len(r.values) != len(names):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"expected {len(names)} values")
            x = np.array(r.values, dtype=np.float64)
        else:
            try:
                x = np.array([r.named[n] for n in names], dtype=np.float64)
            except KeyError as e:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"missing {e}")
        if not np.isfinite(x).all():
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "non-finite value")
        return score(x, r.product_id)

    def GetModel(self, request, context):
        return pb.ModelInfo(model=version, feature_names=names, threshold=threshold)


server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
pb_grpc.add_VolatilityServiceServicer_to_server(Service(), server)
server.add_insecure_port(f"127.0.0.1:{port}")
server.start()
print(f"grpc_sklearn_server: serving {len(names)}-input logistic model on 127.0.0.1:{port}, "
      f"latest rows of {len(latest)} products, {workers} worker threads", flush=True)
server.wait_for_termination()
