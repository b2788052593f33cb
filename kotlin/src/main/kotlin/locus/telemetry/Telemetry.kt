package locus.telemetry

import java.io.File
import java.util.concurrent.atomic.AtomicBoolean
import kotlin.time.Duration
import kotlin.time.Duration.Companion.days
import kotlin.time.Duration.Companion.minutes
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import locus.telemetry.ffi.Field
import locus.telemetry.ffi.FieldValue
import locus.telemetry.ffi.LocusTelemetry
import locus.telemetry.ffi.SettingsException
import locus.telemetry.ffi.VerbosityException

/**
 * Locus telemetry for Kotlin: a thin layer over the UniFFI bindings of the Rust library.
 *
 * Telemetry may fail completely and the app must not notice: no call throws for a
 * telemetry failure (a failed call returns 0, false, null or an empty list). The only
 * exceptions are for what the app asked wrongly: [InvalidSettingsException] from [start],
 * for settings the library refuses, and [InvalidVerbosityException] from [setVerbosity].
 * Calls that may wait ([flush], [shutdown], [waitPreviousSession], [export]) are `suspend`
 * and run on [Dispatchers.IO], never longer than their deadline. If the
 * native library cannot be loaded at all, [start] returns a handle that records nothing
 * and says why in [problem].
 *
 * ```
 * Telemetry.start(TelemetrySettings(dataDir = File(ctx.filesDir, "telemetry"), appVersion = "1.2.0")).use { t ->
 *     t.log(Level.INFO, "gps", "fix", mapOf("lat" to 52.52, "lon" to 13.40, "acc_m" to 4))
 *     t.counter("fixes", 1)
 *     t.recent(20).forEach { println(it.text) }   // the Debug screen
 * }                                                 // close(): shutdown within settings.shutdownDeadline
 * ```
 */
