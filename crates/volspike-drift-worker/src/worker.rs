//! The worker's state and what it does with each record: archive and watch
//! feature rows, join predictions with their outcomes, judge windows, keep
//! the champion's live performance, and decide when to retrain.
//!
//! Time is the stream's event time (the latest row's), never the wall
//! clock: windows, the policy's cooldown and schedule, and the archive all
//! follow the data, so a replay decides as the live run did.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use serde::Serialize;
use volspike_core::{FeatureRow, Prediction, PredictionOutcome};
use volspike_drift::detector::Severity;
use volspike_drift::monitor::MonitorConfig;
use volspike_drift::outcomes::{Joiner, Labeling};
use volspike_drift::performance::{Bootstrap, block_rows, live_performance, performance_drift};
use volspike_drift::policy::{Evidence, Policy, PolicyConfig};
use volspike_drift::table::STATIONARY_FEATURES;
use volspike_drift::watch::{
    ClosedWindow, FeatureWatch, Histogram, WatchConfig, WatchEvent, score_drift,
};
use volspike_mlflow::AnyRegistry;
use volspike_model::alerts::{AlertAt, AlertEngine, LabeledRow, evaluate_alerts};
use volspike_model::artifact::ModelFile;
use volspike_model::registry::{CHAMPION, Registry as _};
use volspike_runtime::Config;

use crate::archive::Archive;
use crate::metrics_names as m;
use crate::report::{
    CheckRecord, Decision, OutcomeCounts, PerformanceRecord, REPORT_SCHEMA_VERSION,
    ReferenceRecord, ScoreRecord, WindowRecord,
};

const HOUR_NS: i64 = 3_600_000_000_000;

/// Recent windows kept for the admin endpoints.
const RECENT_WINDOWS: usize = 200;

/// The model the worker watches and retrains against.
#[derive(Debug, Clone, Serialize)]
pub struct Champion {
    /// Registered name.
    pub name: String,
    /// Registry version.
    pub version: u64,
    /// Its file.
    #[serde(skip)]
    pub file: ModelFile,
}

/// One window in the recent history.
#[derive(Debug, Clone, Serialize)]
pub struct WindowSummary {
    /// Window start, ns.
    pub start_ns: i64,
    /// Window end, ns.
    pub end_ns: i64,
    /// Severity.
    pub severity: Severity,
    /// Features drifting.
    pub drifting: usize,
    /// Warm rows.
    pub rows: u64,
}

/// A retrain in progress.
#[derive(Debug, Clone, Serialize)]
pub struct Running {
    /// Its sequence number.
    pub retrain: u64,
    /// Why.
    pub triggers: Vec<String>,
    /// Event time it started at, ns.
    pub at_ns: i64,
}

/// What the admin endpoints show; written by the worker loop only.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Status {
    /// The champion watched.
    pub champion: Option<Champion>,
    /// The reference in use.
    pub reference: Option<ReferenceRecord>,
    /// Reference event time gathered so far while there is none, ns.
    pub reference_collected_ns: i64,
    /// The latest closed window.
    pub last_window: Option<WindowRecord>,
    /// The latest window's histograms (reference vs window).
    #[serde(skip)]
    pub histograms: Vec<Histogram>,
    /// Recent windows, oldest first.
    pub windows: VecDeque<WindowSummary>,
    /// Windows closed.
    pub windows_closed: u64,
    /// The outcome join so far.
    pub outcomes: OutcomeCounts,
    /// The retrain running now.
    pub running: Option<Running>,
    /// The latest decision.
    pub last_decision: Option<Decision>,
    /// Decisions by verdict.
    pub decisions: BTreeMap<String, u64>,
    /// Feature rows read.
    pub rows: u64,
    /// Warm feature rows that came after their drift window was judged.
    pub rows_late: u64,
    /// The stream's latest event time, ns.
    pub watermark_ns: i64,
}

/// State shared by the worker loop and the admin endpoints.
#[derive(Debug, Default)]
pub struct Shared {
    /// What the endpoints show.
    pub status: Mutex<Status>,
}

