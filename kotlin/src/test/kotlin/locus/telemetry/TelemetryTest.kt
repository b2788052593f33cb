package locus.telemetry

import java.io.File
import java.net.ServerSocket
import java.net.Socket
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.TimeUnit
import java.util.zip.GZIPInputStream
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.minutes
import kotlin.time.Duration.Companion.seconds
import kotlin.time.TimeSource
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.joinAll
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Rule
import org.junit.Test
import org.junit.rules.TemporaryFolder

class TelemetryTest {
    @get:Rule
    val tmp = TemporaryFolder()

    private fun settings(dir: File, s3: Boolean = false) = TelemetrySettings(
        dataDir = dir,
        appVersion = "9.9.9-test",
        enableS3Diagnostics = s3,
    )

    @Test
    fun theKotlinDefaultsAreTheLibrarys() {
        val dir = tmp.newFolder()
        val rust = locus.telemetry.ffi.defaultSettings(dir.path, "1.0")
        assertEquals(rust, TelemetrySettings(dataDir = dir, appVersion = "1.0").toFfi())
    }

    @Test
    fun eightCoroutinesOnIoLogAThousandEachAndRecentSeesThemAllInOrder() {
        val t = Telemetry.start(settings(tmp.newFolder()).copy(ringBytes = 8L shl 20))
        val returned = Array(8) { LongArray(1000) }
        runBlocking {
            (0 until 8).map { c ->
                launch(Dispatchers.IO) {
                    for (i in 0 until 1000) {
                        returned[c][i] = t.log(Level.INFO, "test.coroutines", "c$c i$i", "c" to c, "i" to i)
                    }
                }
            }.joinAll()
        }
        val records = t.recent(20_000)
        for ((a, b) in records.zipWithNext()) {
            assertTrue("seq strictly increasing: ${a.seq} then ${b.seq}", b.seq > a.seq)
        }
        val logs = records.filter { it.target == "test.coroutines" }
        assertEquals(8000, logs.size)
        assertEquals(returned.flatMap { it.toList() }.toSet(), logs.map { it.seq }.toSet())
        assertTrue("log returned 0: a failed call", returned.all { r -> r.all { it > 0 } })
        for (c in 0 until 8) {
            val mine = logs.filter { it.message.startsWith("c$c ") }.map { it.message.substringAfter(" i").toInt() }
            assertEquals("coroutine $c's logs in its own order", (0 until 1000).toList(), mine)
        }
        assertTrue(runBlocking { t.shutdown(500.milliseconds) }.dispatcherFinished)
    }

    @Test
    fun theDebugScreenShowsLogsWithTheirFieldsAndMetrics() {
        val t = Telemetry.start(settings(tmp.newFolder()))
        val seq = t.log(Level.WARN, "app.sync", "upload slow", mapOf("ms" to 812, "ok" to false, "host" to "h1", "ratio" to 0.5))
        t.counter("fixes", 3)
        t.gauge("battery_pct", 87.0)
        val screen = t.recent(10)
        val log = screen.single { it.seq == seq }
        assertEquals(Level.WARN, log.level)
        assertEquals("log", log.kind)
        assertTrue(log.text, log.text.contains("warn  app.sync: upload slow ms=812 ok=false host=h1 ratio=0.5"))
        assertTrue(log.json, log.json.contains("\"ms\":812,\"ok\":false,\"host\":\"h1\",\"ratio\":0.5"))
        val now = System.currentTimeMillis()
        assertTrue("timestamp ${log.timestamp} is now", Math.abs(log.timestamp.toEpochMilli() - now) < 60_000)
        // Counters are aggregated in memory and written before any read.
        val counter = screen.singleOrNull { it.kind == "metric" && it.message == "fixes" }
        assertNotNull("the counter is on the screen: ${screen.map { it.text }}", counter)
        assertTrue(counter!!.text, counter.text.contains("metric counter fixes = 3"))
        assertTrue(screen.any { it.kind == "metric" && it.text.contains("gauge battery_pct = 87") })
        assertEquals(3, t.recent(3).size)
        t.close()
    }

    @Test
    fun textInAnyScriptAndEveryFieldTypeArriveAsGiven() {
        val t = Telemetry.start(settings(tmp.newFolder()))
        val message = "Straße ü 東京 🛰 fix"
        val seq = t.log(
            Level.ERROR, "app.ünïcode", message,
            "i" to -3, "l" to Long.MAX_VALUE, "u" to ULong.MAX_VALUE, "d" to 2.5, "f" to 0.5f,
            "b" to true, "s" to "ok 🛰", "other" to listOf(1, 2), "lone" to "a\uD800b",
        )
        val r = t.recent(5).single { it.seq == seq }
        assertEquals(Level.ERROR, r.level)
        assertEquals("app.ünïcode", r.target)
        assertEquals(message, r.message)
        assertTrue(r.json, r.json.contains(
            "\"i\":-3,\"l\":9223372036854775807,\"u\":18446744073709551615,\"d\":2.5,\"f\":0.5," +
                "\"b\":true,\"s\":\"ok 🛰\",\"other\":\"[1, 2]\",\"lone\":\"a?b\""))
        val many = (1..40).associate { "k$it" to "v".repeat(it) }
        val big = t.log(Level.INFO, "app", "many fields", many)
        assertTrue(t.recent(3).single { it.seq == big }.json.contains("\"k40\":\"${"v".repeat(40)}\""))
        t.close()
    }

