package locus.telemetry

import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import kotlin.time.TimeSource
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Rule
import org.junit.Test
import org.junit.rules.TemporaryFolder

/**
 * The hang watchdog on a real JVM (issue 22): a loop thread that stalls inside a known
 * function is one hang, and its `stack` record, taken by the Kotlin layer with
 * `Thread.getStackTrace`, names that function. Waits for the records, not the clock.
 */
class WatchdogTest {
    @get:Rule
    val tmp = TemporaryFolder()

    private fun start() = Telemetry.start(
        TelemetrySettings(dataDir = tmp.newFolder(), appVersion = "9.9.9-test", enableS3Diagnostics = false),
    )

    /** Waits (at most a minute: a bound on a failing run) until [done] holds for the hang records. */
    private fun hangs(t: Telemetry, done: (List<TelemetryRecord>) -> Boolean): List<TelemetryRecord> {
        val mark = TimeSource.Monotonic.markNow()
        while (true) {
            val h = t.recent(Telemetry.RECENT_MAX).filter { it.kind == "hang" }
            if (done(h) || mark.elapsedNow() > 60.seconds) return h
            Thread.sleep(20)
        }
    }

    /** A hang record's `phase`, read from its JSON line. */
    private fun phase(r: TelemetryRecord) = Regex("\"phase\":\"(\\w+)\"").find(r.json)?.groupValues?.get(1)

    /** A number field of a record's JSON line. */
    private fun number(r: TelemetryRecord, key: String) =
        Regex("\"$key\":(\\d+)").find(r.json)?.groupValues?.get(1)?.toLong()

    /** The function the stalled loop sleeps in: its name must appear in the hang's stack. */
    private fun waitForSatelliteFixThatNeverComes(released: CountDownLatch) {
        val mark = TimeSource.Monotonic.markNow()
        while (released.count > 0 && mark.elapsedNow() < 60.seconds) Thread.sleep(20)
    }

    @Test
    fun aLoopStalledInAKnownFunctionRecordsItsNameInTheHang() {
        val t = start()
        val released = CountDownLatch(1)
        var watch: Watch? = null
        val ready = CountDownLatch(1)
        val loop = Thread({
            // Created on the loop's own thread: the watch remembers it.
            watch = t.watch("tracking", 300)
            ready.countDown()
            for (i in 0 until 5) {
                watch?.beat()
                Thread.sleep(10)
            }
            waitForSatelliteFixThatNeverComes(released)
            watch?.beat()
        }, "tracking-loop")
        loop.start()
        ready.await(60, TimeUnit.SECONDS)
        assertTrue("watch created", watch != null)
        assertEquals(loop, watch!!.thread)
        // The stack is recorded while the loop hangs; then it is released and beats again.
        val withStack = hangs(t) { h -> h.any { phase(it) == "stack" } }
        released.countDown()
        loop.join(60_000)
        val all = hangs(t) { h -> h.any { phase(it) == "end" } }
        val phases = all.map { phase(it) }
        assertEquals("$phases", listOf("start", "stack", "end"), phases)
        val stack = withStack.first { phase(it) == "stack" }
        assertEquals("tracking", stack.target)
        assertTrue(stack.message, stack.message.contains("waitForSatelliteFixThatNeverComes"))
        assertTrue(stack.json, stack.json.contains("at locus.telemetry.WatchdogTest.waitForSatelliteFixThatNeverComes("))
        val end = all.last()
        assertEquals(300L, number(end, "expected_gap_ms"))
        assertTrue(end.json, number(end, "measured_ms")!! >= 300)
        watch!!.close()
        t.close()
    }

    @Test
    fun wrongWatchesThrowAndABeatingLoopHasNoHang() {
        val t = start()
        for ((name, gap) in listOf("Tracking Loop" to 500L, "tracking" to 10L, "tracking" to 3_600_000L, "tracking" to -1L)) {
            try {
                t.watch(name, gap)
                fail("watch($name, $gap) was accepted")
            } catch (e: InvalidWatchException) {
                assertTrue(e.reason, e.reason.isNotEmpty())
            }
        }
        val w = t.watch("tracking", 500)!!
        // Beats for a few of the keeper's metric flushes (once a second each).
        val mark = TimeSource.Monotonic.markNow()
        while (t.recent(Telemetry.RECENT_MAX).count { it.kind == "metric" && it.message == "beats" } < 2 &&
            mark.elapsedNow() < 60.seconds
        ) {
            w.beat()
            t.counter("beats", 1)
            Thread.sleep(10)
        }
        assertTrue(t.recent(Telemetry.RECENT_MAX).none { it.kind == "hang" })
        w.close()
        // Closed: the name is free again.
        t.watch("tracking", 500)!!.close()
        t.setInForeground(false)
        assertTrue(t.status()!!.conditions.background)
        runBlocking { t.shutdown(500.milliseconds) }
        assertNull(t.watch("other", 500))
        t.close()
    }
}
