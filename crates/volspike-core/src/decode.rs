//! One decoder for every Coinbase ticker shape volspike meets.
//!
//! A line (or a live WebSocket frame) is parsed once into [`Line`], a superset
//! of the fields every known shape uses, borrowing strings from the input.
//! The shape is then recognised from which fields are present:
//!
//! | shape | recognised by |
//! |---|---|
//! | volspike's own normalized record (`ticks.raw`) | `schema_version` |
//! | wrapped Advanced Trade envelope `{ingest_time, product_id, payload}` | `payload` |
//! | Advanced Trade envelope `{channel, timestamp, sequence_num, events}` | `channel` |
//! | Exchange message or Advanced Trade ticker object | `type` |
//! | `{timestamp, ..., raw}` and `{ts, pair, raw: "<json string>"}` | `raw` |
//! | flattened ticker (either field spelling) | `product_id` and `price` |
//!
//! Non-ticker messages (subscriptions, heartbeats, errors, other channels) are
//! recognised and reported as [`LineKind::Control`]; anything else is a
//! [`DecodeError`] with a short machine-readable [`DecodeError::reason`]. The
//! decoder never panics (see the property tests and `fuzz/fuzz_targets/decode_line.rs`,
//! run by `scripts/fuzz.sh`).
//!
//! Where the receive time is volspike's own clock (a live frame, the
//! ingestor's journal line and its `ticks.raw` record, both of which carry
//! `conn` and `frame`), a tick whose event time is more than
//! [`MAX_EVENT_TIME_AHEAD_NS`] past it is refused
//! ([`DecodeError::FutureEventTime`]): one such tick would otherwise stall
//! its product's features until the market caught up with it. Other
//! recorders' receive times are not trusted for this (a capture time written
//! in local time without its zone would refuse every line).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::value::RawValue;

use crate::tick::{Feed, Tick};
use crate::time::{parse_time, parse_unix_seconds};

/// What a successfully read line was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// A ticker message; this many ticks were appended to the output.
    Ticker(usize),
    /// A message that is not a ticker, recognised and skipped.
    Control(Control),
}

/// Non-ticker messages that are skipped on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Control {
    /// A subscription acknowledgement.
    Subscriptions,
    /// A heartbeat (`heartbeats` channel or `heartbeat` type).
    Heartbeat,
    /// An error frame from the exchange.
    ErrorMessage,
    /// Any other known channel or message type (trades, books, status, ...).
    OtherChannel,
    /// An empty or whitespace-only line.
    Blank,
}

impl Control {
    /// Stable name used in summaries and metrics.
    pub fn reason(self) -> &'static str {
        match self {
            Control::Subscriptions => "subscriptions",
            Control::Heartbeat => "heartbeat",
            Control::ErrorMessage => "error_message",
            Control::OtherChannel => "other_channel",
            Control::Blank => "blank",
        }
    }
}

/// Why a line could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON at all: truncated, binary garbage, bad UTF-8.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// JSON, but a field has the wrong type (e.g. an object where a price belongs).
    #[error("wrong type: {0}")]
    WrongType(String),
    /// JSON of no shape any Coinbase feed or recorder writes.
    #[error("unknown message shape{0}")]
    UnknownShape(String),
    /// A ticker without a field every tick needs.
    #[error("missing field `{0}`{tried}", tried = names_tried(.0))]
    MissingField(&'static str),
    /// A field that is present but unusable (e.g. a price of zero).
    #[error("bad value for `{field}`: {detail}")]
    BadValue {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        detail: &'static str,
    },
    /// No usable event time: the message's own time and the recorder's are
    /// both missing or unreadable.
    #[error("no usable timestamp: {0}")]
    BadTimestamp(String),
    /// The event time lies more than [`MAX_EVENT_TIME_AHEAD_NS`] after the
    /// time volspike received the message.
    #[error(
        "event time {} is {:.0} s after its receive time {} (at most {} s allowed: the exchange's clock or the message is wrong)",
        crate::time::format_timestamp(*event_time_ns),
        (*event_time_ns - *receive_time_ns) as f64 / 1e9,
        crate::time::format_timestamp(*receive_time_ns),
        MAX_EVENT_TIME_AHEAD_NS / 1_000_000_000
    )]
    FutureEventTime {
        /// The tick's event time, ns since the epoch.
        event_time_ns: i64,
        /// When volspike received it, ns since the epoch.
        receive_time_ns: i64,
    },
}

/// How far a tick's event time may lie after its receive time on volspike's
/// own clock: a minute, far above clock skew between NTP-synchronized hosts
/// (milliseconds), far below what stalls features for long.
pub const MAX_EVENT_TIME_AHEAD_NS: i64 = 60 * 1_000_000_000;

impl DecodeError {
    /// Every value [`DecodeError::reason`] returns: the label values of the
    /// services' dead-letter counters, registered at 0 on start.
    pub const REASONS: [&'static str; 7] = [
        "invalid_json",
        "wrong_type",
        "unknown_shape",
        "missing_field",
        "bad_value",
        "bad_timestamp",
        "future_event_time",
    ];

    /// Stable, low-cardinality name used in summaries, metrics and the DLQ.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::InvalidJson(_) => "invalid_json",
            DecodeError::WrongType(_) => "wrong_type",
            DecodeError::UnknownShape(_) => "unknown_shape",
            DecodeError::MissingField(_) => "missing_field",
            DecodeError::BadValue { .. } => "bad_value",
            DecodeError::BadTimestamp(_) => "bad_timestamp",
            DecodeError::FutureEventTime { .. } => "future_event_time",
        }
    }
}