impl Shared {
    /// A copy of the status.
    pub fn snapshot(&self) -> Status {
        self.status.lock().expect("status lock").clone()
    }

    fn update(&self, f: impl FnOnce(&mut Status)) {
        f(&mut self.status.lock().expect("status lock"));
    }
}

/// What the worker produced from one input record.
#[derive(Debug, Default)]
pub struct Produced {
    /// Outcomes for `predictions.outcomes`.
    pub outcomes: Vec<PredictionOutcome>,
    /// Records for `drift.reports`.
    pub reports: Vec<WindowRecord>,
    /// A retrain is due (automatic triggers): the triggers, and the end of
    /// the window that made it due, where the retrain's data ends.
    pub retrain_due: Option<(Vec<String>, i64)>,
}

/// The worker's state.
#[derive(Debug)]
pub struct Worker {
    cfg: Config,
    registry: Arc<AnyRegistry>,
    shared: Arc<Shared>,
    joiner: Joiner,
    watch: FeatureWatch,
    archive: Archive,
    policy: Option<Policy>,
    champion: Option<Champion>,
    labelings: HashMap<String, Option<Labeling>>,
    /// The champion's scores by the start of the window of their row.
    window_scores: BTreeMap<i64, Vec<f64>>,
    /// The champion's matured outcomes: (matured at, label, probability,
    /// product, event time).
    performance: VecDeque<(i64, bool, f64, String, i64)>,
    /// The champion's alert policy run over its predictions, as the server
    /// runs it (`volspike_model::alerts`), and the alerts it raised:
    /// (product, event time).
    alerting: Option<AlertEngine>,
    champion_alerts: VecDeque<(String, i64)>,
    /// Matured outcomes per hour of maturity: (rows, spikes).
    evidence: BTreeMap<i64, (u64, u64)>,
    last_verdict: Option<volspike_drift::performance::PerformanceVerdict>,
    watermark: i64,
    offsets: BTreeMap<i32, i64>,
    unknown_model: u64,
    retrains: u64,
}

/// The features the worker watches: `drift.inputs`, or the stationary ones.
pub fn watched(cfg: &Config) -> Vec<String> {
    if cfg.drift.inputs.is_empty() {
        STATIONARY_FEATURES
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    } else {
        cfg.drift.inputs.clone()
    }
}

/// The policy settings of the configuration.
pub fn policy_config(cfg: &Config) -> PolicyConfig {
    let r = &cfg.drift.retrain;
    PolicyConfig {
        drift_severity: r.severity,
        drift_windows: r.windows,
        schedule: r.schedule,
        min_rows: r.min_rows,
        min_positives: r.min_positives,
        cooldown: r.cooldown,
        max_promotions_per_day: r.max_promotions_per_day,
    }
}

impl Worker {
    /// A worker with no champion yet (see [`Worker::refresh_champion`]).
    pub fn new(
        cfg: Config,
        registry: Arc<AnyRegistry>,
        shared: Arc<Shared>,
    ) -> anyhow::Result<Worker> {
        let d = &cfg.drift;
        let watch = FeatureWatch::new(WatchConfig {
            features: watched(&cfg),
            monitor: MonitorConfig {
                statistic: d.statistic,
                window: d.window,
                draws: d.draws,
                false_alarm_rate: d.false_alarm_rate,
                seed: d.seed,
                k: d.consecutive,
            },
            reference: d.reference,
            allowed_lateness: d.allowed_lateness,
        })?;
        let archive = Archive::open(&d.data_dir.join("archive"), d.archive_days)?;
        Ok(Worker {
            joiner: Joiner::new(d.outcome_retention),
            watch,
            archive,
            policy: None,
            champion: None,
            labelings: HashMap::new(),
            window_scores: BTreeMap::new(),
            performance: VecDeque::new(),
            alerting: None,
            champion_alerts: VecDeque::new(),
            evidence: BTreeMap::new(),
            last_verdict: None,
            watermark: i64::MIN,
            offsets: BTreeMap::new(),
            unknown_model: 0,
            retrains: 0,
            cfg,
            registry,
            shared,
        })
    }

