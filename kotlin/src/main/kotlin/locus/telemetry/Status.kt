package locus.telemetry

import java.io.File
import java.time.Instant
import locus.telemetry.ffi.Conditions as FfiConditions

/** The device's network: `NONE` (nothing is attempted), `METERED` (S3 uploads wait unless `uploadOnMetered`), `UNMETERED`. */
typealias Network = locus.telemetry.ffi.Network

/** Why a destination's uploads wait: `NO_NETWORK`, `METERED_NETWORK`, `BATTERY_LOW`, `POWER_SAVE`. */
typealias UploadWait = locus.telemetry.ffi.UploadWait

/** A destination's circuit breaker: `CLOSED`, `OPEN` (backing off), `HALF_OPEN` (one trial). */
typealias BreakerState = locus.telemetry.ffi.BreakerState

/** Where records go: `S3` (the user's bucket, or a `file://` directory) or `COMMUNITY`. */
typealias DestinationKind = locus.telemetry.ffi.DestinationKind

/** What a problem is about: `SETTINGS`, `DATA_DIR`, `RECORDER`, `SECOND_INSTANCE`, `SESSION`, `S3`, `COMMUNITY`, `DISPATCHER`, `INTERNAL`, `OTHER`. */
typealias ProblemArea = locus.telemetry.ffi.ProblemArea

/**
 * What the app knows about the device, for [Telemetry.setConditions]. Uploads to the
 * user's bucket wait for an unmetered network (unless `uploadOnMetered`); nothing is
 * uploaded on low battery or in power-save mode unless charging; no network, no attempt.
 */
data class Conditions(
    val network: Network = Network.UNMETERED,
    val charging: Boolean = false,
    val batteryLow: Boolean = false,
    val powerSave: Boolean = false,
    /** The app is in the background: gaps of watched loops are not hangs ([Telemetry.watch]). */
    val background: Boolean = false,
    /** The device dozes: gaps of watched loops are not hangs. */
    val doze: Boolean = false,
) {
    internal fun toFfi() = FfiConditions(network, charging, batteryLow, powerSave, background, doze)

    internal companion object {
        fun of(c: FfiConditions) =
            Conditions(c.network, c.charging, c.batteryLow, c.powerSave, c.background, c.doze)
    }
}

/** Something that went wrong inside telemetry, for the Debug screen. */
data class Problem(val area: ProblemArea, val message: String)

/** A destination's circuit breaker. */
data class BreakerStatus(
    val state: BreakerState,
    /** Failures in a row. */
    val consecutiveFailures: Int,
    /** While open: until when. */
    val openUntil: Instant?,
    /** How often it has opened. */
    val timesOpened: Int,
    /** The failure that last counted against it. */
    val lastError: String?,
)

/** One destination of the uploader. */
data class DestinationStatus(
    val kind: DestinationKind,
    /** `s3://bucket/prefix`, `file:///dir`, or the community URL. */
    val target: String,
    /** The newest sequence number shipped. */
    val shippedThrough: Long,
    val uploadsOk: Long,
    val uploadsFailed: Long,
    val attempts: Long,
    /** Rounds skipped (breaker open, conditions). */
    val skipped: Long,
    /** Why uploads wait now; null: they do not. */
    val waiting: UploadWait?,
    /** Records the ring overwrote before they could be shipped. */
    val overwrittenUnshipped: Long,
    val lastError: String?,
    val breaker: BreakerStatus,
)

/** The flight recorder. */
data class RecorderStatus(
    /** Records survive the process (false: on the heap, see [memoryReason]). */
    val fileBacked: Boolean,
    val file: File?,
    val memoryReason: String?,
    val capacityBytes: Long,
    val nextSeq: Long,
    /** Records found in the ring at start. */
    val recovered: Long,
    /** Records salvaged from a damaged file. */
    val salvaged: Long,
    /** Where a damaged file's bytes were kept. */
    val movedAside: File?,
    /** Another running process owns the ring file. */
    val ownedElsewhere: Boolean,
)

/** The lowest level recorded (`INFO` by default) and, when raised, until when. */
data class Verbosity(val level: Level, val until: Instant?)