fn json_error(e: serde_json::Error) -> DecodeError {
    match e.classify() {
        serde_json::error::Category::Data => DecodeError::WrongType(e.to_string()),
        _ => DecodeError::InvalidJson(e.to_string()),
    }
}

/// Decodes one line or frame, appending its ticks to `out`.
///
/// On error nothing is appended.
pub fn decode_line(line: &[u8], out: &mut Vec<Tick>) -> Result<LineKind, DecodeError> {
    let trimmed = line.trim_ascii();
    if trimmed.is_empty() {
        return Ok(LineKind::Control(Control::Blank));
    }
    let start = out.len();
    let parsed = parse_object(trimmed).and_then(|l| decode(&l, Context::default(), out, 0));
    if parsed.is_err() {
        out.truncate(start);
    }
    parsed
}

/// Other names for the fields of flat ticker records, given by the user
/// for a recorder the decoder does not know (`volspike replay --field
/// NAME=SOURCE`): the SOURCE field at a line's top level is read as NAME.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldMap(Vec<(String, String)>);

impl FieldMap {
    /// The names a mapping may give: the fields of a flat ticker
    /// (`timestamp` is the event time, `received_at` the receive time).
    pub const NAMES: [&'static str; 13] = [
        "product_id",
        "price",
        "timestamp",
        "received_at",
        "best_bid",
        "best_ask",
        "best_bid_qty",
        "best_ask_qty",
        "volume_24h",
        "low_24h",
        "high_24h",
        "sequence",
        "trade_id",
    ];

    /// Adds `NAME=SOURCE`: read the field SOURCE as NAME.
    pub fn add(&mut self, spec: &str) -> Result<(), String> {
        let (name, source) = spec
            .split_once('=')
            .map(|(n, s)| (n.trim(), s.trim()))
            .filter(|(n, s)| !n.is_empty() && !s.is_empty())
            .ok_or_else(|| format!("`{spec}` is not NAME=SOURCE"))?;
        if !Self::NAMES.contains(&name) {
            return Err(format!(
                "`{name}` is not a field a tick has; one of: {}",
                Self::NAMES.join(", ")
            ));
        }
        self.0.push((name.to_owned(), source.to_owned()));
        Ok(())
    }

    /// True when nothing is mapped.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// [`decode_line`] with the fields of `fields` renamed first. A line whose
/// top level holds none of the mapped fields decodes as it is.
pub fn decode_line_mapped(
    line: &[u8],
    fields: &FieldMap,
    out: &mut Vec<Tick>,
) -> Result<LineKind, DecodeError> {
    if fields.is_empty() {
        return decode_line(line, out);
    }
    let Ok(serde_json::Value::Object(mut obj)) = serde_json::from_slice(line.trim_ascii()) else {
        return decode_line(line, out);
    };
    let mut renamed = false;
    for (name, source) in &fields.0 {
        if let Some(v) = obj.remove(source) {
            obj.insert(name.clone(), v);
            renamed = true;
        }
    }
    if !renamed {
        return decode_line(line, out);
    }
    let rewritten = serde_json::to_vec(&obj).expect("a JSON object serializes");
    decode_line(&rewritten, out)
}

/// Decodes one live WebSocket frame received at `receive_time_ns`,
/// appending its ticks to `out`.
///
/// Exactly what [`decode_line`] gives for the journal line
/// `{"ts": <receive time>, "raw": <frame>}`: the receive time is recorded and
/// stands in for the event time only where the frame has none. That is why
/// features computed live equal those replayed from the journal.
pub fn decode_frame(
    frame: &[u8],
    receive_time_ns: i64,
    out: &mut Vec<Tick>,
) -> Result<LineKind, DecodeError> {
    let trimmed = frame.trim_ascii();
    if trimmed.is_empty() {
        return Ok(LineKind::Control(Control::Blank));
    }
    let ctx = Context {
        receive_time_ns: Some(receive_time_ns),
        event_time_ns: Some(receive_time_ns),
        own_clock: true,
        ..Context::default()
    };
    let start = out.len();
    let parsed = parse_object(trimmed).and_then(|l| decode(&l, ctx, out, 1));
    if parsed.is_err() {
        out.truncate(start);
    }
    parsed
}

/// Parses a JSON object into [`Line`]. Anything but an object is refused here
/// because serde would otherwise read a JSON array as a struct's fields in order.
fn parse_object(bytes: &[u8]) -> Result<Line<'_>, DecodeError> {
    if bytes.first() != Some(&b'{') {
        return Err(match serde_json::from_slice::<de::IgnoredAny>(bytes) {
            Ok(_) => DecodeError::UnknownShape(": not a JSON object".into()),
            Err(e) => json_error(e),
        });
    }
    // One UTF-8 check of the whole line is cheaper than serde_json's check of
    // every string in it (measured with perf on replay); invalid UTF-8 goes
    // the slice way for serde_json's own error message.
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text).map_err(json_error),
        Err(_) => serde_json::from_slice(bytes).map_err(json_error),
    }
}

/// Times and sequence inherited from an enclosing wrapper or envelope.
#[derive(Debug, Clone, Copy, Default)]
struct Context {
    event_time_ns: Option<i64>,
    receive_time_ns: Option<i64>,
    sequence: Option<u64>,
    feed: Option<Feed>,
    /// The receive time is volspike's own clock (see the module's doc).
    own_clock: bool,
}

/// Deepest nesting of wrappers we follow (wrapper -> envelope -> ticker is 2).
const MAX_DEPTH: u8 = 4;