    /// The champion watched.
    pub fn champion(&self) -> Option<&Champion> {
        self.champion.as_ref()
    }

    /// Re-reads the champion alias; on a change, loads the new champion,
    /// forgets the old one's live performance, and recalibrates on its
    /// training span if the archive holds it. Returns whether it changed.
    pub async fn refresh_champion(&mut self) -> anyhow::Result<bool> {
        let name = self.cfg.registry.model_name.clone();
        let Some(version) = self.registry.alias(&name, CHAMPION).await? else {
            return Ok(false);
        };
        if self.champion.as_ref().is_some_and(|c| c.version == version) {
            return Ok(false);
        }
        let file = self.registry.load(&name, version).await?;
        self.labelings.insert(
            version.to_string(),
            Some(Labeling {
                label: file.label.clone(),
                tau: file.tau,
            }),
        );
        tracing::info!(%name, version, kind = file.model.name(), "watching the champion");
        metrics::gauge!(m::CHAMPION_VERSION).set(version as f64);
        let span = file.train_span_ns;
        self.alerting = Some(AlertEngine::new(file.alert_policy()));
        self.champion_alerts.clear();
        self.champion = Some(Champion {
            name,
            version,
            file,
        });
        self.performance.clear();
        self.window_scores.clear();
        self.last_verdict = None;
        self.calibrate_on_archive(span)?;
        let c = self.champion.clone();
        self.shared.update(|s| s.champion = c);
        Ok(true)
    }

    /// Calibrates on the archived rows of `span` when they cover at least
    /// two windows; otherwise the watch keeps (or keeps gathering) its
    /// reference.
    fn calibrate_on_archive(&mut self, span: (i64, i64)) -> anyhow::Result<()> {
        let rows = self.archive.read(span.0, span.1)?;
        let covered = match (rows.first(), rows.last()) {
            (Some(a), Some(b)) => b.event_time_ns - a.event_time_ns,
            _ => 0,
        };
        let need = i64::try_from(self.cfg.drift.window.as_nanos() * 2).unwrap_or(i64::MAX);
        if covered < need {
            tracing::info!(
                rows = rows.len(),
                "the archive does not hold the champion's training span; the reference comes from the stream"
            );
            return Ok(());
        }
        let event = self.watch.calibrate_from(&rows);
        self.on_calibration(&event, "archive");
        Ok(())
    }

    fn on_calibration(&mut self, event: &WatchEvent, source: &str) {
        match event {
            WatchEvent::Calibrated(c) => {
                for (name, t) in &c.thresholds {
                    metrics::gauge!(m::FEATURE_THRESHOLD, "feature" => name.clone()).set(*t);
                }
                for e in &c.excluded {
                    tracing::warn!(feature = %e.name, reason = %e.reason, "feature not watched");
                }
                tracing::info!(
                    source,
                    rows = c.rows,
                    features = c.thresholds.len(),
                    "drift reference calibrated"
                );
                let r = ReferenceRecord::new(source, c);
                self.shared.update(|s| s.reference = Some(r));
            }
            WatchEvent::CalibrationFailed(excluded) => {
                tracing::warn!(
                    ?excluded,
                    "no feature could be calibrated; gathering a new reference"
                );
            }
            WatchEvent::Window(_) => {}
        }
    }

    /// Notes the next offset of a `ticks.features` partition.
    pub fn note_offset(&mut self, partition: i32, next: i64) {
        self.offsets.insert(partition, next);
    }

    /// Takes a feature row.
    pub fn push_row(&mut self, row: FeatureRow) -> anyhow::Result<Produced> {
        metrics::counter!(m::ROWS_IN).increment(1);
        self.watermark = self.watermark.max(row.event_time_ns);
        let now = self.watermark;
        if self.policy.is_none() {
            self.policy = Some(Policy::new(policy_config(&self.cfg), now));
        }
        let mut out = Produced::default();
        for o in self.joiner.push_row(&row) {
            self.matured(&o);
            out.outcomes.push(o);
        }
        let expired = self.joiner.expire(now);
        if expired > 0 {
            metrics::counter!(m::OUTCOMES, "fate" => "expired").increment(expired);
        }
        let late_before = self.watch.late_rows();
        let events = self.watch.push(&row);
        let late = self.watch.late_rows();
        metrics::counter!(m::ROWS_LATE).increment(late - late_before);
        self.archive.push(row);
        self.on_watch(events, &mut out)?;
        let collected = self.watch.collected_ns();
        let rows_total = self.joiner.counts().rows;
        self.shared.update(|s| {
            s.rows = rows_total;
            s.watermark_ns = now;
            s.reference_collected_ns = collected;
            s.rows_late = late;
        });
        Ok(out)
    }

