package locus.telemetry.bench

import java.io.File
import java.nio.file.Files
import java.util.logging.FileHandler
import java.util.logging.Logger
import java.util.logging.SimpleFormatter
import locus.telemetry.Level
import locus.telemetry.Telemetry
import locus.telemetry.TelemetrySettings

/**
 * Per-call cost from Kotlin, in one JVM, peers side by side: Locus `log` (a message and
 * three fields) and `counter` through the UniFFI bindings, java.util.logging to a
 * FileHandler, and (when its jars are on the class path) log4j2's async logger to a file.
 *
 * Each case runs in batches of [BATCH] calls timed with System.nanoTime; after a
 * warm-up, rounds take turns between the cases so drift hits them alike. Reported: the
 * median and p99 of the batches' ns per call.
 */
object Bench {
    private const val BATCH = 200
    private const val WARMUP_BATCHES = 500
    private const val ROUNDS = 5
    private const val BATCHES_PER_ROUND = 400

    private class Case(val name: String, val peerOf: String?, val body: (Int) -> Unit) {
        val samples = ArrayList<Double>()
    }

    @JvmStatic
    fun main(args: Array<String>) {
        val dir = Files.createTempDirectory("locus-kotlin-bench").toFile()
        try {
            run(dir)
        } finally {
            dir.deleteRecursively()
        }
    }

    private fun run(dir: File) {
        val telemetry = Telemetry.start(
            TelemetrySettings(dataDir = File(dir, "locus"), appVersion = "bench", enableS3Diagnostics = false),
        )
        check(telemetry.problem == null) { "telemetry did not start: ${telemetry.problem}" }

        val jul = Logger.getLogger("locus.bench.jul").apply {
            useParentHandlers = false
            level = java.util.logging.Level.INFO
            addHandler(FileHandler(File(dir, "jul.log").path).apply { formatter = SimpleFormatter() })
        }

        val cases = mutableListOf(
            Case("locus log (message + 3 fields)", null) { i ->
                telemetry.log(Level.INFO, "gps", "fix", "lat" to 52.52 + i * 1e-6, "lon" to 13.40, "acc_m" to i)
            },
            Case("locus counter", null) { _ -> telemetry.counter("fixes", 1) },
            Case("locus gauge", null) { i -> telemetry.gauge("battery_pct", (i % 100).toDouble()) },
            Case("locus histogram", null) { i -> telemetry.histogram("fix_ms", (i % 50).toDouble()) },
            Case("java.util.logging -> FileHandler", "locus log (message + 3 fields)") { i ->
                jul.log(java.util.logging.Level.INFO, "fix lat={0} lon={1} acc_m={2}", arrayOf<Any>(52.52 + i * 1e-6, 13.40, i))
            },
        )
        log4jAsync(File(dir, "log4j2.log"))?.let { log4j ->
            cases.add(Case("log4j2 async logger -> file", "locus log (message + 3 fields)") { i -> log4j(i) })
        } ?: println("log4j2 async logger: not on the class path (apt-get install liblog4j2-java libdisruptor-java)")

        var n = 0
        for (case in cases) repeat(WARMUP_BATCHES) { batch(case) { n++ } }
        repeat(ROUNDS) {
            for (case in cases) repeat(BATCHES_PER_ROUND) { case.samples.add(batch(case) { n++ }) }
        }
        // Every call was recorded: sequence numbers are global and gap-free.
        val calls = (WARMUP_BATCHES + ROUNDS * BATCHES_PER_ROUND).toLong() * BATCH
        val last = telemetry.log(Level.INFO, "bench", "done")
        check(last >= calls) { "locus recorded fewer records ($last) than log calls ($calls)" }
        // A thread that once logged a 1M-character line against a fresh one (issue 23:
        // the encoder used to grow to the largest line and be copied whole every call).
        val fresh = onThread(telemetry, prime = false)
        val afterHuge = onThread(telemetry, prime = true)
        telemetry.close()
        val recent = recentOnFullRing(dir)
        report(cases)
        println()
        println("| call | median |")
        println("|---|---:|")
        println("| locus log on a fresh thread | ${fmt(fresh)} |")
        println("| locus log after a 1M-character line on the same thread | ${fmt(afterHuge)} |")
        println("| locus recent(20) on a full 64 MiB ring (${recent.second} records) | ${fmt(recent.first)} |")
        println()
        println("target: log after a 1M-character line within 2× of a fresh thread: " +
            "${if (afterHuge <= 2 * fresh) "met" else "MISSED"} (%.2f×); ".format(afterHuge / fresh) +
            "recent(20) on 64 MiB <= 1 ms: ${if (recent.first <= 1e6) "met" else "MISSED"}")
    }

