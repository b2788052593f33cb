package locus.telemetry

import java.io.File
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import locus.telemetry.ffi.TelemetrySettings as FfiSettings

/**
 * What telemetry is started with. The defaults are the library's (a test compares them
 * with `defaultSettings()` from Rust); `validate` happens in Rust, at [Telemetry.start].
 */
data class TelemetrySettings(
    /** Where the ring, session marker and state files live. */
    val dataDir: File,
    /** The app's version. */
    val appVersion: String,
    /** Ship diagnostics to the user's bucket. */
    val enableS3Diagnostics: Boolean = true,
    /** Send anonymised health reports to the community service (opt-in). */
    val enableCommunityTelemetry: Boolean = false,
    /** `s3://bucket[/prefix]` or `file:///dir`; null: `file://<dataDir>/bucket`. */
    val destination: String? = null,
    /** Bytes of flight recorder: 64 KiB to 64 MiB. */
    val ringBytes: Long = 1L shl 20,
    /** Time between uploads, whole seconds from 1 s to a day. */
    val uploadInterval: Duration = 300.seconds,
    /** What [Telemetry.close] gives shutdown: 1 ms to a minute. */
    val shutdownDeadline: Duration = 500.milliseconds,
    /** Time one upload attempt may take, whole seconds from 1 s to ten minutes. */
    val attemptTimeout: Duration = 10.seconds,
    /** Community service endpoint (`https://...`; plain `http` only to loopback). */
    val communityUrl: String? = null,
) {
    internal fun toFfi(): FfiSettings = FfiSettings(
        dataDir = dataDir.path,
        appVersion = appVersion,
        enableS3Diagnostics = enableS3Diagnostics,
        enableCommunityTelemetry = enableCommunityTelemetry,
        destination = destination,
        ringBytes = ringBytes.coerceAtLeast(0).toULong(),
        uploadIntervalSecs = uploadInterval.wholeUnits { it.inWholeSeconds },
        shutdownDeadlineMs = shutdownDeadline.wholeUnits { it.inWholeMilliseconds },
        attemptTimeoutSecs = attemptTimeout.wholeUnits { it.inWholeSeconds },
        communityUrl = communityUrl,
    )
}

/** A negative duration is 0 (which the library refuses by name), never a huge number. */
private inline fun Duration.wholeUnits(unit: (Duration) -> Long): ULong =
    unit(this).coerceAtLeast(0).toULong()

/**
 * Settings the library refuses: [key] is the setting's name as in the Rust `Settings`
 * (e.g. `ring_bytes`), [reason] says what is wrong and the valid range. The only
 * exception any call of [Telemetry] throws.
 */
class InvalidSettingsException(val key: String, val reason: String) :
    IllegalArgumentException("invalid setting `$key`: $reason")
