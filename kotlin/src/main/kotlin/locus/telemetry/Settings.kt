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
    /** The device id; null: generated once and kept in the data dir. */
    val deviceId: String? = null,
    /**
     * Write tombstones for fatal signals raised in native code. Off: the JVM (and ART)
     * owns SIGSEGV, raising and handling it itself for null checks and safepoints, and
     * telemetry's handler would run first and call those crashes. Panics in Rust are
     * caught either way. Turn on only in a process where no runtime handles SIGSEGV.
     */
    val captureFatalSignals: Boolean = false,
    /** Let uploads to the user's bucket use a metered network (default: they wait for an unmetered one). */
    val uploadOnMetered: Boolean = false,
    /** S3 endpoint of a self-hosted S3 (`http://10.0.0.2:8333`); null: AWS. */
    val s3Endpoint: String? = null,
    /** S3 region; null: the `AWS_REGION` environment variable. */
    val s3Region: String? = null,
    /** S3 access key id; null: `AWS_ACCESS_KEY_ID`. */
    val s3AccessKeyId: String? = null,
    /** S3 secret key; null: `AWS_SECRET_ACCESS_KEY`. Hidden from [toString]. */
    val s3SecretAccessKey: String? = null,
    /** Path-style S3 addressing (`endpoint/bucket/key`), as self-hosted S3 usually needs. */
    val s3PathStyle: Boolean = false,
    /**
     * age X25519 public keys (`age1…`) to encrypt diagnostics to; empty: unencrypted.
     * Objects are then `….log.gz.age`, readable only with the matching private key
     * (`locus-diag cat --identity key.txt`), which never goes on the device.
     */
    val diagnosticsRecipients: List<String> = emptyList(),
    /**
     * Record an uncaught JVM exception as a crash (see [CrashCapture]): [Telemetry.start]
     * installs a default uncaught-exception handler that writes the tombstone and then
     * calls the handler installed before it. A Kotlin-side setting: the library has none.
     */
    val captureUncaughtExceptions: Boolean = true,
) {
    /** Every field but the secret key, which shows as `<hidden>`. */
    override fun toString(): String =
        "TelemetrySettings(dataDir=$dataDir, appVersion=$appVersion, enableS3Diagnostics=$enableS3Diagnostics, " +
            "enableCommunityTelemetry=$enableCommunityTelemetry, destination=$destination, ringBytes=$ringBytes, " +
            "uploadInterval=$uploadInterval, shutdownDeadline=$shutdownDeadline, attemptTimeout=$attemptTimeout, " +
            "communityUrl=$communityUrl, deviceId=$deviceId, captureFatalSignals=$captureFatalSignals, " +
            "uploadOnMetered=$uploadOnMetered, s3Endpoint=$s3Endpoint, s3Region=$s3Region, " +
            "s3AccessKeyId=$s3AccessKeyId, s3SecretAccessKey=${s3SecretAccessKey?.let { "<hidden>" }}, " +
            "s3PathStyle=$s3PathStyle, diagnosticsRecipients=$diagnosticsRecipients, " +
            "captureUncaughtExceptions=$captureUncaughtExceptions)"


    /**
     * What the library cannot see once converted, refused by name: a data dir that is
     * empty or relative (it would land in the process's working directory), a duration
     * that is not whole in its unit (it would be cut without a word), text with an
     * unpaired surrogate (it has no UTF-8), a destination that is neither
     * `s3://bucket[/prefix]` nor `file:///absolute/dir`.
     */
    internal fun check() {
        fun refuse(key: String, why: String): Nothing = throw InvalidSettingsException(key, why)
        if (dataDir.path.isEmpty() || !dataDir.isAbsolute) {
            refuse("data_dir", "`${dataDir.path}` is not an absolute directory (use the app's files dir)")
        }
        fun whole(key: String, d: Duration, unit: Duration, name: String) {
            if (d.isPositive() && d.isFinite() && d.inWholeNanoseconds % unit.inWholeNanoseconds != 0L) {
                refuse(key, "$d is not a whole number of $name")
            }
        }
        whole("upload_interval_secs", uploadInterval, 1.seconds, "seconds")
        whole("attempt_timeout_secs", attemptTimeout, 1.seconds, "seconds")
        whole("shutdown_deadline_ms", shutdownDeadline, 1.milliseconds, "milliseconds")
        for ((key, text) in listOf(
            "data_dir" to dataDir.path, "app_version" to appVersion, "destination" to destination,
            "community_url" to communityUrl, "device_id" to deviceId, "s3_endpoint" to s3Endpoint,
            "s3_region" to s3Region, "s3_access_key_id" to s3AccessKeyId, "s3_secret_access_key" to s3SecretAccessKey,
        )) {
            if (text != null && hasLoneSurrogate(text)) refuse(key, "contains an unpaired UTF-16 surrogate (no UTF-8 for it)")
        }
        if (diagnosticsRecipients.any(::hasLoneSurrogate)) {
            refuse("diagnostics_recipients", "contains an unpaired UTF-16 surrogate (no UTF-8 for it)")
        }
        destination?.let { d ->
            val ok = when {
                d.startsWith("s3://") -> d.removePrefix("s3://").substringBefore('/').isNotEmpty()
                d.startsWith("file://") -> d.removePrefix("file://").startsWith("/")
                else -> false
            }
            if (!ok) refuse("destination", "`$d` is neither s3://bucket[/prefix] nor file:///absolute/dir")
        }
    }

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
        deviceId = deviceId,
        captureFatalSignals = captureFatalSignals,
        uploadOnMetered = uploadOnMetered,
        s3Endpoint = s3Endpoint,
        s3Region = s3Region,
        s3AccessKeyId = s3AccessKeyId,
        s3SecretAccessKey = s3SecretAccessKey,
        s3PathStyle = s3PathStyle,
        diagnosticsRecipients = diagnosticsRecipients,
    )
}

private fun hasLoneSurrogate(s: String): Boolean {
    var i = 0
    while (i < s.length) {
        val c = s[i]
        if (Character.isHighSurrogate(c)) {
            if (i + 1 >= s.length || !Character.isLowSurrogate(s[i + 1])) return true
            i += 2
            continue
        }
        if (Character.isLowSurrogate(c)) return true
        i++
    }
    return false
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