    /** Median ns per small `log` on a new thread, after one 1M-character line there if [prime]. */
    private fun onThread(telemetry: Telemetry, prime: Boolean): Double {
        var median = 0.0
        val t = Thread {
            if (prime) telemetry.log(Level.INFO, "big", "x".repeat(1_000_000))
            val case = Case("thread", null) { i -> telemetry.log(Level.INFO, "gps", "fix", "lat" to 52.52, "acc_m" to i) }
            var n = 0
            repeat(WARMUP_BATCHES) { batch(case) { n++ } }
            repeat(BATCHES_PER_ROUND) { case.samples.add(batch(case) { n++ }) }
            median = percentile(case.samples.sorted(), 0.5)
        }
        t.start()
        t.join()
        return median
    }

    /** Median ns of `recent(20)` on a 64 MiB ring filled past a lap, and the records it holds. */
    private fun recentOnFullRing(dir: File): Pair<Double, Long> {
        val t = Telemetry.start(
            TelemetrySettings(dataDir = File(dir, "full"), appVersion = "bench", enableS3Diagnostics = false, ringBytes = 64L shl 20),
        )
        val line = "a typical line of about one hundred bytes of text, with a field or two"
        var seq = 0L
        // 64 MiB of ~128-byte records is ~520K: 700K laps the ring.
        for (i in 0 until 700_000) seq = t.log(Level.INFO, "fill", line, "i" to i)
        repeat(50) { check(t.recent(20).size == 20) }
        val samples = (0 until 200).map {
            val t0 = System.nanoTime()
            val r = t.recent(20)
            val ns = (System.nanoTime() - t0).toDouble()
            check(r.size == 20 && r.last().seq >= seq)
            ns
        }.sorted()
        t.close()
        return percentile(samples, 0.5) to seq
    }

    /** Log4j.kt is compiled only when log4j2 is installed: found by name. */
    @Suppress("UNCHECKED_CAST")
    private fun log4jAsync(file: File): ((Int) -> Unit)? {
        val holder = try {
            Class.forName("locus.telemetry.bench.Log4j")
        } catch (e: ClassNotFoundException) {
            return null
        }
        val instance = holder.getField("INSTANCE").get(null)
        return holder.getMethod("asyncLogger", File::class.java).invoke(instance, file) as ((Int) -> Unit)?
    }

    private inline fun batch(case: Case, next: () -> Int): Double {
        val base = next()
        val t0 = System.nanoTime()
        for (k in 0 until BATCH) case.body(base + k)
        return (System.nanoTime() - t0).toDouble() / BATCH
    }

    private fun percentile(sorted: List<Double>, p: Double) = sorted[((sorted.size - 1) * p).toInt()]

    private fun fmt(ns: Double) = if (ns >= 1000) "%.2f µs".format(ns / 1000) else "%.0f ns".format(ns)

    private fun report(cases: List<Case>) {
        val medians = cases.associate { c -> c.name to percentile(c.samples.sorted(), 0.5) }
        val java = System.getProperty("java.vm.name") + " " + System.getProperty("java.version")
        println()
        println("Kotlin per-call cost ($java; batches of $BATCH calls, ${ROUNDS * BATCHES_PER_ROUND} batches per case after $WARMUP_BATCHES warm-up)")
        println()
        println("| call | median | p99 | median vs locus log |")
        println("|---|---:|---:|---:|")
        for (c in cases) {
            val sorted = c.samples.sorted()
            val median = percentile(sorted, 0.5)
            val ratio = c.peerOf?.let { "%.1f× slower".format(median / medians.getValue(it)) } ?: ""
            println("| ${c.name} | ${fmt(median)} | ${fmt(percentile(sorted, 0.99))} | $ratio |")
        }
        val log = medians.getValue("locus log (message + 3 fields)")
        val julMedian = medians.getValue("java.util.logging -> FileHandler")
        println()
        println("target: locus log median <= 2 µs: ${if (log <= 2000) "met" else "MISSED"} (${fmt(log)}); " +
            "faster than JUL's file logger: ${if (log < julMedian) "met" else "MISSED"}")
    }
}
