//! `runs/log-batch` payloads split to fit MLflow's limits.
//!
//! One call may carry at most 1000 metrics, 100 params, 100 tags, 1000
//! items in all and 1 MB of request body
//! (<https://mlflow.org/docs/latest/rest-api.html#log-batch>). Items are
//! packed greedily in order, so metrics keep their order across calls.

use serde::Serialize;

/// Most metrics in one call.
pub const MAX_METRICS: usize = 1000;
/// Most params in one call.
pub const MAX_PARAMS: usize = 100;
/// Most tags in one call.
pub const MAX_TAGS: usize = 100;
/// Most items (metrics + params + tags) in one call.
pub const MAX_ITEMS: usize = 1000;
/// Largest request body, bytes; kept below 1 MB with room for the envelope.
pub const MAX_BYTES: usize = 1_000_000 - 1_000;

/// A metric value at a time and step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metric {
    /// Name.
    pub key: String,
    /// Value (MLflow stores doubles; NaN is accepted by the server).
    pub value: f64,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// Step.
    pub step: i64,
}

/// A parameter or tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyValue {
    /// Name.
    pub key: String,
    /// Value.
    pub value: String,
}

/// One `runs/log-batch` request body (without `run_id`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Batch {
    /// Metrics.
    pub metrics: Vec<Metric>,
    /// Params.
    pub params: Vec<KeyValue>,
    /// Tags.
    pub tags: Vec<KeyValue>,
    #[serde(skip)]
    bytes: usize,
}

impl Batch {
    fn items(&self) -> usize {
        self.metrics.len() + self.params.len() + self.tags.len()
    }
}

/// Splits metrics, params and tags into as few calls as the limits allow.
pub fn split(metrics: Vec<Metric>, params: Vec<KeyValue>, tags: Vec<KeyValue>) -> Vec<Batch> {
    enum Item {
        M(Metric),
        P(KeyValue),
        T(KeyValue),
    }
    // JSON size of an item plus its separator.
    fn size<T: Serialize>(v: &T) -> usize {
        serde_json::to_vec(v).map_or(0, |b| b.len()) + 1
    }
    let items = params
        .into_iter()
        .map(Item::P)
        .chain(tags.into_iter().map(Item::T))
        .chain(metrics.into_iter().map(Item::M));
    let mut out = vec![Batch::default()];
    for item in items {
        let bytes = match &item {
            Item::M(m) => size(m),
            Item::P(p) | Item::T(p) => size(p),
        };
        let b = out.last_mut().expect("never empty");
        let full = b.items() + 1 > MAX_ITEMS
            || b.bytes + bytes > MAX_BYTES
            || match &item {
                Item::M(_) => b.metrics.len() + 1 > MAX_METRICS,
                Item::P(_) => b.params.len() + 1 > MAX_PARAMS,
                Item::T(_) => b.tags.len() + 1 > MAX_TAGS,
            };
        if full && b.items() > 0 {
            out.push(Batch::default());
        }
        let b = out.last_mut().expect("never empty");
        b.bytes += bytes;
        match item {
            Item::M(m) => b.metrics.push(m),
            Item::P(p) => b.params.push(p),
            Item::T(t) => b.tags.push(t),
        }
    }
    out.retain(|b| b.items() > 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(prefix: &str, n: usize, len: usize) -> Vec<KeyValue> {
        (0..n)
            .map(|i| KeyValue {
                key: format!("{prefix}{i}"),
                value: "x".repeat(len),
            })
            .collect()
    }

    #[test]
    fn batches_respect_every_limit_and_keep_every_item_in_order() {
        let metrics: Vec<Metric> = (0..2500)
            .map(|i| Metric {
                key: format!("m{}", i % 7),
                value: i as f64,
                timestamp: 1,
                step: i,
            })
            .collect();
        let params = kv("p", 250, 10);
        let tags = kv("t", 130, 10);
        let batches = split(metrics.clone(), params.clone(), tags.clone());
        for b in &batches {
            assert!(b.metrics.len() <= MAX_METRICS);
            assert!(b.params.len() <= MAX_PARAMS);
            assert!(b.tags.len() <= MAX_TAGS);
            assert!(b.items() <= MAX_ITEMS);
            assert!(serde_json::to_vec(b).unwrap().len() < 1_000_000);
        }
        let all_m: Vec<Metric> = batches.iter().flat_map(|b| b.metrics.clone()).collect();
        let all_p: Vec<KeyValue> = batches.iter().flat_map(|b| b.params.clone()).collect();
        let all_t: Vec<KeyValue> = batches.iter().flat_map(|b| b.tags.clone()).collect();
        assert_eq!((all_m, all_p, all_t), (metrics, params, tags));
        // 250 params need 3 calls at 100 each; 2500 metrics + the rest fit in
        // 3 more at 1000 items each: 5 or 6 calls, not one per limit hit.
        assert!(batches.len() <= 6, "{}", batches.len());
    }

    #[test]
    fn large_values_split_by_size() {
        // 100 params of 20 kB each: 2 MB, so at least three calls.
        let batches = split(Vec::new(), kv("p", 100, 20_000), Vec::new());
        assert!(batches.len() >= 3);
        for b in &batches {
            assert!(serde_json::to_vec(b).unwrap().len() < 1_000_000);
        }
        assert!(split(Vec::new(), Vec::new(), Vec::new()).is_empty());
    }
}
