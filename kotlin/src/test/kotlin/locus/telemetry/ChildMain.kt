package locus.telemetry

import java.io.File
import kotlin.system.exitProcess
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.TimeSource
import kotlinx.coroutines.runBlocking

/** The child JVM of [TelemetryTest]: `ChildMain MODE DATA_DIR`, prints `RESULT k=v ...`. */
object ChildMain {
    private fun failDeepInside(depth: Int) {
        if (depth == 0) throw IllegalStateException("track 4711 has no fixes")
        failDeepInside(depth - 1)
    }

    @JvmStatic
    fun main(args: Array<String>) {
        val (mode, dir) = args
        when (mode) {
            "exit-without-shutdown" -> {
                val t = Telemetry.start(TelemetrySettings(File(dir), "9.9.9-child", enableS3Diagnostics = false))
                repeat(100) { t.log(Level.INFO, "child", "line $it") }
                t.log(Level.INFO, "child", "about to exit without shutdown")
                println("RESULT started=${t.problem == null}")
                System.out.flush()
                exitProcess(0)
            }
            "panic" -> {
                val t = Telemetry.start(TelemetrySettings(File(dir), "9.9.9-child", enableS3Diagnostics = false))
                t.log(Level.INFO, "child", "before the panic")
                val panicked = locus.telemetry.ffi.debugPanicInRust("kotlin test panic 42")
                t.log(Level.INFO, "child", "still here after the panic")
                t.close()
                println("RESULT panicked=$panicked survived=true")
            }
            "hung-shutdown" -> {
                val t = Telemetry.start(
                    TelemetrySettings(File(dir), "9.9.9-child", destination = "s3://locus-hung-bucket"),
                )
                repeat(100) { t.log(Level.INFO, "child", "line $it") }
                val inTime = runBlocking { t.flush(200.milliseconds) }
                val clock = TimeSource.Monotonic.markNow()
                val report = runBlocking { t.shutdown(400.milliseconds) }
                val wall = clock.elapsedNow().inWholeMilliseconds
                println("RESULT flush_in_time=$inTime flushed=${report.flushed} took_ms=${report.took.inWholeMilliseconds} wall_ms=$wall")
                System.out.flush()
                // The upload thread may still be stuck in the hung request: leave without it.
                exitProcess(0)
            }
            "uncaught-main", "uncaught-worker" -> {
                // The app's own handler, installed before telemetry (as a crash reporter
                // would be): telemetry must chain to it, not replace it.
                Thread.setDefaultUncaughtExceptionHandler { thread, e ->
                    println("RESULT app_handler=called thread=${thread.name} class=${e.javaClass.name}")
                    System.out.flush()
                    // What ART does after the handlers: the process dies, no shutdown.
                    Runtime.getRuntime().halt(10)
                }
                val t = Telemetry.start(TelemetrySettings(File(dir), "9.9.9-child", enableS3Diagnostics = false))
                t.log(Level.INFO, "child", "before the crash")
                if (mode == "uncaught-main") {
                    throw IllegalStateException("cannot open Anna_Schmidt_Lauf.gpx")
                }
                val worker = Thread({ failDeepInside(3) }, "gps-worker")
                worker.start()
                worker.join()
                println("RESULT app_handler=not-called")
            }
            else -> error("unknown mode $mode")
        }
    }
}
