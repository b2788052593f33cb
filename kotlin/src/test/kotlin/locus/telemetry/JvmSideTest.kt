package locus.telemetry

import java.io.File
import java.util.concurrent.CountDownLatch
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicLong
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Rule
import org.junit.Test
import org.junit.rules.TemporaryFolder

/**
 * The Kotlin side as an Android app lives it (issue 23): uncaught JVM exceptions are
 * crashes, close() releases the data dir whatever is in flight, and the fast path cannot
 * hurt the app (bounded, re-entrant, nothing escapes, typed values, cheap metrics).
 */
class JvmSideTest {
    @get:Rule
    val tmp = TemporaryFolder()

    private fun settings(dir: File) = TelemetrySettings(dataDir = dir, appVersion = "9.9.9-test", enableS3Diagnostics = false)

    private fun assertCrashedWith(dir: File, thread: String, message: String, frame: String) {
        val t = Telemetry.start(settings(dir))
        try {
            val prev = t.previousSession()!!
            assertEquals(SessionOutcome.CRASHED, prev.outcome)
            val tomb = prev.tombstone
            assertNotNull("a tombstone", tomb)
            tomb!!
            assertEquals("crash", tomb.kind)
            assertEquals(Level.FATAL, tomb.level)
            assertEquals("java.lang.IllegalStateException: $message", tomb.message)
            assertEquals(thread, tomb.target)
            assertTrue(tomb.json, tomb.json.contains("\"crash\":\"exception\""))
            assertTrue("the stack is in the tombstone: ${tomb.json}", tomb.json.contains(frame))
            // The share bundle carries it too.
            val out = File(tmp.newFolder(), "share.jsonl.gz")
            val r = runBlocking { t.export(out) }
            assertTrue(r.error ?: "", r.written)
            val lines = java.util.zip.GZIPInputStream(out.inputStream()).bufferedReader().readLines()
            assertTrue(lines.joinToString("\n"), lines.any { it.contains("\"crash\":\"exception\"") && it.contains(frame) })
            // And the community report counts it by its template.
            val preview = t.communityPreview()!!.reportJson
            assertTrue(preview, preview.contains("\"crashes\""))
            assertTrue(preview, preview.contains("IllegalStateException"))
            assertFalse("the raw message never leaves: $preview", preview.contains("Anna_Schmidt") || preview.contains("4711"))
        } finally {
            t.close()
        }
    }

    @Test
    fun anUncaughtExceptionOnTheMainThreadIsACrashNextTimeAndTheAppsHandlerStillRuns() {
        val dir = tmp.newFolder()
        val out = Child.run("uncaught-main", dir)
        assertEquals(out.text, 10, out.exitCode)
        assertEquals(out.text, "called", out.result()["app_handler"])
        assertEquals(out.text, "main", out.result()["thread"])
        assertCrashedWith(dir, "main", "cannot open Anna_Schmidt_Lauf.gpx", "ChildMain.main(")
    }

    @Test
    fun anUncaughtExceptionOnAWorkerThreadIsACrashNextTimeAndTheAppsHandlerStillRuns() {
        val dir = tmp.newFolder()
        val out = Child.run("uncaught-worker", dir)
        assertEquals(out.text, 10, out.exitCode)
        assertEquals(out.text, "called", out.result()["app_handler"])
        assertEquals(out.text, "gps-worker", out.result()["thread"])
        assertCrashedWith(dir, "gps-worker", "track 4711 has no fixes", "ChildMain.failDeepInside(")
    }

    @Test
    fun theHandlerRecordsInProcessAndChainsToThePreviousOne() {
        val called = AtomicBoolean(false)
        val before = Thread.getDefaultUncaughtExceptionHandler()
        val t = Telemetry.start(settings(tmp.newFolder()))
        try {
            val ours = Thread.getDefaultUncaughtExceptionHandler()
            assertNotNull(ours)
            val worker = Thread({ throw IllegalStateException("in-process 1") }, "in-process-worker")
            // The app's choice, as seen by the handler we installed at first start: chained.
            Thread.setDefaultUncaughtExceptionHandler { th, e -> called.set(true); ours!!.uncaughtException(th, e) }
            worker.setUncaughtExceptionHandler(null)
            worker.start()
            worker.join()
            assertTrue("the app's handler ran", called.get())
            val crash = t.recent(20).lastOrNull { it.kind == "crash" }
            assertNotNull(crash)
            assertEquals("java.lang.IllegalStateException: in-process 1", crash!!.message)
            assertEquals("in-process-worker", crash.target)
        } finally {
            Thread.setDefaultUncaughtExceptionHandler(before)
            t.close()
        }
    }