    /// Handles what the watch completed: a reference, or windows (each a
    /// report; the first that makes a retrain due sets `retrain_due`).
    fn on_watch(&mut self, events: Vec<WatchEvent>, out: &mut Produced) -> anyhow::Result<()> {
        for event in events {
            match event {
                WatchEvent::Window(w) => {
                    let end_ns = w.end_ns;
                    let (record, due) = self.close_window(w)?;
                    out.reports.push(record);
                    if out.retrain_due.is_none() {
                        out.retrain_due = due.map(|t| (t, end_ns));
                    }
                }
                e => self.on_calibration(&e, "stream"),
            }
        }
        Ok(())
    }

    /// Takes a prediction: its outcome when its window has already passed,
    /// and the windows it completed. Windows wait for the predictions as
    /// for the products' rows, so a window is judged with all the scores
    /// and outcomes of its time.
    pub async fn push_prediction(&mut self, p: Prediction) -> anyhow::Result<Produced> {
        metrics::counter!(m::PREDICTIONS_IN).increment(1);
        let mut out = Produced::default();
        // The windows it completes end at or before its time, so its own
        // score and outcome belong to none of them.
        let events = self
            .watch
            .push_prediction_time(&p.product_id, p.event_time_ns);
        out.outcomes.extend(self.push_scored(p).await);
        self.on_watch(events, &mut out)?;
        Ok(out)
    }

    /// Joins a prediction; its outcome when its window has already passed.
    async fn push_scored(&mut self, p: Prediction) -> Option<PredictionOutcome> {
        let version = p.model.version.clone();
        if !self.labelings.contains_key(&version) {
            let labeling = self.labeling_of(&p).await;
            self.labelings.insert(version.clone(), labeling);
        }
        let Some(labeling) = self.labelings.get(&version).cloned().flatten() else {
            self.unknown_model += 1;
            metrics::counter!(m::OUTCOMES, "fate" => "unknown_model").increment(1);
            return None;
        };
        if self
            .champion
            .as_ref()
            .is_some_and(|c| c.version.to_string() == version)
        {
            let start = self.watch.window_start(p.event_time_ns);
            self.window_scores
                .entry(start)
                .or_default()
                .push(p.probability);
            if let Some(engine) = self.alerting.as_mut()
                && engine
                    .observe(&p.product_id, p.event_time_ns, p.probability)
                    .alert
            {
                self.champion_alerts
                    .push_back((p.product_id.clone(), p.event_time_ns));
            }
        }
        let before = self.joiner.counts();
        let outcome = self.joiner.push_prediction(p, &labeling);
        let after = self.joiner.counts();
        for (fate, n) in [
            ("late", after.late - before.late),
            ("duplicate", after.duplicates - before.duplicates),
            ("unmatched", after.unmatched - before.unmatched),
            ("incomplete", after.incomplete - before.incomplete),
        ] {
            if n > 0 {
                metrics::counter!(m::OUTCOMES, "fate" => fate).increment(n);
            }
        }
        if let Some(o) = &outcome {
            self.matured(o);
        }
        outcome
    }