fn decode(
    l: &Line<'_>,
    ctx: Context,
    out: &mut Vec<Tick>,
    depth: u8,
) -> Result<LineKind, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::UnknownShape(
            ": wrappers nested too deep".into(),
        ));
    }
    // volspike's own normalized record: the flat fields are authoritative.
    if l.schema_version.is_some() {
        return flat_ticker(l, ctx, out).map(LineKind::Ticker);
    }
    // {ingest_time, product_id, payload: <Advanced Trade message>}
    if let Some(payload) = l.payload {
        let inner = parse_object(payload.get().as_bytes())?;
        let ctx = Context {
            receive_time_ns: opt_time(l.ingest_time.as_deref()).or(ctx.receive_time_ns),
            ..ctx
        };
        return decode(&inner, ctx, out, depth + 1);
    }
    // Advanced Trade envelope.
    if let Some(channel) = l.channel.as_deref() {
        return match channel {
            "ticker" | "ticker_batch" => envelope_tickers(l, ctx, out).map(LineKind::Ticker),
            "subscriptions" => Ok(LineKind::Control(Control::Subscriptions)),
            "heartbeats" => Ok(LineKind::Control(Control::Heartbeat)),
            _ => Ok(LineKind::Control(Control::OtherChannel)),
        };
    }
    // {timestamp, ..., raw: {...}} (seed recorder) and {ts, pair, raw: "..."} (Exchange slices).
    if let Some(raw) = l.raw {
        let receive = match l.ts {
            Some(ts) => parse_unix_seconds(ts.get()).ok(),
            None => opt_time(l.timestamp.as_deref()),
        }
        .or(ctx.receive_time_ns);
        let ctx = Context {
            receive_time_ns: receive,
            event_time_ns: ctx.event_time_ns.or(receive),
            own_clock: ctx.own_clock || l.is_volspike_record(),
            ..ctx
        };
        let text = raw.get();
        let inner_text: Cow<'_, str> = if text.starts_with('"') {
            serde_json::from_str::<Cow<'_, str>>(text).map_err(json_error)?
        } else {
            Cow::Borrowed(text)
        };
        let inner = parse_object(inner_text.as_bytes())?;
        return decode(&inner, ctx, out, depth + 1);
    }
    // Exchange messages, and Advanced Trade ticker objects, carry `type`.
    if let Some(kind) = l.kind.as_deref() {
        return match kind {
            "ticker" => flat_ticker(l, ctx, out).map(LineKind::Ticker),
            "subscriptions" => Ok(LineKind::Control(Control::Subscriptions)),
            "heartbeat" => Ok(LineKind::Control(Control::Heartbeat)),
            "error" => Ok(LineKind::Control(Control::ErrorMessage)),
            "snapshot" | "l2update" | "match" | "last_match" | "status" | "received" | "open"
            | "done" | "change" | "activate" | "auction" | "rfq_match" | "ticker_batch" => {
                Ok(LineKind::Control(Control::OtherChannel))
            }
            other => Err(DecodeError::UnknownShape(format!(
                ": type `{}`",
                truncate(other)
            ))),
        };
    }
    if l.product_id.is_some() && l.price.is_some() {
        return flat_ticker(l, ctx, out).map(LineKind::Ticker);
    }
    Err(DecodeError::UnknownShape(String::new()))
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(32) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn opt_time(s: Option<&str>) -> Option<i64> {
    s.and_then(|s| parse_time(s).ok())
}

/// What a [`DecodeError::MissingField`] message adds: the names that were
/// looked for, and how to read a recorder that uses another.
fn names_tried(field: &str) -> String {
    let names = match field {
        "timestamp" => {
            "event_time_ns, time, ws_timestamp, timestamp, event_time, ts, \
             then the receive time: receive_time_ns, received_at, a wrapper's ts or ingest_time"
        }
        "price" => "price",
        "product_id" => "product_id",
        _ => return String::new(),
    };
    format!(
        " (looked for {names}; `volspike replay --field {field}=NAME` reads it from another field)"
    )
}

#[derive(Deserialize)]
struct AtEvent<'a> {
    #[serde(borrow, default)]
    tickers: Vec<Line<'a>>,
}

fn envelope_tickers(l: &Line<'_>, ctx: Context, out: &mut Vec<Tick>) -> Result<usize, DecodeError> {
    let time = match l.timestamp.as_deref() {
        Some(t) => parse_time(t).map_err(|e| DecodeError::BadTimestamp(e.to_string()))?,
        None => ctx
            .event_time_ns
            .ok_or(DecodeError::MissingField("timestamp"))?,
    };
    let ctx = Context {
        event_time_ns: Some(time),
        sequence: l.sequence_num.map(|n| n.0).or(ctx.sequence),
        feed: Some(Feed::AdvancedTrade),
        ..ctx
    };
    let Some(events) = &l.events else {
        return Err(DecodeError::MissingField("events"));
    };
    let mut n = 0;
    for event in events {
        for ticker in &event.tickers {
            n += flat_ticker(ticker, ctx, out)?;
        }
    }
    Ok(n)
}