    /**
     * Also guards `captureFatalSignals = false`, the binding's default, with no signal
     * chaining preloaded (scripts/test-kotlin sets no LD_PRELOAD): HotSpot raises and
     * handles SIGSEGVs of its own (JIT safepoint polls, implicit null checks). A fatal-signal
     * handler of the library would see them first, write a SIGSEGV tombstone per signal and
     * keep the recorder alive, so this session would read as crashed (or STILL_RUNNING).
     */
    @Test
    fun aCleanShutdownReadsAsExitedNextTime() {
        val dir = tmp.newFolder()
        val first = Telemetry.start(settings(dir))
        assertEquals(SessionOutcome.FIRST_START, first.previousSession()!!.outcome)
        // Enough calls for the JIT to compile the call path, and a GC: safepoints.
        repeat(20_000) { first.log(Level.DEBUG, "churn", "object churn $it", "n" to it) }
        System.gc()
        assertEquals("no crash records in a healthy session", emptyList<String>(),
            first.recent(30_000).filter { it.kind == "crash" }.map { it.text }.take(3))
        val report = runBlocking { first.shutdown(500.milliseconds) }
        assertTrue(report.dispatcherFinished)
        assertTrue("readable after shutdown", first.recent(1).isNotEmpty())
        first.close() // releases the data dir
        assertEquals("nothing after close", 0L, first.log(Level.INFO, "app", "after close"))
        val second = Telemetry.start(settings(dir))
        val prev = second.previousSession()!!
        assertEquals("tombstone: ${prev.tombstone?.text}", SessionOutcome.EXITED, prev.outcome)
        second.close()
    }

    @Test
    fun shutdownOnAHealthyDestinationShipsEverythingWithinItsDeadline() {
        val dir = tmp.newFolder()
        val t = Telemetry.start(settings(dir, s3 = true))
        repeat(500) { t.log(Level.INFO, "app", "line $it") }
        val clock = TimeSource.Monotonic.markNow()
        val report = runBlocking { t.shutdown(500.milliseconds) }
        val wall = clock.elapsedNow()
        assertTrue("flushed: $report", report.flushed)
        assertTrue("finished: $report", report.dispatcherFinished)
        assertTrue("took ${report.took} (wall $wall) for a 500 ms deadline", wall < 1.seconds && report.took <= 600.milliseconds)
        assertTrue("shipped into the default bucket", File(dir, "bucket/diagnostics").walk().any { it.name.endsWith(".log.gz") })
    }