    @Test
    fun closeReleasesTheDataDirWhileLoggersAndAnExportRun() {
        val dir = tmp.newFolder()
        repeat(4) { round ->
            val t = Telemetry.start(settings(dir).copy(ringBytes = 8L shl 20))
            val stop = AtomicBoolean(false)
            val logged = AtomicLong()
            val started = CountDownLatch(4)
            val loggers = (1..3).map { n ->
                Thread {
                    started.countDown()
                    while (!stop.get()) {
                        if (t.log(Level.INFO, "logger$n", "line", "i" to logged.incrementAndGet()) == 0L) Thread.yield()
                        t.gauge("g$n", 1.0)
                    }
                }.apply { start() }
            }
            val exporter = Thread {
                started.countDown()
                runBlocking { t.export(File(dir, "share-$round.jsonl.gz")) }
            }.apply { start() }
            started.await()
            while (logged.get() < 2_000) Thread.yield()
            t.close()
            assertTrue("round $round: close saw the data dir released", t.released)
            val next = Telemetry.start(settings(dir))
            try {
                val prev = next.previousSession()!!
                assertEquals("round $round: ${prev.tombstone?.json}", SessionOutcome.EXITED, prev.outcome)
                val problems = next.status()!!.problems.joinToString { it.message }
                assertFalse("round $round: $problems", problems.contains("in use by another"))
            } finally {
                stop.set(true)
                loggers.forEach { it.join() }
                exporter.join()
                next.close()
                assertTrue(next.released)
            }
        }
    }

    @Test
    fun oneHugeLineDoesNotSlowTheThreadOrHoldItsMemory() {
        val t = Telemetry.start(settings(tmp.newFolder()))
        try {
            val huge = "x".repeat(6_000_000)
            val seq = t.log(Level.INFO, "big", huge, "f" to huge)
            assertTrue(seq > 0)
            val rec = t.recent(5).first { it.seq == seq }
            assertTrue("cut to the record limit: ${rec.json.length}", rec.json.length in 1000..6000)
            assertTrue("the cut is marked: ${rec.json.takeLast(80)}", rec.json.contains("…") || rec.json.contains("truncated"))
            // A small line afterwards on the same thread is whole.
            val small = t.log(Level.INFO, "small", "after", "n" to 1)
            assertTrue(t.recent(5).any { it.seq == small && it.json.contains("\"n\":1") })
        } finally {
            t.close()
        }
    }

    @Test
    fun aNestedLogFromAFieldsToStringKeepsBothRecordsIntact() {
        val t = Telemetry.start(settings(tmp.newFolder()))
        try {
            var inner = 0L
            val sneaky = object {
                override fun toString(): String {
                    inner = t.log(Level.WARN, "inner.target", "inner message", "k" to 7)
                    return "rendered"
                }
            }
            val outer = t.log(Level.INFO, "outer.target", "outer message", "a" to 1, "obj" to sneaky, "z" to "last")
            assertTrue(inner > 0 && outer > 0)
            assertNotEquals(inner, outer)
            val recent = t.recent(10)
            val o = recent.first { it.seq == outer }
            val i = recent.first { it.seq == inner }
            assertEquals("outer.target", o.target)
            assertEquals("outer message", o.message)
            assertTrue(o.json, o.json.contains("\"a\":1,\"obj\":\"rendered\",\"z\":\"last\""))
            assertEquals("inner.target", i.target)
            assertEquals("inner message", i.message)
            assertTrue(i.json, i.json.contains("\"k\":7"))
        } finally {
            t.close()
        }
    }

    @Test
    fun everyThrowableFromAFieldIsCaughtAndTheRecordKept() {
        val t = Telemetry.start(settings(tmp.newFolder()))
        try {
            for (thrown in listOf<() -> Throwable>(
                { StackOverflowError() }, { OutOfMemoryError("test") }, { AssertionError("no") }, { RuntimeException("boom") },
            )) {
                val bad = object {
                    override fun toString(): String = throw thrown()
                }
                val name = thrown().javaClass.name
                val seq = t.log(Level.INFO, "app", "with a bad field", "before" to 1, "bad" to bad, "after" to true)
                assertTrue(name, seq > 0)
                val r = t.recent(3).first { it.seq == seq }
                assertTrue(r.json, r.json.contains("\"bad\":\"<toString() threw $name>\""))
                assertTrue(r.json, r.json.contains("\"before\":1") && r.json.contains("\"after\":true"))
            }
        } finally {
            t.close()
        }
    }