class Telemetry private constructor(
    ffi: LocusTelemetry?,
    /** The settings it was started with. */
    val settings: TelemetrySettings,
    /** Why this handle records nothing (the native library could not be loaded); null when it works. */
    val problem: String?,
) : AutoCloseable {
    /** The native handle; null once [close]d (or when the library could not be loaded). */
    @Volatile
    private var ffi: LocusTelemetry? = ffi
    private val shutDown = AtomicBoolean(false)

    /** The hot path's slot ([FastPath]); 0: go through the UniFFI calls. */
    private val slot: Long = try {
        ffi?.fastSlot()?.toLong() ?: 0L
    } catch (e: Exception) {
        0L
    }

    companion object {
        /**
         * Starts telemetry, its uploads going through [transport] (the platform's
         * `HttpURLConnection` by default). Throws [InvalidSettingsException] for settings the library
         * refuses, nothing else: an unusable data dir or a failed start give a degraded
         * handle that records in memory (Rust's `status()` says why).
         */
        @JvmStatic
        @JvmOverloads
        fun start(
            settings: TelemetrySettings,
            /** What uploads go through: the platform's [UrlConnectionTransport] unless given. */
            transport: locus.telemetry.ffi.HttpTransport = UrlConnectionTransport(),
        ): Telemetry {
            settings.check()
            val ffiSettings = settings.toFfi()
            return try {
                Telemetry(LocusTelemetry.withTransport(ffiSettings, transport), settings, null).also {
                    if (settings.captureUncaughtExceptions) CrashCapture.attach(it)
                }
            } catch (e: SettingsException.Invalid) {
                throw InvalidSettingsException(e.key, e.reason)
            } catch (e: Exception) {
                Telemetry(null, settings, "telemetry failed to start: $e")
            } catch (e: LinkageError) {
                // UnsatisfiedLinkError, NoClassDefFoundError: the native library is missing.
                Telemetry(null, settings, "telemetry's native library could not be loaded: $e")
            }
        }

        /** The most records [recent] returns. */
        const val RECENT_MAX = 10_000

        /** A long enough deadline for anything; Duration.INFINITE is clamped to it. */
        private val LONGEST_DEADLINE = 1.days

        private fun millis(d: Duration): ULong =
            d.coerceIn(Duration.ZERO, LONGEST_DEADLINE).inWholeMilliseconds.toULong()

        private fun fieldValue(v: Any?): FieldValue = when (v) {
            is String -> FieldValue.Str(v)
            is Double -> FieldValue.F64(v)
            is Long -> FieldValue.I64(v)
            is Int -> FieldValue.I64(v.toLong())
            is Boolean -> FieldValue.Bool(v)
            is Float -> FieldValue.F64(v.toDouble())
            is Short -> FieldValue.I64(v.toLong())
            is Byte -> FieldValue.I64(v.toLong())
            is ULong -> FieldValue.U64(v)
            is UInt -> FieldValue.U64(v.toULong())
            is FieldValue -> v
            else -> FieldValue.Str(FastPath.render(v))
        }

        private fun fieldsOf(fields: Map<String, Any?>): List<Field> {
            if (fields.isEmpty()) return emptyList()
            val out = ArrayList<Field>(fields.size)
            for ((k, v) in fields) out.add(Field(k, fieldValue(v)))
            return out
        }
    }

    /**
     * Records a log line with [fields] in their iteration order (String, numbers, Boolean
     * and [FieldValue] keep their type; anything else is recorded as its `toString()`,
     * rendered on the calling thread). Returns the record's sequence number, 0 if
     * telemetry failed. Never blocks (unless a field's `toString()` does) and never
     * throws: a field whose `toString()` throws is recorded as `<toString() threw CLASS>`.
     * Text beyond the record limit (4 KiB) is cut before it is encoded, and marked.
     * Safe to call from a field's `toString()` (both records arrive intact).
     */
    fun log(level: Level, target: String, message: String, fields: Map<String, Any?> = emptyMap()): Long {
        if (ffi == null) return 0L
        return try {
            if (slot != 0L) {
                FastPath.withEncoder { e ->
                    e.str(target)
                    e.str(message)
                    for ((k, v) in fields) e.field(k, v)
                    FastPath.locus_fast_log(slot, FastPath.levelCode(level), e.send(), e.size)
                }
            } else {
                ffi?.log(level, target, message, fieldsOf(fields))?.toLong() ?: 0L
            }
        } catch (t: Throwable) {
            0L
        }
    }

    /** [log] with fields as pairs: `log(Level.INFO, "gps", "fix", "lat" to 52.5)`. */
    fun log(level: Level, target: String, message: String, vararg fields: Pair<String, Any?>): Long {
        if (ffi == null) return 0L
        if (slot == 0L) return log(level, target, message, mapOf(*fields))
        return try {
            FastPath.withEncoder { e ->
                e.str(target)
                e.str(message)
                for ((k, v) in fields) e.field(k, v)
                FastPath.locus_fast_log(slot, FastPath.levelCode(level), e.send(), e.size)
            }
        } catch (t: Throwable) {
            0L
        }
    }

    /** Adds [increment] to a counter (aggregated in memory, written once a second; negative counts as 0). */
    fun counter(name: String, increment: Long = 1) {
        if (ffi == null) return
        try {
            if (slot != 0L) {
                FastPath.withEncoder { e ->
                    e.name(name)
                    FastPath.locus_fast_counter(slot, e.send(), e.size, increment)
                }
            } else {
                ffi?.counter(name, increment.coerceAtLeast(0).toULong())
            }
        } catch (t: Throwable) {
        }
    }

    /** Sets a gauge (non-finite values are refused). */
    fun gauge(name: String, value: Double) = metric(FastPath.GAUGE, name, value)

    /** Records one observation of a distribution (non-finite values are refused; aggregated, one record a second). */
    fun histogram(name: String, value: Double) = metric(FastPath.HISTOGRAM, name, value)

    private fun metric(kind: Int, name: String, value: Double) {
        if (ffi == null) return
        try {
            if (slot != 0L) {
                FastPath.withEncoder { e ->
                    e.name(name)
                    FastPath.locus_fast_metric(slot, kind, e.send(), e.size, value)
                }
            } else if (kind == FastPath.GAUGE) {
                ffi?.gauge(name, value)
            } else {
                ffi?.histogram(name, value)
            }
        } catch (t: Throwable) {
        }
    }

    /**
     * The newest [n] records, oldest first: the Debug screen. [n] is capped at
     * [RECENT_MAX]. The cost grows with [n], not with the ring: records are read back
     * from the newest (about 1 µs a record in Rust plus the conversion; `recent(20)` on a
     * full 64 MiB ring measured well under a millisecond, see `scripts/bench-kotlin`), so
     * a small [n] is safe on the main thread.
     */
    fun recent(n: Int): List<TelemetryRecord> =
        try {
            ffi?.recent(n.coerceIn(0, RECENT_MAX).toUInt())?.map(TelemetryRecord::of) ?: emptyList()
        } catch (e: Exception) {
            emptyList()
        }

    /** How the previous session in this data dir ended (null if telemetry failed to start). */
    fun previousSession(): PreviousSession? =
        try {
            ffi?.previousSession()?.let(PreviousSession::of)
        } catch (e: Exception) {
            null
        }

    /**
     * How the previous session ended, if start's background step has found out within
     * [wait] (null: still pending, or telemetry failed). Waits on [Dispatchers.IO]; never
     * reads a file itself. [Duration.ZERO] only looks.
     */
    suspend fun waitPreviousSession(wait: Duration): PreviousSession? = withContext(Dispatchers.IO) {
        try {
            ffi?.waitPreviousSession(millis(wait))?.let(PreviousSession::of)
        } catch (e: Exception) {
            null
        }
    }

    /**
     * Recorder, problems, previous session, switches, device conditions, verbosity and
     * each destination, with why its uploads wait: the Debug screen. Null only when
     * telemetry failed (see [problem]). Never blocks on the network.
     */
    fun status(): Status? =
        try {
            ffi?.status()?.let(Status::of)
        } catch (e: Exception) {
            null
        }

    /**
     * Tells the uploader what the app knows about the device (call it from a
     * `ConnectivityManager.NetworkCallback` and battery broadcasts). Uploads obey it from
     * the next round; a change wakes the uploader. Never blocks.
     */
    fun setConditions(conditions: Conditions) {
        try {
            ffi?.setConditions(conditions.toFfi())
        } catch (e: Exception) {
        }
    }

    /** Whether community telemetry is on: the user's latest choice, else the setting. */
    fun communityTelemetry(): Boolean =
        try {
            ffi?.communityTelemetry() ?: false
        } catch (e: Exception) {
            false
        }

    /**
     * The user's opt-in choice, effective at once and kept across restarts (switching off
     * stops sending, drops pending community data and asks for the old pseudonym's
     * deletion). Returns whether the choice was kept; false when telemetry is degraded or
     * the choice could not be stored — not an exception, since it is telemetry that
     * failed. [communityTelemetry] says what is in effect.
     */
    fun setCommunityTelemetry(enabled: Boolean): Boolean =
        try {
            ffi?.setCommunityTelemetry(enabled) ?: false
        } catch (e: Exception) {
            false
        }

    /** The exact community report that would be sent now, opted in or not (null when telemetry is degraded). */
    fun communityPreview(): CommunityPreview? =
        try {
            ffi?.communityPreview()?.let { CommunityPreview(it.reportJson, it.pseudonymIsKept, it.optedIn) }
        } catch (e: Exception) {
            null
        }

    /** The verbosity in effect (INFO when telemetry failed). */
    fun verbosity(): Verbosity =
        try {
            ffi?.verbosity()?.let(Status::verbosity) ?: Verbosity(Level.INFO, null)
        } catch (e: Exception) {
            Verbosity(Level.INFO, null)
        }

    /**
     * Records [Level.DEBUG] (or [Level.TRACE]) lines too for [duration] (1 s to 24 h), then
     * falls back to INFO by itself; [Level.INFO] returns to the default at once. Returns what
     * is in effect. Throws [InvalidVerbosityException] for a level above INFO or a duration
     * out of range; any telemetry failure returns the verbosity in effect instead.
     */
    fun setVerbosity(level: Level, duration: Duration = 30.minutes): Verbosity {
        val native = ffi ?: return Verbosity(Level.INFO, null)
        val ms = duration.inWholeMilliseconds.coerceAtLeast(0).toULong()
        return try {
            Status.verbosity(native.setVerbosity(level, ms))
        } catch (e: VerbosityException.Invalid) {
            throw InvalidVerbosityException(e.reason)
        } catch (e: Exception) {
            verbosity()
        }
    }

    /**
     * Writes the share bundle of the flight recorder to [file] (a new `.jsonl.gz`, never
     * replacing a file) and its summary beside it, on [Dispatchers.IO]: records of the
     * last [since] (null: all), every string value scrubbed when [redact]. Never throws:
     * a failure is in [ExportResult.error].
     */
    suspend fun export(file: File, since: Duration? = null, redact: Boolean = false): ExportResult =
        withContext(Dispatchers.IO) {
            val failed = { why: String ->
                val stem = file.name.removeSuffix(".jsonl.gz").ifEmpty { file.name }
                ExportResult(false, why, file, File(file.parentFile, "$stem.summary.txt"), "", 0L)
            }
            val native = ffi
            if (native == null) {
                failed(problem ?: "telemetry is closed")
            } else {
                try {
                    val r = native.export(file.path, since?.inWholeSeconds?.coerceAtLeast(0)?.toULong(), redact)
                    ExportResult(r.written, r.error, File(r.path), File(r.summaryPath), r.summaryText, r.records.toLong())
                } catch (e: Exception) {
                    failed("telemetry failed while exporting: $e")
                }
            }
        }

    /**
     * Ships everything recorded so far, waiting at most [deadline] on [Dispatchers.IO].
     * Returns whether it finished in time.
     */
    suspend fun flush(deadline: Duration): Boolean = withContext(Dispatchers.IO) {
        try {
            ffi?.flush(millis(deadline)) ?: false
        } catch (e: Exception) {
            false
        }
    }

    /**
     * Records a clean exit and stops uploads on [Dispatchers.IO], returning by [deadline]
     * whatever the network does. The handle still answers [recent] until [close]d; a
     * second shutdown does nothing and reports so (all false, zero time).
     */
    suspend fun shutdown(deadline: Duration): ShutdownReport = withContext(Dispatchers.IO) {
        shutdownBlocking(deadline)
    }

    /**
     * [shutdown] with the settings' deadline (unless already shut down), on the calling
     * thread; then releases the data dir: when close returns, a new [start] in this
     * process owns it, whatever was in flight. It waits for calls in flight through this
     * handle (an [export], a [flush]: each bounded by its deadline or the ring's size),
     * then at most the shutdown deadline plus one second for telemetry's own threads to
     * let go; [released] says whether they did. Every call after it does nothing.
     */
    override fun close() {
        val native = ffi ?: return
        ffi = null
        CrashCapture.detach(this)
        shutDown.set(true)
        released = try {
            native.close(millis(settings.shutdownDeadline))
        } catch (e: Throwable) {
            false
        }
        try {
            native.destroy()
        } catch (e: Throwable) {
        }
    }

    /** Whether [close] saw the data dir released (false before [close], or if telemetry's threads held on). */
    @Volatile
    var released: Boolean = false
        private set

    /**
     * Writes the crash tombstone of [e], uncaught on [thread], into the ring now (the
     * uncaught-exception handler [start] installs calls it; see [CrashCapture]).
     * Returns its sequence number, 0 if telemetry is closed or failed.
     */
    internal fun recordUncaught(thread: Thread, e: Throwable): Long {
        val native = ffi ?: return 0L
        return try {
            native.recordUncaughtException(CrashCapture.describe(thread, e)).toLong()
        } catch (t: Throwable) {
            try {
                // Too little memory for the stack trace: the class and thread still count.
                native.recordUncaughtException(
                    locus.telemetry.ffi.UncaughtThrowable(e.javaClass.name, "", "", thread.name, ""),
                ).toLong()
            } catch (t2: Throwable) {
                0L
            }
        }
    }

    /**
     * Watches the loop [name] for hangs (issue 22): call [Watch.beat] once per iteration;
     * when the gap between beats passes [maxGapMs], telemetry records a `hang` record, the
     * stack of [thread] (by default the calling thread: create the watch on the loop's
     * thread) taken with `Thread.getStackTrace` while it hangs, and the hang's end with
     * its length. [name]: `[a-z][a-z0-9_.-]{0,31}`; [maxGapMs]: 250..600000; at most 16
     * loops. Throws [InvalidWatchException] for what the app asked wrongly; returns null
     * when telemetry failed or was shut down. [Watch.close] stops watching.
     */
    fun watch(name: String, maxGapMs: Long, thread: Thread = Thread.currentThread()): Watch? =
        Watch.create(ffi, name, maxGapMs, thread)

    /**
     * Whether the app is in the foreground (default: yes); in the background gaps of
     * watched loops are not hangs. The other [Conditions] stay as they are. Never blocks.
     */
    fun setInForeground(foreground: Boolean) {
        try {
            ffi?.setInForeground(foreground)
        } catch (e: Exception) {
        }
    }

    private fun shutdownBlocking(deadline: Duration): ShutdownReport {
        val nothing = ShutdownReport(flushed = false, dispatcherFinished = false, took = Duration.ZERO)
        if (!shutDown.compareAndSet(false, true)) return nothing
        return try {
            ffi?.shutdown(millis(deadline))?.let(ShutdownReport::of) ?: nothing
        } catch (e: Exception) {
            nothing
        }
    }
}