    @Test
    fun shutdownReturnsByItsDeadlineWhileTheBucketHangs() {
        // An S3 endpoint on loopback that accepts connections and never answers.
        ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress()).use { server ->
            val held = CopyOnWriteArrayList<Socket>()
            val acceptor = Thread {
                try {
                    while (true) held.add(server.accept())
                } catch (e: Exception) {
                }
            }.apply { isDaemon = true; start() }
            val out = Child.run(
                "hung-shutdown", tmp.newFolder(),
                env = mapOf(
                    "AWS_ENDPOINT_URL" to "http://127.0.0.1:${server.localPort}",
                    "AWS_REGION" to "us-east-1",
                    "AWS_ACCESS_KEY_ID" to "test",
                    "AWS_SECRET_ACCESS_KEY" to "test-secret",
                ),
            )
            assertEquals(out.text, 0, out.exitCode)
            val result = out.result()
            assertEquals(out.text, "false", result["flush_in_time"])
            assertEquals(out.text, "false", result["flushed"])
            val took = result.getValue("wall_ms").toLong()
            assertTrue("shutdown(400 ms) took $took ms of wall time\n${out.text}", took < 1000)
            assertTrue("the upload did reach the hung endpoint", held.size >= 1)
            held.forEach { it.close() }
            acceptor.interrupt()
        }
    }

    @Test
    fun aJvmThatExitsWithoutShutdownReadsAsAbnormalAndKeepsWhatItLogged() {
        val dir = tmp.newFolder()
        val out = Child.run("exit-without-shutdown", dir)
        assertEquals(out.text, 0, out.exitCode)
        val t = Telemetry.start(settings(dir))
        val prev = t.previousSession()!!
        assertEquals("tombstone: ${prev.tombstone?.text}\nchild: ${out.text}", SessionOutcome.ABNORMAL, prev.outcome)
        assertEquals("9.9.9-child", prev.appVersion)
        assertTrue("the child's last log survived", t.recent(100).any { it.message == "about to exit without shutdown" })
        t.close()
    }

    @Test
    fun aPanicInRustIsATombstoneNextTimeNotAJvmCrash() {
        val dir = tmp.newFolder()
        val out = Child.run("panic", dir)
        assertEquals(out.text, 0, out.exitCode)
        assertEquals(out.text, "true", out.result()["panicked"])
        assertEquals(out.text, "true", out.result()["survived"])
        val t = Telemetry.start(settings(dir))
        val prev = t.previousSession()!!
        assertEquals(SessionOutcome.CRASHED, prev.outcome)
        assertNotNull("a tombstone", prev.tombstone)
        val tombstone = prev.tombstone!!
        assertEquals("crash", tombstone.kind)
        assertEquals(Level.FATAL, tombstone.level)
        assertEquals("kotlin test panic 42", tombstone.message)
        assertEquals("locus-debug-panic", tombstone.target)
        assertTrue("the JVM went on logging after the panic",
            t.recent(100).any { it.message == "still here after the panic" && it.seq > tombstone.seq })
        t.close()
    }

    @Test
    fun invalidSettingsThrowATypedExceptionNamingTheKey() {
        val dir = tmp.newFolder()
        for ((bad, key) in listOf(
            settings(dir).copy(ringBytes = 10) to "ring_bytes",
            settings(dir).copy(uploadInterval = 0.seconds) to "upload_interval_secs",
            settings(dir).copy(shutdownDeadline = 2.minutes) to "shutdown_deadline_ms",
            settings(dir).copy(attemptTimeout = 11.minutes) to "attempt_timeout_secs",
        )) {
            try {
                Telemetry.start(bad).close()
                fail("$key: must be refused")
            } catch (e: InvalidSettingsException) {
                assertEquals(key, e.key)
                assertTrue(e.reason, e.reason.contains("between"))
            }
        }
        assertFalse("nothing was started in the data dir", File(dir, "session.json").exists())
    }

    @Test
    fun aFileDestinationUploadArrivesInTheBucketAfterFlush() {
        val bucket = tmp.newFolder("bucket")
        val t = Telemetry.start(settings(tmp.newFolder(), s3 = true).copy(destination = "file://${bucket.absolutePath}"))
        val marker = "marker-${System.nanoTime()}"
        t.log(Level.INFO, "app.upload", marker, "k" to "v")
        assertTrue("flush finished in time", runBlocking { t.flush(10.seconds) })
        val files = bucket.walk().filter { it.isFile && it.name.endsWith(".log.gz") }.toList()
        assertTrue("objects in $bucket: ${bucket.walk().toList()}", files.isNotEmpty())
        assertTrue(files.all { it.relativeTo(bucket).path.startsWith("diagnostics/") })
        val lines = files.flatMap { f -> GZIPInputStream(f.inputStream()).bufferedReader().readLines() }
        val line = lines.singleOrNull { it.contains(marker) }
        assertNotNull("the marker line was shipped: ${lines.size} lines", line)
        assertTrue(line!!, line.contains("\"target\":\"app.upload\"") && line.contains("\"k\":\"v\""))
        t.close()
    }
}

/** A child JVM running [ChildMain] in a mode, for what only a separate process can show. */
object Child {
    class Output(val exitCode: Int, val text: String) {
        /** The `RESULT key=value ...` line the child printed. */
        fun result(): Map<String, String> = text.lines().lastOrNull { it.startsWith("RESULT ") }
            ?.removePrefix("RESULT ")?.split(' ')?.associate { it.substringBefore('=') to it.substringAfter('=') }
            ?: emptyMap()
    }

    fun run(mode: String, dir: File, env: Map<String, String> = emptyMap()): Output {
        val java = File(System.getProperty("java.home"), "bin/java").path
        val pb = ProcessBuilder(
            java, "-cp", System.getProperty("java.class.path"),
            "-Djna.library.path=${System.getProperty("jna.library.path") ?: ""}",
            "locus.telemetry.ChildMain", mode, dir.path,
        ).redirectErrorStream(true)
        pb.environment().putAll(env)
        val p = pb.start()
        val text = StringBuilder()
        val reader = Thread { text.append(p.inputStream.bufferedReader().readText()) }.apply { start() }
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly()
            fail("child '$mode' did not finish in 60 s")
        }
        reader.join(5_000)
        return Output(p.exitValue(), text.toString())
    }
}