    @Test
    fun fieldValuesKeepTheirTypeOnTheFastPath() {
        val t = Telemetry.start(settings(tmp.newFolder()))
        try {
            val seq = t.log(
                Level.INFO, "app", "typed",
                "i" to locus.telemetry.ffi.FieldValue.I64(5),
                "u" to locus.telemetry.ffi.FieldValue.U64(7uL),
                "f" to locus.telemetry.ffi.FieldValue.F64(1.5),
                "b" to locus.telemetry.ffi.FieldValue.Bool(true),
                "s" to locus.telemetry.ffi.FieldValue.Str("x"),
            )
            val r = t.recent(3).first { it.seq == seq }
            assertTrue(r.json, r.json.contains("\"i\":5,\"u\":7,\"f\":1.5,\"b\":true,\"s\":\"x\""))
        } finally {
            t.close()
        }
    }

    @Test
    fun gaugeAndHistogramGoThroughTheFastPath() {
        val t = Telemetry.start(settings(tmp.newFolder()))
        try {
            t.gauge("battery_pct", 87.5)
            t.histogram("fix_ms", 12.0)
            t.histogram("fix_ms", 20.0)
            t.gauge("bad", Double.NaN)
            val recent = t.recent(20)
            assertTrue(recent.joinToString { it.text }, recent.any { it.text.contains("gauge battery_pct = 87.5") })
            val h = recent.firstOrNull { it.kind == "histogram" && it.message == "fix_ms" }
            assertNotNull(recent.joinToString { it.text }, h)
            assertTrue(h!!.json, h.json.contains("\"count\":2"))
            assertFalse(recent.any { it.message == "bad" })
        } finally {
            t.close()
        }
    }

    @Test
    fun unusableSettingsAreRefusedByNameWithOnePrefix() {
        val dir = tmp.newFolder()
        for ((bad, key) in listOf(
            settings(dir).copy(destination = "garbage://x") to "destination",
            settings(dir).copy(destination = "s3://") to "destination",
            settings(dir).copy(destination = "file://relative/dir") to "destination",
            settings(dir).copy(deviceId = "dev\uD800ice") to "device_id",
            settings(File("")) to "data_dir",
            settings(dir).copy(uploadInterval = 1.5.seconds) to "upload_interval_secs",
            settings(dir).copy(appVersion = "") to "app_version",
        )) {
            try {
                Telemetry.start(bad).close()
                org.junit.Assert.fail("$key: $bad must be refused")
            } catch (e: InvalidSettingsException) {
                assertEquals(e.message, key, e.key)
                assertEquals("the prefix once: ${e.message}", 1, Regex("invalid setting").findAll(e.message!!).count())
            }
        }
        // A forged or stale slot id through the raw entry point does nothing, never crashes.
        val t = Telemetry.start(settings(dir))
        t.close()
        val e = FastPath.withEncoder { e -> e.str("t"); e.str("m"); e }
        for (slot in listOf(1L shl 40 or 1L, -1L, 0xFFFFFFFFL, 12345L)) {
            assertEquals(0L, FastPath.locus_fast_log(slot, 2, e.send(), e.size))
        }
        assertEquals(0L, FastPath.locus_fast_log(12345L, 2, e.send(), Int.MAX_VALUE))
    }

    @Test
    fun recentIsCappedAndCheap() {
        val t = Telemetry.start(settings(tmp.newFolder()).copy(ringBytes = 4L shl 20))
        try {
            repeat(20_000) { t.log(Level.INFO, "app", "line $it") }
            val all = t.recent(Int.MAX_VALUE)
            assertEquals(Telemetry.RECENT_MAX, all.size)
            val last = t.recent(20)
            assertEquals(20, last.size)
            assertEquals("line 19999", last.last().message)
            assertEquals((0 until 20).map { last.first().seq + it }, last.map { it.seq })
        } finally {
            t.close()
        }
    }
}
