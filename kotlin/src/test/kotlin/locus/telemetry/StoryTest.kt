package locus.telemetry

import java.io.File
import java.net.HttpURLConnection
import java.net.InetAddress
import java.net.ServerSocket
import java.net.Socket
import java.net.URI
import java.util.concurrent.CopyOnWriteArrayList
import java.util.zip.GZIPInputStream
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.minutes
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Rule
import org.junit.Test
import org.junit.rules.TemporaryFolder

/**
 * The SeaweedFS that scripts/test-kotlin starts for the run (real S3: every request's
 * SigV4 signature is checked against its identities file). Its objects are read back
 * through the filer's HTTP API, which shares no code with the library.
 */
object Seaweed {
    private fun prop(name: String): String = System.getProperty("locus.seaweed.$name")
        ?: throw AssertionError("-Dlocus.seaweed.$name is not set: run these tests with scripts/test-kotlin, which starts SeaweedFS")

    val s3 get() = prop("s3")
    val filer get() = prop("filer")
    val bucket get() = prop("bucket")
    val accessKey get() = prop("accessKey")
    val secretKey get() = prop("secretKey")

    /** Settings that upload under `s3://bucket/prefix` of this SeaweedFS. */
    fun settings(dir: File, prefix: String, secret: String = secretKey) = TelemetrySettings(
        dataDir = dir,
        appVersion = "9.9.9-seaweed",
        destination = "s3://$bucket/$prefix",
        s3Endpoint = s3,
        s3Region = "us-east-1",
        s3AccessKeyId = accessKey,
        s3SecretAccessKey = secret,
        s3PathStyle = true,
        attemptTimeout = 10.seconds,
    )

    private fun get(path: String, json: Boolean): Pair<Int, ByteArray> {
        val c = URI("$filer$path").toURL().openConnection() as HttpURLConnection
        c.connectTimeout = 5_000
        c.readTimeout = 10_000
        if (json) c.setRequestProperty("Accept", "application/json")
        return try {
            val code = c.responseCode
            code to (if (code == 200) c.inputStream.readBytes() else ByteArray(0))
        } finally {
            c.disconnect()
        }
    }

    /** Every object under `/buckets/<bucket>/<prefix>`, as filer paths (empty: none). */
    fun objects(prefix: String): List<String> {
        val out = ArrayList<String>()
        fun walk(dir: String) {
            val (code, body) = get("$dir/", json = true)
            if (code == 404) return
            assertEquals("filer listing of $dir", 200, code)
            // {"FullPath":"/buckets/b/x","Mtime":...,"Mode":2147484153,...}: bit 31 is a directory.
            for (entry in String(body).split("{\"FullPath\":\"").drop(1)) {
                val path = entry.substringBefore('"')
                val mode = Regex("\"Mode\":(\\d+)").find(entry)?.groupValues?.get(1)?.toLong() ?: 0L
                if (mode and (1L shl 31) != 0L) walk(path) else out.add(path)
            }
        }
        walk("/buckets/$bucket/$prefix")
        return out
    }

    /** The lines of a gzipped object. */
    fun lines(path: String): List<String> {
        val (code, body) = get(path, json = false)
        assertEquals("filer GET $path", 200, code)
        return GZIPInputStream(body.inputStream()).bufferedReader().readLines()
    }
}

/** The rest of the story from Kotlin: real S3, device conditions, the opt-in, deadlines, the Debug screen. */
class StoryTest {
    @get:Rule
    val tmp = TemporaryFolder()

    private fun prefix(name: String) = "kt-$name-${System.nanoTime()}"

    @Test
    fun uploadsReachARealSeaweedFsAndItsFilerListsThem() {
        val prefix = prefix("upload")
        val t = Telemetry.start(Seaweed.settings(tmp.newFolder(), prefix))
        val marker = "marker-${System.nanoTime()}"
        t.log(Level.INFO, "app.upload", marker, "k" to "v", "n" to 7)
        t.counter("fixes", 2)
        assertTrue("flush finished in time: ${t.status()?.destination(DestinationKind.S3)}", runBlocking { t.flush(20.seconds) })
        val s3 = t.status()!!.destination(DestinationKind.S3)!!
        assertTrue("uploads_ok: $s3", s3.uploadsOk >= 1)
        assertEquals(0L, s3.uploadsFailed)
        assertNull(s3.lastError)
        assertEquals(BreakerState.CLOSED, s3.breaker.state)
        assertTrue(s3.target, s3.target.contains(Seaweed.bucket))
        val objects = Seaweed.objects(prefix)
        assertTrue("objects under $prefix: $objects", objects.isNotEmpty())
        assertTrue(objects.toString(), objects.all { it.contains("/$prefix/diagnostics/") && it.endsWith(".log.gz") })
        val lines = objects.flatMap(Seaweed::lines)
        val line = lines.singleOrNull { it.contains(marker) }
        assertNotNull("the marker line is in the bucket: ${lines.size} lines", line)
        assertTrue(line!!, line.contains("\"target\":\"app.upload\"") && line.contains("\"k\":\"v\",\"n\":7"))
        assertTrue("the counter was shipped too", lines.any { it.contains("\"fixes\"") })
        t.close()
    }

