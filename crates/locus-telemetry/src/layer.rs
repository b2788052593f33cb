//! `tracing` integration: a [`Layer`] that writes every event, with its fields, into the
//! flight recorder — no allocation, straight from the visitor into the record.
//!
//! Levels the recorder filters out (`debug` and `trace` unless raised, see
//! [`crate::Telemetry::set_verbosity`]) cost one atomic load in `on_event`, before any
//! field is visited. The layer deliberately does not implement `Layer::enabled` or
//! `register_callsite`: in a `tracing_subscriber` stack a layer's `false` there
//! disables the event for every layer (a `fmt` layer beside ours would lose its debug
//! lines), and a cached `Interest::never` would outlive a raise of the level at runtime.
//!
//! Telemetry must never feed on itself: events from this crate, and any event emitted
//! on the telemetry thread (the S3 and HTTP clients log through `tracing` too), are
//! ignored, so an upload failure cannot log → record → upload → fail in a loop.
//!
//! ```
//! use tracing_subscriber::layer::SubscriberExt;
//! let rec = locus_telemetry::recorder::FlightRecorder::in_memory(64 * 1024);
//! let subscriber = tracing_subscriber::registry().with(locus_telemetry::TelemetryLayer::new(rec.clone()));
//! tracing::subscriber::with_default(subscriber, || {
//!     tracing::info!(lat = 52.52, battery = 87u64, "gps fix");
//! });
//! assert_eq!(rec.recent(1)[0].to_text_line().contains("gps fix"), true);
//! ```

use crate::record::Level;
use crate::recorder::{FieldValue, FieldWriter, FlightRecorder};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// A `tracing_subscriber` layer that records events into the flight recorder.
#[derive(Debug, Clone)]
pub struct TelemetryLayer {
    recorder: FlightRecorder,
}

impl TelemetryLayer {
    /// A layer writing into `recorder`.
    pub fn new(recorder: FlightRecorder) -> Self {
        TelemetryLayer { recorder }
    }
}

impl<S: Subscriber> Layer<S> for TelemetryLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let level = Level::from(meta.level());
        if !self.recorder.records_level(level) {
            return;
        }
        if meta.target().starts_with("locus_telemetry") || crate::background::on_telemetry_thread()
        {
            return;
        }
        // No panic crosses into the app (see `crate::fail_open`).
        crate::fail_open::guard_hot(0, || {
            self.recorder.log_with(level, meta.target(), |w| {
                event.record(&mut Visitor { w });
            })
        });
    }
}

struct Visitor<'a, 'e, 'b> {
    w: &'a mut FieldWriter<'e, 'b>,
}

impl Visit for Visitor<'_, '_, '_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.w.field(field.name(), FieldValue::F64(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.w.field(field.name(), FieldValue::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.w.field(field.name(), FieldValue::U64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.w.field(field.name(), FieldValue::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.w.field(field.name(), FieldValue::Str(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.w.debug_field(field.name(), value);
    }
}
