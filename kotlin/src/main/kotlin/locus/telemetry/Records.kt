package locus.telemetry

import java.time.Instant
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds

/** Severity of a log line: `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`. */
typealias Level = locus.telemetry.ffi.Level

/** How the previous session ended: `FIRST_START`, `EXITED`, `CRASHED`, `ABNORMAL`, `STILL_RUNNING`. */
typealias SessionOutcome = locus.telemetry.ffi.SessionOutcome

/** One record of the flight recorder, as the Debug screen shows it. */
data class TelemetryRecord(
    /** Global, gap-free sequence number. */
    val seq: Long,
    /** When it was recorded. */
    val timestamp: Instant,
    val level: Level,
    /** `log`, `crash`, `metric`, `histogram` or `session`. */
    val kind: String,
    /** A log line's target (a crash's thread); empty for other kinds. */
    val target: String,
    /** A log line's or crash's message, a metric's name; empty for sessions. */
    val message: String,
    /** The one-line rendering of the Debug screen. */
    val text: String,
    /** The JSON line that ships to the bucket. */
    val json: String,
) {
    internal companion object {
        fun of(r: locus.telemetry.ffi.RecordView) = TelemetryRecord(
            seq = r.seq.toLong(),
            timestamp = Instant.ofEpochMilli(r.timestampMs),
            level = r.level,
            kind = r.kind,
            target = r.target,
            message = r.message,
            text = r.text,
            json = r.json,
        )
    }
}

/** What the start found about the previous session in the data dir. */
data class PreviousSession(
    val outcome: SessionOutcome,
    val sessionId: String?,
    val appVersion: String?,
    /** The crash tombstone, for [SessionOutcome.CRASHED]. */
    val tombstone: TelemetryRecord?,
) {
    internal companion object {
        fun of(p: locus.telemetry.ffi.PreviousSession) = PreviousSession(
            outcome = p.outcome,
            sessionId = p.sessionId,
            appVersion = p.appVersion,
            tombstone = p.tombstone?.let(TelemetryRecord::of),
        )
    }
}

/** What shutdown managed within its deadline. */
data class ShutdownReport(
    /** Everything recorded was shipped (or discarded after failing) in time. */
    val flushed: Boolean,
    /** The upload thread finished (false: it was left behind, detached). */
    val dispatcherFinished: Boolean,
    val took: Duration,
) {
    internal companion object {
        fun of(r: locus.telemetry.ffi.ShutdownReport) = ShutdownReport(
            flushed = r.flushed,
            dispatcherFinished = r.dispatcherFinished,
            took = r.tookMs.toLong().milliseconds,
        )
    }
}