/** Everything the Debug screen shows about telemetry itself ([Telemetry.status]). */
data class Status(
    val recorder: RecorderStatus,
    /** What went wrong, oldest first. */
    val problems: List<Problem>,
    val previousSession: SessionOutcome,
    val deviceId: String,
    val s3Diagnostics: Boolean,
    /** Community telemetry is on (the user's choice, else the setting). */
    val communityTelemetry: Boolean,
    /** The conditions last reported with [Telemetry.setConditions]. */
    val conditions: Conditions,
    val shutDown: Boolean,
    val verbosity: Verbosity,
    /** Whether the upload thread runs (null: there is none, e.g. both destinations off). */
    val uploaderRunning: Boolean?,
    val destinations: List<DestinationStatus>,
) {
    /** The destination of [kind], if it is configured. */
    fun destination(kind: DestinationKind): DestinationStatus? = destinations.firstOrNull { it.kind == kind }

    internal companion object {
        private fun instant(ms: Long?) = ms?.let(Instant::ofEpochMilli)

        fun verbosity(v: locus.telemetry.ffi.Verbosity) = Verbosity(v.level, instant(v.untilMs))

        fun of(s: locus.telemetry.ffi.TelemetryStatus) = Status(
            recorder = s.recorder.let { r ->
                RecorderStatus(
                    fileBacked = r.fileBacked,
                    file = r.file?.let(::File),
                    memoryReason = r.memoryReason,
                    capacityBytes = r.capacityBytes.toLong(),
                    nextSeq = r.nextSeq.toLong(),
                    recovered = r.recovered.toLong(),
                    salvaged = r.salvaged.toLong(),
                    movedAside = r.movedAside?.let(::File),
                    ownedElsewhere = r.ownedElsewhere,
                )
            },
            problems = s.problems.map { Problem(it.area, it.message) },
            previousSession = s.previousSession,
            deviceId = s.deviceId,
            s3Diagnostics = s.s3Diagnostics,
            communityTelemetry = s.communityTelemetry,
            conditions = Conditions.of(s.conditions),
            shutDown = s.shutDown,
            verbosity = verbosity(s.verbosity),
            uploaderRunning = s.dispatch?.running,
            destinations = s.dispatch?.destinations.orEmpty().map { d ->
                DestinationStatus(
                    kind = d.kind,
                    target = d.target,
                    shippedThrough = d.shippedThrough.toLong(),
                    uploadsOk = d.uploadsOk.toLong(),
                    uploadsFailed = d.uploadsFailed.toLong(),
                    attempts = d.attempts.toLong(),
                    skipped = d.skipped.toLong(),
                    waiting = d.waiting,
                    overwrittenUnshipped = d.overwrittenUnshipped.toLong(),
                    lastError = d.lastError,
                    breaker = BreakerStatus(
                        state = d.breaker.state,
                        consecutiveFailures = d.breaker.consecutiveFailures.toInt(),
                        openUntil = instant(d.breaker.openUntilMs),
                        timesOpened = d.breaker.timesOpened.toInt(),
                        lastError = d.breaker.lastError,
                    ),
                )
            },
        )
    }
}

/**
 * The exact community report that would be sent now ([Telemetry.communityPreview]), for
 * the opt-in screen: show [reportJson] before the user decides.
 */
data class CommunityPreview(
    /** The report, as the JSON that would be sent. */
    val reportJson: String,
    /** Its pseudonym is the one kept (false: not opted in yet, a throwaway salt). */
    val pseudonymIsKept: Boolean,
    /** The user has opted in (false: nothing is sent). */
    val optedIn: Boolean,
)

/** What [Telemetry.export] wrote, or why it wrote nothing ([error]). */
data class ExportResult(
    val written: Boolean,
    val error: String?,
    /** The bundle (`.jsonl.gz`, the bucket's record format). */
    val file: File,
    /** The summary beside it. */
    val summaryFile: File,
    val summaryText: String,
    val records: Long,
)

/** A verbosity the library refuses ([Telemetry.setVerbosity]): the app asked for something invalid. */
class InvalidVerbosityException(reason: String) : IllegalArgumentException(reason)