/// Reads one ticker from flat fields, filling gaps from the context.
fn flat_ticker(l: &Line<'_>, ctx: Context, out: &mut Vec<Tick>) -> Result<usize, DecodeError> {
    let product_id = match l.product_id.as_deref() {
        Some(p) if !p.is_empty() => p,
        Some(_) => {
            return Err(DecodeError::BadValue {
                field: "product_id",
                detail: "empty",
            });
        }
        None => return Err(DecodeError::MissingField("product_id")),
    };
    let price = l
        .price
        .and_then(|n| n.0)
        .ok_or(DecodeError::MissingField("price"))?;
    if price <= 0.0 {
        return Err(DecodeError::BadValue {
            field: "price",
            detail: "not positive",
        });
    }
    // The message's own time wins; an unreadable one (Coinbase's
    // 0001-01-01T00:00:00Z) falls back to the enclosing or recorder's time.
    let own_time = l
        .event_time_ns
        .or_else(|| opt_time(l.time.as_deref()))
        .or_else(|| opt_time(l.ws_timestamp.as_deref()))
        .or_else(|| opt_time(l.timestamp.as_deref()))
        .or_else(|| opt_time(l.event_time.as_deref()))
        .or_else(|| {
            l.ts.and_then(|ts| parse_time(ts.get().trim_matches('"')).ok())
        });
    let receive_time_ns = l
        .receive_time_ns
        .or_else(|| opt_time(l.received_at.as_deref()))
        .or(ctx.receive_time_ns);
    let event_time_ns = match own_time.or(ctx.event_time_ns).or(receive_time_ns) {
        Some(t) => t,
        None => {
            let seen = l
                .time
                .as_deref()
                .or(l.ws_timestamp.as_deref())
                .or(l.timestamp.as_deref())
                .or(l.event_time.as_deref())
                .or(l.ts.map(|ts| ts.get()));
            return Err(match seen {
                Some(s) => DecodeError::BadTimestamp(format!("`{}`", truncate(s))),
                None => DecodeError::MissingField("timestamp"),
            });
        }
    };
    if let Some(receive) = receive_time_ns
        && (ctx.own_clock || l.is_volspike_record())
        && event_time_ns.saturating_sub(receive) > MAX_EVENT_TIME_AHEAD_NS
    {
        return Err(DecodeError::FutureEventTime {
            event_time_ns,
            receive_time_ns: receive,
        });
    }
    let feed = l
        .feed
        .or(ctx.feed)
        .unwrap_or(if l.time.is_some() || l.trade_id.is_some() {
            Feed::Exchange
        } else {
            Feed::AdvancedTrade
        });
    let num = |n: Option<Num>| n.and_then(|n| n.0);
    out.push(Tick {
        product_id: product_id.into(),
        event_time_ns,
        receive_time_ns,
        price,
        best_bid: num(l.best_bid).or(num(l.bid)),
        best_ask: num(l.best_ask).or(num(l.ask)),
        best_bid_qty: num(l.best_bid_qty),
        best_ask_qty: num(l.best_ask_qty),
        volume_24h: num(l.volume_24h),
        low_24h: num(l.low_24h),
        high_24h: num(l.high_24h),
        sequence: l.sequence.or(l.sequence_num).map(|n| n.0).or(ctx.sequence),
        trade_id: l.trade_id.map(|n| n.0),
        feed,
    });
    Ok(1)
}

/// The union of the fields of every shape, borrowed from the input.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Line<'a> {
    #[serde(borrow)]
    channel: Option<Cow<'a, str>>,
    /// Parsed in the same pass as the envelope (not kept raw and parsed
    /// again): non-ticker events simply have no `tickers`.
    #[serde(borrow)]
    events: Option<Vec<AtEvent<'a>>>,
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    payload: Option<&'a RawValue>,
    #[serde(borrow)]
    raw: Option<&'a RawValue>,
    #[serde(borrow)]
    ts: Option<&'a RawValue>,
    #[serde(borrow)]
    ingest_time: Option<When<'a>>,
    #[serde(borrow)]
    received_at: Option<When<'a>>,
    #[serde(borrow)]
    timestamp: Option<When<'a>>,
    #[serde(borrow)]
    ws_timestamp: Option<When<'a>>,
    #[serde(borrow)]
    time: Option<When<'a>>,
    #[serde(borrow)]
    event_time: Option<When<'a>>,
    schema_version: Option<u32>,
    event_time_ns: Option<i64>,
    receive_time_ns: Option<i64>,
    feed: Option<Feed>,
    #[serde(borrow)]
    product_id: Option<Cow<'a, str>>,
    price: Option<Num>,
    best_bid: Option<Num>,
    best_ask: Option<Num>,
    /// Other recorders' names for the best bid and ask (read when
    /// `best_bid` and `best_ask` are absent).
    #[serde(alias = "bid_price")]
    bid: Option<Num>,
    #[serde(alias = "ask_price")]
    ask: Option<Num>,
    #[serde(alias = "best_bid_quantity", alias = "best_bid_size")]
    best_bid_qty: Option<Num>,
    #[serde(alias = "best_ask_quantity", alias = "best_ask_size")]
    best_ask_qty: Option<Num>,
    #[serde(alias = "volume_24_h")]
    volume_24h: Option<Num>,
    #[serde(alias = "low_24_h")]
    low_24h: Option<Num>,
    #[serde(alias = "high_24_h")]
    high_24h: Option<Num>,
    sequence_num: Option<Int>,
    sequence: Option<Int>,
    trade_id: Option<Int>,
    /// The ingestor's connection and frame numbers, on its journal lines
    /// and `ticks.raw` records (only their presence matters here).
    conn: Option<de::IgnoredAny>,
    frame: Option<de::IgnoredAny>,
}

impl Line<'_> {
    /// A journal line or `ticks.raw` record the ingestor wrote: its receive
    /// time is volspike's own clock.
    fn is_volspike_record(&self) -> bool {
        self.conn.is_some() && self.frame.is_some()
    }
}

/// A time field as recorders write it: text (RFC 3339, or unix epoch
/// digits) borrowed from the input, or a JSON number (unix epoch), kept as
/// its text for [`parse_time`].
#[derive(Default)]
struct When<'a>(Cow<'a, str>);