    /// How the model that made `p` labels rows: its file from the registry
    /// (or `inference.model` when it names a file); `None`, logged, when it
    /// cannot be had.
    async fn labeling_of(&self, p: &Prediction) -> Option<Labeling> {
        let file = match p.model.version.parse::<u64>() {
            Ok(v) => self
                .registry
                .load(&p.model.name, v)
                .await
                .map_err(|e| e.to_string()),
            Err(_) => match &self.cfg.inference.model {
                Some(volspike_model::registry::ModelRef::Path(path)) => ModelFile::load(path),
                _ => Err(format!(
                    "version `{}` is not a registry version and inference.model names no file",
                    p.model.version
                )),
            },
        };
        match file {
            Ok(f) => Some(Labeling {
                label: f.label,
                tau: f.tau,
            }),
            Err(e) => {
                tracing::warn!(model = %p.model, error = %e, "cannot label this model's predictions; they are counted as unknown_model");
                None
            }
        }
    }

    fn matured(&mut self, o: &PredictionOutcome) {
        metrics::counter!(m::OUTCOMES, "fate" => "matured").increment(1);
        let hour = o.matured_at_ns.div_euclid(HOUR_NS);
        let e = self.evidence.entry(hour).or_default();
        e.0 += 1;
        e.1 += u64::from(o.label);
        if self
            .champion
            .as_ref()
            .is_some_and(|c| c.version.to_string() == o.model.version)
        {
            self.performance.push_back((
                o.matured_at_ns,
                o.label,
                o.probability,
                o.product_id.clone(),
                o.event_time_ns,
            ));
        }
    }

    /// Live performance of the champion over the performance window
    /// ending at `now_ns`.
    fn performance_record(&mut self, now_ns: i64) -> Option<PerformanceRecord> {
        let champion = self.champion.as_ref()?;
        let span = i64::try_from(self.cfg.drift.performance_window.as_nanos()).unwrap_or(i64::MAX);
        let from = now_ns.saturating_sub(span);
        while self.performance.front().is_some_and(|p| p.0 < from) {
            self.performance.pop_front();
        }
        let mut items: Vec<&(i64, bool, f64, String, i64)> =
            self.performance.iter().filter(|p| p.0 < now_ns).collect();
        if items.is_empty() {
            return None;
        }
        items.sort_by_key(|p| p.0);
        let labels: Vec<bool> = items.iter().map(|i| i.1).collect();
        let scores: Vec<f64> = items.iter().map(|i| i.2).collect();
        let d = &self.cfg.drift;
        let span = items.last().map_or(0, |i| i.0) - items.first().map_or(0, |i| i.0);
        let horizon = i64::try_from(champion.file.label.horizon.as_nanos()).unwrap_or(i64::MAX);
        let bootstrap = Bootstrap {
            block: block_rows(labels.len(), span, horizon),
            draws: d.bootstrap_draws,
            confidence: d.confidence,
            seed: d.seed,
        };
        let live =
            live_performance(&labels, &scores, champion.file.model.threshold, &bootstrap).ok()?;
        // Alert level: the alerts the policy raised on these rows' time
        // span, against the episodes of their labels.
        let first_event = items.iter().map(|p| p.4).min().unwrap_or(i64::MIN);
        let last_event = items.iter().map(|p| p.4).max().unwrap_or(i64::MAX);
        let rows: Vec<LabeledRow<'_>> = items
            .iter()
            .map(|p| LabeledRow {
                product: &p.3,
                event_time_ns: p.4,
                spike: p.1,
            })
            .collect();
        let alerts: Vec<AlertAt<'_>> = self
            .champion_alerts
            .iter()
            .filter(|(_, t)| (first_event..=last_event).contains(t))
            .map(|(product, t)| AlertAt {
                product,
                event_time_ns: *t,
            })
            .collect();
        let alert_metrics = evaluate_alerts(&rows, &alerts, horizon);
        let verdict = champion
            .file
            .test
            .pr_auc
            .map(|t| performance_drift(&live, t, d.performance_tolerance, d.min_positives));
        self.last_verdict = verdict;
        if let Some(i) = live.pr_auc {
            metrics::gauge!(m::LIVE_PR_AUC).set(i.estimate);
        }
        let mut record = PerformanceRecord::new(&champion.version.to_string(), &live, verdict);
        record.alerts = Some(alert_metrics);
        // Alerts before every retained outcome can no longer be counted.
        let oldest = self.performance.iter().map(|p| p.4).min();
        if let Some(oldest) = oldest {
            let keep_from = oldest.saturating_sub(horizon);
            while self
                .champion_alerts
                .front()
                .is_some_and(|(_, t)| *t < keep_from)
            {
                self.champion_alerts.pop_front();
            }
        }
        Some(record)
    }