    @Test
    fun aWrongSecretIsRefusedBySeaweedFsAndNothingLands() {
        val prefix = prefix("badsig")
        val t = Telemetry.start(Seaweed.settings(tmp.newFolder(), prefix, secret = "not-the-secret"))
        t.log(Level.INFO, "app", "never lands")
        runBlocking { t.flush(5.seconds) } // a round that ends in a refusal still finishes
        val s3 = t.status()!!.destination(DestinationKind.S3)!!
        assertEquals("no upload succeeded: $s3", 0L, s3.uploadsOk)
        assertTrue("the failure is counted: $s3", s3.uploadsFailed >= 1)
        assertTrue("the server's verdict is shown: ${s3.lastError}", s3.lastError.orEmpty().contains("Signature", ignoreCase = true))
        assertEquals(emptyList<String>(), Seaweed.objects(prefix))
        t.close()
    }

    @Test
    fun aMeteredNetworkDefersTheUploadUntilUnmetered() {
        val prefix = prefix("metered")
        val t = Telemetry.start(Seaweed.settings(tmp.newFolder(), prefix))
        t.setConditions(Conditions(network = Network.METERED))
        assertFalse("flush cannot finish on a metered network", runBlocking { t.flush(2.seconds) })
        val waiting = t.status()!!
        assertEquals(Conditions(network = Network.METERED), waiting.conditions)
        val s3 = waiting.destination(DestinationKind.S3)!!
        assertEquals(UploadWait.METERED_NETWORK, s3.waiting)
        // The dispatcher's first round at start may have shipped the session's first
        // records before the app reported the metered network (and, were the marker
        // logged before the uploader saw the gate, it too: seen once in CI-like runs).
        // Once the uploader says it waits for the network, nothing more leaves, and the
        // marker logged now never does.
        val marker = "deferred-${System.nanoTime()}"
        t.log(Level.INFO, "app", marker)
        assertEquals("no attempt, no failure: $s3", 0L, s3.uploadsFailed)
        assertFalse(runBlocking { t.flush(1.seconds) })
        assertEquals(s3.uploadsOk, t.status()!!.destination(DestinationKind.S3)!!.uploadsOk)
        assertFalse(Seaweed.objects(prefix).flatMap(Seaweed::lines).any { it.contains(marker) })

        t.setConditions(Conditions(network = Network.UNMETERED))
        assertTrue("flush once unmetered", runBlocking { t.flush(20.seconds) })
        val after = t.status()!!.destination(DestinationKind.S3)!!
        assertNull(after.waiting)
        assertTrue(after.toString(), after.uploadsOk >= 1)
        assertTrue("the deferred line arrived", Seaweed.objects(prefix).flatMap(Seaweed::lines).any { it.contains(marker) })

        // Low battery holds uploads back unless charging (the uploader's next round says so).
        t.setConditions(Conditions(batteryLow = true))
        assertFalse(runBlocking { t.flush(1.seconds) })
        assertEquals(UploadWait.BATTERY_LOW, t.status()!!.destination(DestinationKind.S3)!!.waiting)
        t.setConditions(Conditions(batteryLow = true, charging = true))
        assertTrue(runBlocking { t.flush(10.seconds) })
        assertNull(t.status()!!.destination(DestinationKind.S3)!!.waiting)
        t.close()
    }

    @Test
    fun optInAndOutShowInThePreviewAndSurviveARestart() {
        val dir = tmp.newFolder()
        // Community on a closed loopback port: nothing leaves the machine.
        val settings = TelemetrySettings(dir, "9.9.9-optin", enableS3Diagnostics = false, communityUrl = "http://127.0.0.1:9")
        Telemetry.start(settings).use { t ->
            assertFalse("off by default", t.communityTelemetry())
            val before = t.communityPreview()!!
            assertFalse(before.optedIn)
            assertFalse("not opted in: a throwaway pseudonym", before.pseudonymIsKept)
            assertTrue(before.reportJson, before.reportJson.trimStart().startsWith("{") && before.reportJson.contains("\"app_version\": \"9.9.9-optin\""))
            assertTrue("the choice was kept", t.setCommunityTelemetry(true))
            assertTrue(t.communityTelemetry())
            val after = t.communityPreview()!!
            assertTrue(after.optedIn)
            assertTrue(after.pseudonymIsKept)
            assertTrue(t.status()!!.communityTelemetry)
        }
        Telemetry.start(settings).use { t ->
            assertTrue("the opt-in survived the restart", t.communityTelemetry())
            assertTrue(t.communityPreview()!!.optedIn)
            assertTrue(t.setCommunityTelemetry(false))
            assertFalse(t.communityTelemetry())
        }
        Telemetry.start(settings).use { t ->
            assertFalse("the opt-out survived the restart", t.communityTelemetry())
            assertFalse(t.communityPreview()!!.optedIn)
        }
    }