impl std::ops::Deref for When<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for When<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = When<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a time as text or a unix epoch number")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<When<'de>, E> {
                Ok(When(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<When<'de>, E> {
                Ok(When(Cow::Owned(v.to_owned())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<When<'de>, E> {
                Ok(When(Cow::Owned(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<When<'de>, E> {
                Ok(When(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<When<'de>, E> {
                Ok(When(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

/// A finite number written as a JSON number or a decimal string; an empty
/// string means "absent".
#[derive(Debug, Clone, Copy, Default)]
struct Num(Option<f64>);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a finite number or a decimal string")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
                if v.is_finite() {
                    Ok(Num(Some(v)))
                } else {
                    Err(E::custom("non-finite number"))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
                Ok(Num(Some(v as f64)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
                Ok(Num(Some(v as f64)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Num, E> {
                if v.is_empty() {
                    return Ok(Num(None));
                }
                // Rust's parser also accepts "inf" and "NaN"; Coinbase never sends them.
                match v.parse::<f64>() {
                    Ok(x) if x.is_finite() => Ok(Num(Some(x))),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A non-negative integer written as a JSON number or a string.
#[derive(Debug, Clone, Copy)]
struct Int(u64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer or an integer string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                u64::try_from(v)
                    .map(Int)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Int, E> {
                v.parse()
                    .map(Int)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_timestamp;
    use proptest::prelude::*;

    fn one(line: &str) -> Tick {
        let mut out = Vec::new();
        assert_eq!(
            decode_line(line.as_bytes(), &mut out),
            Ok(LineKind::Ticker(1)),
            "{line}"
        );
        out.pop().unwrap()
    }

    fn err(line: &[u8]) -> &'static str {
        let mut out = Vec::new();
        let e = decode_line(line, &mut out).unwrap_err();
        assert!(out.is_empty());
        e.reason()
    }

    #[test]
    fn every_reason_is_listed_once() {
        let all = [
            DecodeError::InvalidJson(String::new()),
            DecodeError::WrongType(String::new()),
            DecodeError::UnknownShape(String::new()),
            DecodeError::MissingField("price"),
            DecodeError::BadValue {
                field: "price",
                detail: "zero",
            },
            DecodeError::BadTimestamp(String::new()),
            DecodeError::FutureEventTime {
                event_time_ns: 0,
                receive_time_ns: 0,
            },
        ];
        let reasons: Vec<_> = all.iter().map(DecodeError::reason).collect();
        assert_eq!(reasons, DecodeError::REASONS);
    }

    const AT_TICKER: &str = r#"{"type": "ticker", "product_id": "BTC-USD", "price": "67223.5", "volume_24_h": "2401.16054813", "low_24_h": "66770.64", "high_24_h": "67535.2", "low_52_w": "60001", "high_52_w": "126296", "price_percent_chg_24_h": "0.54", "best_bid": "67223.49", "best_ask": "67223.5", "best_bid_quantity": "0.56309243", "best_ask_quantity": "0.25094364"}"#;

    #[test]
    fn advanced_trade_envelope_with_several_tickers() {
        let line = format!(
            r#"{{"channel": "ticker", "timestamp": "2026-04-04T21:13:43.291084825Z", "sequence_num": 7, "events": [{{"type": "snapshot", "tickers": [{AT_TICKER}, {}]}}]}}"#,
            AT_TICKER.replace("BTC-USD", "ETH-USD")
        );
        let mut out = Vec::new();
        assert_eq!(
            decode_line(line.as_bytes(), &mut out),
            Ok(LineKind::Ticker(2))
        );
        assert_eq!(out[0].product_id, "BTC-USD");
        assert_eq!(out[1].product_id, "ETH-USD");
        let t = &out[0];
        assert_eq!(
            t.event_time_ns,
            parse_timestamp("2026-04-04T21:13:43.291084825Z").unwrap()
        );
        assert_eq!(t.sequence, Some(7));
        assert_eq!(t.price, 67223.5);
        assert_eq!(t.best_bid_qty, Some(0.56309243));
        assert_eq!(t.volume_24h, Some(2401.16054813));
        assert_eq!(t.high_24h, Some(67535.2));
        assert_eq!(t.feed, Feed::AdvancedTrade);
        assert_eq!(t.receive_time_ns, None);
    }

    #[test]
    fn wrapped_envelope_takes_receive_time_from_ingest_time() {
        let line = format!(
            r#"{{"ingest_time": "2026-04-05T22:35:13.865365+00:00", "product_id": "BTC-USD", "payload": {{"channel": "ticker", "timestamp": "2026-04-05T22:35:13.92532762Z", "sequence_num": 0, "events": [{{"type": "snapshot", "tickers": [{AT_TICKER}]}}]}}}}"#
        );
        let t = one(&line);
        assert_eq!(
            t.receive_time_ns,
            Some(parse_timestamp("2026-04-05T22:35:13.865365Z").unwrap())
        );
        assert_eq!(
            t.event_time_ns,
            parse_timestamp("2026-04-05T22:35:13.92532762Z").unwrap()
        );
    }

    #[test]
    fn flat_tickers_in_both_spellings_and_float_numbers() {
        let a = one(
            r#"{"product_id": "BTC-USD", "price": "67377.24", "best_bid": "67377.23", "best_ask": "67377.24", "volume_24_h": "2415.76930637", "timestamp": "2026-04-04T22:54:57.175677226Z"}"#,
        );
        let b = one(
            r#"{"product_id": "BTC-USD", "price": 67377.24, "best_bid": 67377.23, "best_ask": 67377.24, "volume_24h": 2415.76930637, "timestamp": "2026-04-04T22:54:57.175677226Z"}"#,
        );
        assert_eq!(a, b);
        let m = one(
            r#"{"product_id": "ETH-USD", "price": "2050.83", "best_bid": "2050.82", "best_bid_qty": "0.72331196", "best_ask": "2050.83", "best_ask_qty": "2.54150181", "volume_24h": "51644.2478257", "low_24h": "2041.4", "high_24h": "2081.74", "price_pct_chg_24h": "-0.17", "ws_timestamp": "2026-04-04T03:19:18.800006163Z", "sequence_num": 1, "event_type": "snapshot", "received_at": "2026-04-04T03:19:18.802789+00:00"}"#,
        );
        assert_eq!(m.sequence, Some(1));
        assert_eq!(m.best_ask_qty, Some(2.54150181));
        assert_eq!(
            m.receive_time_ns,
            Some(parse_timestamp("2026-04-04T03:19:18.802789Z").unwrap())
        );
        assert_eq!(
            m.event_time_ns,
            parse_timestamp("2026-04-04T03:19:18.800006163Z").unwrap()
        );
    }

    #[test]
    fn seed_recorder_line_uses_raw_object_and_capture_time() {
        let line = format!(
            r#"{{"timestamp": "2025-11-08T15:12:31.463496", "product_id": "BTC-USD", "price": "1", "volume_24h": "1", "low_24h": "1", "high_24h": "1", "best_bid": "1", "best_ask": "1", "raw": {AT_TICKER}}}"#
        );
        let t = one(&line);
        let capture = parse_timestamp("2025-11-08T15:12:31.463496Z").unwrap();
        assert_eq!(
            (t.event_time_ns, t.receive_time_ns),
            (capture, Some(capture))
        );
        assert_eq!(t.price, 67223.5, "fields come from the raw ticker");
        assert_eq!(t.best_ask_qty, Some(0.25094364));
    }

    #[test]
    fn exchange_message_stored_as_a_json_string() {
        let line = r#"{"ts":1762932011.629353,"pair":"BTC-USD","raw":"{\"type\":\"ticker\",\"sequence\":115498669093,\"product_id\":\"BTC-USD\",\"price\":\"103472.28\",\"open_24h\":\"104763.2\",\"volume_24h\":\"5461.74127717\",\"low_24h\":\"102422.43\",\"high_24h\":\"105504.83\",\"volume_30d\":\"222137.61075405\",\"best_bid\":\"103472.27\",\"best_bid_size\":\"0.04145138\",\"best_ask\":\"103472.28\",\"best_ask_size\":\"0.02560996\",\"side\":\"buy\",\"time\":\"2025-11-12T07:20:11.615272Z\",\"trade_id\":900701309,\"last_size\":\"0.00068754\"}"}"#;
        let t = one(line);
        assert_eq!(t.feed, Feed::Exchange);
        assert_eq!(t.sequence, Some(115498669093));
        assert_eq!(t.trade_id, Some(900701309));
        assert_eq!(t.best_bid_qty, Some(0.04145138));
        assert_eq!(t.receive_time_ns, Some(1_762_932_011_629_353_000));
        assert_eq!(
            t.event_time_ns,
            parse_timestamp("2025-11-12T07:20:11.615272Z").unwrap()
        );
    }

    #[test]
    fn exchange_zero_time_falls_back_to_receive_time() {
        let line = r#"{"ts":1762932011.5,"raw":"{\"type\":\"ticker\",\"product_id\":\"BTC-USD\",\"price\":\"1.5\",\"time\":\"0001-01-01T00:00:00Z\",\"trade_id\":1}"}"#;
        assert_eq!(one(line).event_time_ns, 1_762_932_011_500_000_000);
        let bare = r#"{"type":"ticker","product_id":"BTC-USD","price":"1.5","time":"0001-01-01T00:00:00Z"}"#;
        assert_eq!(err(bare.as_bytes()), "bad_timestamp");
    }

    /// An Advanced Trade envelope stamped `time`.
    fn envelope_at(time: &str) -> String {
        format!(
            r#"{{"channel":"ticker","timestamp":"{time}","sequence_num":7,"events":[{{"type":"update","tickers":[{AT_TICKER}]}}]}}"#
        )
    }

    #[test]
    fn a_tick_far_ahead_of_volspike_s_own_receive_time_is_refused_live_and_in_replay() {
        let received = parse_timestamp("2026-04-04T21:13:43Z").unwrap();
        let live = |time: &str| {
            let mut out = Vec::new();
            let r = decode_frame(envelope_at(time).as_bytes(), received, &mut out);
            (r, out.len())
        };
        // Within the minute: clock skew, accepted.
        assert!(matches!(
            live("2026-04-04T21:14:42Z").0,
            Ok(LineKind::Ticker(1))
        ));
        // Past it: refused, nothing appended, the reason named.
        let (r, n) = live("2099-01-01T00:00:00Z");
        let e = r.unwrap_err();
        assert_eq!((e.reason(), n), ("future_event_time", 0));
        assert!(
            e.to_string().contains("2099-01-01T00:00:00.000000000Z is"),
            "{e}"
        );
        assert!(live("2026-04-04T21:14:44Z").0.is_err());
        // The journal line of the same frame reads the same.
        let journal = format!(
            r#"{{"ts":{}.0,"conn":3,"frame":41,"raw":{}}}"#,
            received / 1_000_000_000,
            envelope_at("2099-01-01T00:00:00Z")
        );
        assert_eq!(err(journal.as_bytes()), "future_event_time");
        // Another recorder's `{ts, raw}` line: its capture time is not ours
        // to judge (it may be local time without a zone), so it reads.
        let foreign = format!(
            r#"{{"ts":{}.0,"pair":"BTC-USD","raw":{}}}"#,
            received / 1_000_000_000,
            envelope_at("2099-01-01T00:00:00Z")
        );
        assert_eq!(
            one(&foreign).event_time_ns,
            parse_timestamp("2099-01-01T00:00:00Z").unwrap()
        );
    }

    #[test]
    fn the_ingestor_s_own_record_of_a_future_tick_is_refused_too() {
        let mut ticks = Vec::new();
        decode_line(envelope_at("2099-01-01T00:00:00Z").as_bytes(), &mut ticks).unwrap();
        let mut t = ticks.pop().unwrap();
        t.receive_time_ns = Some(parse_timestamp("2026-04-04T21:13:43Z").unwrap());
        let raw: &RawValue = serde_json::from_str("{}").unwrap();
        let mut record = Vec::new();
        crate::tick::write_tick_record(
            &mut record,
            &t,
            crate::tick::TickSource {
                conn: 1,
                frame: 2,
                raw,
            },
        )
        .unwrap();
        assert_eq!(err(&record), "future_event_time");
    }

    /// A flat ticker line of an unseen recorder whose time is `field: value`.
    fn flat_with(field: &str, value: &str) -> String {
        format!(
            r#"{{"product_id": "BTC-USD", "price": "67223.5", "bid": 67223.49, "ask": "67223.5", "{field}": {value}}}"#
        )
    }

    /// The event time a flat ticker with `field: value` reads as.
    fn time_of(field: &str, value: &str) -> i64 {
        one(&flat_with(field, value)).event_time_ns
    }

    fn at_43_291() -> i64 {
        parse_timestamp("2026-04-04T21:13:43.291Z").unwrap()
    }

    #[test]
    fn a_flat_ticker_reads_its_time_from_ts_as_text_or_any_unix_unit() {
        for value in [
            r#""2026-04-04T21:13:43.291Z""#,
            "1775337223.291",
            "1775337223291",
            r#""1775337223291000""#,
            "1775337223291000000",
        ] {
            assert_eq!(time_of("ts", value), at_43_291(), "ts: {value}");
        }
    }

    #[test]
    fn a_flat_ticker_reads_its_time_from_time() {
        assert_eq!(
            time_of("time", r#""2026-04-04T21:13:43.291Z""#),
            at_43_291()
        );
        assert_eq!(time_of("time", "1775337223291000"), at_43_291());
    }

    #[test]
    fn a_flat_ticker_reads_its_time_from_event_time() {
        assert_eq!(
            time_of("event_time", r#""2026-04-04 21:13:43.291 +0000 UTC""#),
            at_43_291()
        );
        assert_eq!(time_of("event_time", r#""1775337223291""#), at_43_291());
    }

    #[test]
    fn a_flat_ticker_with_only_received_at_takes_it_as_its_time() {
        let t = one(&flat_with("received_at", r#""2026-04-04T21:13:43.291Z""#));
        assert_eq!(
            (t.event_time_ns, t.receive_time_ns),
            (at_43_291(), Some(at_43_291()))
        );
    }

    #[test]
    fn a_flat_ticker_reads_times_with_any_offset() {
        for value in [
            r#""2026-04-04T21:13:43.291+00:00""#,
            r#""2026-04-04T23:13:43.291+02:00""#,
            r#""2026-04-04T16:13:43.291-0500""#,
            "1775337223.291",
        ] {
            assert_eq!(
                time_of("timestamp", value),
                at_43_291(),
                "timestamp: {value}"
            );
        }
    }

    #[test]
    fn a_flat_ticker_reads_bid_and_ask() {
        let t = one(&flat_with("ts", "1775337223"));
        assert_eq!((t.best_bid, t.best_ask), (Some(67223.49), Some(67223.5)));
    }

    #[test]
    fn a_flat_ticker_reads_bid_price_and_ask_price_and_best_bid_wins() {
        let t = one(
            r#"{"product_id": "BTC-USD", "price": "1", "bid_price": "0.5", "ask_price": "1.5", "best_bid": "0.9", "ts": 1775337223}"#,
        );
        assert_eq!((t.best_bid, t.best_ask), (Some(0.9), Some(1.5)));
    }

    #[test]
    fn a_missing_time_names_every_field_tried_and_the_way_out() {
        let mut out = Vec::new();
        let e = decode_line(
            flat_with("exch_ts", r#""2026-04-04T21:13:43Z""#).as_bytes(),
            &mut out,
        )
        .unwrap_err();
        assert_eq!(e.reason(), "missing_field");
        let text = e.to_string();
        for name in [
            "ws_timestamp",
            "event_time",
            "ts",
            "received_at",
            "--field timestamp=NAME",
        ] {
            assert!(text.contains(name), "{text}");
        }
    }

    #[test]
    fn a_field_map_reads_a_recorder_s_own_names() {
        let line = r#"{"sym": "ETH-USD", "px": 2050.5, "exch_ts": "2026-04-04T21:13:43Z", "ts": "garbage"}"#;
        let mut fields = FieldMap::default();
        for spec in ["product_id=sym", "price=px", "timestamp=exch_ts"] {
            fields.add(spec).unwrap();
        }
        let mut out = Vec::new();
        assert_eq!(
            decode_line_mapped(line.as_bytes(), &fields, &mut out),
            Ok(LineKind::Ticker(1))
        );
        assert_eq!(out[0].product_id.as_str(), "ETH-USD");
        assert_eq!(out[0].price, 2050.5);
        assert_eq!(
            out[0].event_time_ns,
            parse_timestamp("2026-04-04T21:13:43Z").unwrap()
        );
        // Unmapped, the same line is unreadable; lines without the fields
        // decode as they are.
        assert!(decode_line(line.as_bytes(), &mut Vec::new()).is_err());
        let plain = flat_with("ts", "1775337223");
        assert_eq!(
            decode_line_mapped(plain.as_bytes(), &fields, &mut Vec::new()),
            Ok(LineKind::Ticker(1))
        );
        // Bad specifications say why.
        assert!(
            FieldMap::default()
                .add("timestamp")
                .unwrap_err()
                .contains("NAME=SOURCE")
        );
        assert!(
            FieldMap::default()
                .add("colour=c")
                .unwrap_err()
                .contains("one of: product_id")
        );
    }

    #[test]
    fn control_messages_are_recognised() {
        let cases = [
            (
                r#"{"channel":"subscriptions","timestamp":"2026-04-05T22:35:13.925350911Z","sequence_num":1,"events":[{"subscriptions":{"ticker":["BTC-USD"]}}]}"#,
                Control::Subscriptions,
            ),
            (
                r#"{"channel":"heartbeats","timestamp":"x","sequence_num":3,"events":[{"current_time":"2023-06-23 20:31:56.121961769 +0000 UTC m=+91717.52","heartbeat_counter":"3049"}]}"#,
                Control::Heartbeat,
            ),
            (
                r#"{"type":"heartbeat","sequence":90,"last_trade_id":20,"product_id":"BTC-USD","time":"2025-11-12T07:20:11.615272Z"}"#,
                Control::Heartbeat,
            ),
            (
                r#"{"type":"subscriptions","channels":[{"name":"ticker","product_ids":["BTC-USD"]}]}"#,
                Control::Subscriptions,
            ),
            (
                r#"{"type":"error","message":"Failed to subscribe","reason":"FOO-USD is not a valid product"}"#,
                Control::ErrorMessage,
            ),
            (
                r#"{"channel":"market_trades","events":[]}"#,
                Control::OtherChannel,
            ),
            ("   ", Control::Blank),
        ];
        for (line, kind) in cases {
            let mut out = Vec::new();
            assert_eq!(
                decode_line(line.as_bytes(), &mut out),
                Ok(LineKind::Control(kind)),
                "{line}"
            );
            assert!(out.is_empty());
        }
    }

    #[test]
    fn normalized_record_round_trips_floats_exactly() {
        let t = Tick {
            product_id: "BTC-USD".into(),
            event_time_ns: 1_775_337_223_291_084_825,
            receive_time_ns: Some(1_775_337_223_300_000_000),
            price: 0.1 + 0.2,
            best_bid: Some(67223.49),
            best_ask: None,
            best_bid_qty: Some(1e-8),
            best_ask_qty: None,
            volume_24h: Some(2401.16054813),
            low_24h: None,
            high_24h: None,
            sequence: Some(u64::MAX),
            trade_id: None,
            feed: Feed::Exchange,
        };
        let mut v = serde_json::to_value(&t).unwrap();
        v["schema_version"] = 1.into();
        assert_eq!(one(&v.to_string()), t);
    }

    #[test]
    fn malformed_lines_have_reasons() {
        assert_eq!(
            err(br#"{"channel": "ticker", "timestamp": "2026-04-04T21:13"#),
            "invalid_json"
        );
        assert_eq!(err(b"\x00\xff\xfe garbage"), "invalid_json");
        assert_eq!(err(br#"{"product_id": "BTC-USD", "price": {"a": 1}, "timestamp": "2026-04-04T22:54:57Z"}"#), "wrong_type");
        assert_eq!(err(br#"{"product_id": "BTC-USD", "price": "abc", "timestamp": "2026-04-04T22:54:57Z"}"#), "wrong_type");
        assert_eq!(err(br#"{"hello": "world"}"#), "unknown_shape");
        assert_eq!(err(br#"[1, 2, 3]"#), "unknown_shape");
        assert_eq!(err(br#"{"type": "mystery"}"#), "unknown_shape");
        assert_eq!(
            err(br#"{"product_id": "BTC-USD", "price": "1"}"#),
            "missing_field"
        );
        assert_eq!(
            err(br#"{"product_id": "BTC-USD", "price": "0", "timestamp": "2026-04-04T22:54:57Z"}"#),
            "bad_value"
        );
        assert_eq!(err(br#"{"channel": "ticker", "timestamp": "2026-04-04T21:13:43Z", "events": [{"tickers": [{"product_id": "X"}]}]}"#), "missing_field");
    }

    proptest! {
        #[test]
        fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut out = Vec::new();
            let _ = decode_line(&bytes, &mut out);
        }

        #[test]
        fn never_panics_on_json_like_text(s in r#"[{}\[\]":,a-z0-9_. \\-]{0,200}"#) {
            let mut out = Vec::new();
            let _ = decode_line(s.as_bytes(), &mut out);
        }

        #[test]
        fn never_panics_on_mutated_real_lines(cut in 0usize..600, flip in 0usize..600, byte in any::<u8>()) {
            let line = format!(r#"{{"channel": "ticker", "timestamp": "2026-04-04T21:13:43.291084825Z", "sequence_num": 7, "events": [{{"type": "update", "tickers": [{AT_TICKER}]}}]}}"#);
            let mut bytes = line.into_bytes();
            if flip < bytes.len() { bytes[flip] = byte; }
            bytes.truncate(cut.max(1));
            let mut out = Vec::new();
            if let Ok(LineKind::Ticker(n)) = decode_line(&bytes, &mut out) {
                prop_assert_eq!(n, out.len());
            }
        }
    }
}