    /// Matured outcomes in the training window ending at `now_ns`.
    fn evidence(&mut self, now_ns: i64) -> Evidence {
        let span =
            i64::try_from(self.cfg.drift.retrain.training_window.as_nanos()).unwrap_or(i64::MAX);
        let from = now_ns.saturating_sub(span).div_euclid(HOUR_NS);
        self.evidence.retain(|&h, _| h >= from);
        let (rows, positives) = self
            .evidence
            .values()
            .fold((0, 0), |(r, p), &(a, b)| (r + a, p + b));
        Evidence {
            rows,
            positives,
            performance: self.last_verdict,
        }
    }

    fn close_window(
        &mut self,
        w: ClosedWindow,
    ) -> anyhow::Result<(WindowRecord, Option<Vec<String>>)> {
        let thresholds = self
            .watch
            .calibrated()
            .map(|c| c.thresholds.clone())
            .unwrap_or_default();
        let features = WindowRecord::features(&w.report, &thresholds);
        for f in &features {
            if let Some(v) = f.statistic {
                metrics::gauge!(m::FEATURE_STATISTIC, "feature" => f.name.clone()).set(v);
            }
            metrics::gauge!(m::FEATURE_DRIFT, "feature" => f.name.clone()).set(if f.drift {
                1.0
            } else {
                0.0
            });
        }
        let severity = w.report.severity;
        metrics::counter!(m::WINDOWS, "severity" => format!("{severity:?}").to_lowercase())
            .increment(1);
        metrics::gauge!(m::SEVERITY).set(severity as u8 as f64);
        let scores = self.window_scores.remove(&w.start_ns).unwrap_or_default();
        self.window_scores.retain(|&start, _| start >= w.end_ns);
        let score = self.champion.as_ref().and_then(|c| {
            c.file
                .score_reference
                .as_ref()
                .and_then(|r| score_drift(r, &scores))
                .map(ScoreRecord::from)
        });
        // The window's end, not the latest row read, is "now": the policy
        // then answers the same however far the stream has been read.
        let now = w.end_ns;
        let performance = self.performance_record(now);
        let evidence = self.evidence(now);
        let policy = self
            .policy
            .get_or_insert_with(|| Policy::new(policy_config(&self.cfg), now));
        policy.observe(severity);
        let check = policy.check(now, &evidence, false);
        let check_record = CheckRecord::new(&check, policy.drift_run());
        let c = self.joiner.counts();
        let outcomes = OutcomeCounts::new(c, self.joiner.pending(), self.unknown_model);
        metrics::gauge!(m::OUTCOMES_PENDING).set(self.joiner.pending() as f64);
        let record = WindowRecord {
            schema_version: REPORT_SCHEMA_VERSION,
            start_ns: w.start_ns,
            end_ns: w.end_ns,
            rows: w.rows,
            model: self
                .champion
                .as_ref()
                .map(|c| format!("{}/{}", c.name, c.version)),
            statistic: self.cfg.drift.statistic,
            severity,
            drifting: w.report.drifting,
            features,
            score,
            performance,
            outcomes,
            policy: check_record,
        };
        tracing::info!(
            start = %volspike_core::time::format_timestamp(w.start_ns),
            rows = w.rows,
            severity = ?severity,
            drifting = w.report.drifting,
            "drift window closed"
        );
        let due = check.retrain.then(|| {
            check
                .triggers
                .iter()
                .map(crate::report::trigger_text)
                .collect()
        });
        let summary = WindowSummary {
            start_ns: w.start_ns,
            end_ns: w.end_ns,
            severity,
            drifting: w.report.drifting,
            rows: w.rows,
        };
        let r = record.clone();
        self.shared.update(|s| {
            s.last_window = Some(r);
            s.histograms = w.histograms;
            s.windows.push_back(summary);
            while s.windows.len() > RECENT_WINDOWS {
                s.windows.pop_front();
            }
            s.windows_closed += 1;
            s.outcomes = outcomes;
        });
        Ok((record, due))
    }

