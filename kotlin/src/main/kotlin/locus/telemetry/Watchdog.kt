package locus.telemetry

import java.lang.ref.WeakReference
import java.util.concurrent.CopyOnWriteArrayList
import locus.telemetry.ffi.LocusTelemetry
import locus.telemetry.ffi.LoopWatch
import locus.telemetry.ffi.WatchException

// The hang watchdog's Kotlin side (issue 22). Rust notices a hang (its keeper thread
// compares beats with the loop's max gap) but cannot see a JVM thread's stack; this layer
// remembers which thread each watch is for and, from a daemon thread of its own, polls
// every watch's `hangInProgress()` (one cheap native call each, ten times a second, only
// while watches exist) and, when a hang has begun, takes that thread's
// `Thread.getStackTrace()` and hands it to Rust as the hang's `stack` record. Polling
// rather than a callback from Rust: telemetry's threads never call into the JVM.

/** The app asked wrongly to watch a loop (a bad name or max gap, a name in use, too many). */
class InvalidWatchException(val reason: String) : IllegalArgumentException(reason)

/**
 * A watched loop (see [Telemetry.watch]). [beat] once per iteration of the loop; [close]
 * stops watching. A watch that is only dropped stops when it is garbage collected.
 */
class Watch private constructor(
    private val native: LoopWatch,
    /** The thread whose stack a hang records. */
    val thread: Thread,
) : AutoCloseable {
    /** The loop's name. */
    val name: String = try {
        native.name()
    } catch (e: Exception) {
        ""
    }

    /** The hang whose stack was taken (its start record's sequence number). */
    @Volatile
    private var stacked: ULong = 0u

    @Volatile
    private var closed = false

    /** The loop is alive. Never throws. */
    fun beat() {
        if (closed) return
        try {
            native.beat()
        } catch (e: Exception) {
        }
    }

    /** Stops watching the loop (its name may be watched again). */
    override fun close() {
        if (closed) return
        closed = true
        HangSampler.remove(this)
        try {
            native.destroy()
        } catch (e: Throwable) {
        }
    }

    /** On the sampler's thread: takes and records the stack of a hang that began. */
    internal fun sample() {
        if (closed) return
        try {
            val hang = native.hangInProgress() ?: return
            if (hang == stacked) return
            stacked = hang
            native.recordHangStack(hang, stackText(thread.stackTrace))
        } catch (e: Exception) {
            // A telemetry failure: nothing to record, the app goes on.
        }
    }

    internal companion object {
        /** At most this many frames: the record keeps about 4 KiB. */
        const val MAX_FRAMES = 64

        fun create(ffi: LocusTelemetry?, name: String, maxGapMs: Long, thread: Thread): Watch? {
            val native = ffi ?: return null
            if (maxGapMs < 0) throw InvalidWatchException("max_gap $maxGapMs ms is outside 250..=600000 ms")
            val loop = try {
                native.watch(name, maxGapMs.toULong())
            } catch (e: WatchException.Invalid) {
                throw InvalidWatchException(e.reason)
            } catch (e: Exception) {
                null
            } ?: return null
            return Watch(loop, thread).also(HangSampler::add)
        }

        /** `at class.method(File.kt:12)` a line, as Android prints frames (no module prefix). */
        fun stackText(frames: Array<StackTraceElement>): String =
            frames.take(MAX_FRAMES).joinToString("\n") { f ->
                val where = when {
                    f.isNativeMethod -> "Native Method"
                    f.fileName == null -> "Unknown Source"
                    f.lineNumber >= 0 -> "${f.fileName}:${f.lineNumber}"
                    else -> f.fileName
                }
                "at ${f.className}.${f.methodName}($where)"
            }
    }
}

/** The daemon thread that takes the stacks of hanging threads; runs while watches exist. */
internal object HangSampler {
    /** How often it looks at the watches. */
    const val INTERVAL_MS = 100L

    private val watches = CopyOnWriteArrayList<WeakReference<Watch>>()
    private var thread: Thread? = null

    @Synchronized
    fun add(w: Watch) {
        watches.add(WeakReference(w))
        if (thread?.isAlive != true) {
            thread = Thread(::run, "locus-hang-sampler").apply {
                isDaemon = true
                start()
            }
        }
    }

    fun remove(w: Watch) {
        watches.removeIf { it.get() == null || it.get() === w }
    }

    private fun run() {
        while (true) {
            try {
                Thread.sleep(INTERVAL_MS)
            } catch (e: InterruptedException) {
                return
            }
            for (ref in watches) {
                val w = ref.get()
                if (w == null) watches.remove(ref) else w.sample()
            }
            synchronized(this) {
                if (watches.isEmpty()) {
                    thread = null
                    return
                }
            }
        }
    }
}