    @Test
    fun shutdownKeepsItsDeadlineAgainstAHungEndpoint() {
        // An S3 endpoint on loopback that accepts connections and never answers.
        ServerSocket(0, 50, InetAddress.getLoopbackAddress()).use { server ->
            val held = CopyOnWriteArrayList<Socket>()
            Thread {
                try {
                    while (true) held.add(server.accept())
                } catch (e: Exception) {
                }
            }.apply { isDaemon = true; start() }
            val t = Telemetry.start(
                TelemetrySettings(
                    tmp.newFolder(), "9.9.9-hung",
                    destination = "s3://locus-hung-bucket",
                    s3Endpoint = "http://127.0.0.1:${server.localPort}",
                    s3Region = "us-east-1", s3AccessKeyId = "test", s3SecretAccessKey = "test-secret",
                    s3PathStyle = true,
                ),
            )
            repeat(100) { t.log(Level.INFO, "app", "line $it") }
            assertFalse("flush cannot finish against a hung bucket", runBlocking { t.flush(300.milliseconds) })
            val report = runBlocking { t.shutdown(500.milliseconds) }
            // The library's contract: shutdown returns by its deadline (plus scheduling grace).
            assertTrue("took ${report.took} for a 500 ms deadline", report.took <= 750.milliseconds)
            assertFalse("nothing could be flushed: $report", report.flushed)
            assertTrue("the upload did reach the hung endpoint", held.isNotEmpty())
            val status = t.status()!!
            assertTrue(status.shutDown)
            assertTrue(status.toString(), status.destination(DestinationKind.S3)!!.target.contains("locus-hung-bucket"))
            t.close()
            held.forEach { it.close() }
        }
    }

    @Test
    fun theDebugScreenReadsStatusVerbosityAndTheShareBundle() {
        val dir = tmp.newFolder()
        val t = Telemetry.start(TelemetrySettings(dir, "9.9.9-debug", enableS3Diagnostics = false, deviceId = "pixel-test"))
        val previous = runBlocking { t.waitPreviousSession(5.seconds) }
        assertEquals(SessionOutcome.FIRST_START, previous?.outcome)
        val s = t.status()!!
        assertEquals("pixel-test", s.deviceId)
        assertTrue(s.recorder.toString(), s.recorder.fileBacked && s.recorder.file!!.path.startsWith(dir.path))
        assertTrue(s.recorder.capacityBytes >= 65536)
        assertEquals(SessionOutcome.FIRST_START, s.previousSession)
        assertEquals(Conditions(), s.conditions)
        assertFalse(s.s3Diagnostics)
        assertFalse(s.shutDown)
        assertEquals("no problems: ${s.problems}", emptyList<Problem>(), s.problems)
        assertEquals(Verbosity(Level.INFO, null), s.verbosity)

        assertEquals("debug is dropped by default", 0L, t.log(Level.DEBUG, "app", "dropped"))
        val raised = t.setVerbosity(Level.DEBUG, 1.minutes)
        assertEquals(Level.DEBUG, raised.level)
        assertNotNull(raised.until)
        assertTrue(t.log(Level.DEBUG, "app", "recorded now") > 0)
        assertEquals(Level.DEBUG, t.status()!!.verbosity.level)
        try {
            t.setVerbosity(Level.WARN, 1.minutes)
            fail("WARN is not a verbosity to choose")
        } catch (e: InvalidVerbosityException) {
        }
        try {
            t.setVerbosity(Level.TRACE, (25 * 60).minutes)
            fail("a raise lasts at most 24 h")
        } catch (e: InvalidVerbosityException) {
        }
        assertEquals(Level.INFO, t.setVerbosity(Level.INFO).level)

        val bundle = File(tmp.newFolder(), "share.jsonl.gz")
        val written = runBlocking { t.export(bundle, redact = true) }
        assertTrue("export: ${written.error}", written.written)
        assertTrue(written.records > 0)
        assertTrue(bundle.isFile && written.summaryFile.isFile)
        assertTrue(written.summaryText, written.summaryText.isNotBlank())
        val again = runBlocking { t.export(bundle) }
        assertFalse("a bundle never replaces a file", again.written)
        assertTrue(again.error.orEmpty(), again.error.orEmpty().contains("exists"))
        t.close()
        assertNull("null after close", t.status())
    }
}