    /// The policy's answer now; `manual` asks as a person would.
    pub fn check(&mut self, manual: bool) -> CheckRecord {
        let now = self.watermark;
        let evidence = self.evidence(now);
        let policy = self
            .policy
            .get_or_insert_with(|| Policy::new(policy_config(&self.cfg), now));
        let c = policy.check(now, &evidence, manual);
        CheckRecord::new(&c, policy.drift_run())
    }

    /// Everything a retrain needs, taken now: the archived training window
    /// up to `until_ns` (the end of the window that made it due; `None`:
    /// the stream's latest time), the champion, the offsets. Marks the
    /// retrain as started. Ending the data at the window, not at wherever
    /// the batch being read stops, makes a drift retrain train on the same
    /// rows however fast the stream is read (live, catching up, replay).
    pub fn start_retrain(
        &mut self,
        triggers: Vec<String>,
        until_ns: Option<i64>,
    ) -> anyhow::Result<crate::retrain::RetrainRequest> {
        self.retrains += 1;
        let span =
            i64::try_from(self.cfg.drift.retrain.training_window.as_nanos()).unwrap_or(i64::MAX);
        let now = until_ns.unwrap_or(self.watermark);
        // The window end is exclusive.
        let last = if until_ns.is_some() { now - 1 } else { now };
        let rows = self.archive.read(now.saturating_sub(span), last)?;
        let may_promote = self.policy.as_ref().is_none_or(|p| p.may_promote(now));
        if let Some(p) = self.policy.as_mut() {
            p.retrained(now);
        }
        let running = Running {
            retrain: self.retrains,
            triggers: triggers.clone(),
            at_ns: now,
        };
        tracing::info!(
            retrain = self.retrains,
            ?triggers,
            rows = rows.len(),
            "retraining"
        );
        self.shared.update(|s| s.running = Some(running));
        Ok(crate::retrain::RetrainRequest {
            seq: self.retrains,
            triggers,
            rows,
            offsets: self.offsets.clone(),
            at_ns: now,
            champion: self.champion.as_ref().map(|c| (c.version, c.file.clone())),
            may_promote,
        })
    }

    /// Records a finished retrain; on a promotion, watches the new champion.
    pub async fn finish_retrain(&mut self, o: &crate::retrain::Outcome) -> anyhow::Result<()> {
        let d = &o.decision;
        metrics::counter!(m::RETRAINS, "verdict" => d.verdict.name()).increment(1);
        tracing::info!(retrain = d.retrain, verdict = d.verdict.name(), reason = %d.reason, "retrain decided");
        if o.promoted.is_some()
            && let Some(p) = self.policy.as_mut()
        {
            p.promoted(d.at_ns);
        }
        let decision = d.clone();
        self.shared.update(|s| {
            s.running = None;
            *s.decisions
                .entry(decision.verdict.name().to_owned())
                .or_default() += 1;
            s.last_decision = Some(decision);
        });
        if o.promoted.is_some() {
            self.refresh_champion().await?;
        }
        Ok(())
    }

    /// After each batch of input: brings the status's outcome counts up to
    /// date and writes the archive's finished hours.
    pub fn end_batch(&mut self) -> anyhow::Result<()> {
        let outcomes = self.outcome_counts();
        self.shared.update(|s| s.outcomes = outcomes);
        let (before, _) = self.archive.written();
        self.archive
            .settle(self.watermark)
            .context("archiving ticks.features")?;
        let (after, _) = self.archive.written();
        metrics::counter!(m::ARCHIVE_FILES).increment(after - before);
        Ok(())
    }

    /// Writes the archive's open hours (at shutdown).
    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.archive.flush()
    }

    /// The joiner's counts with the worker's own.
    pub fn outcome_counts(&self) -> OutcomeCounts {
        OutcomeCounts::new(
            self.joiner.counts(),
            self.joiner.pending(),
            self.unknown_model,
        )
    }
}
