package locus.telemetry

import java.util.concurrent.atomic.AtomicBoolean
import locus.telemetry.ffi.UncaughtThrowable

/**
 * JVM crash capture. On Android (and any JVM) an app's ordinary crash is an uncaught
 * exception, not a signal: the runtime calls the default uncaught-exception handler and
 * then kills the process. [Telemetry.start] installs one handler, once per process, that
 * writes a crash tombstone — the exception's class, message, top frame, thread and whole
 * stack trace — synchronously into the ring (memory-mapped: it survives the process
 * dying right after), then hands the exception to the handler that was installed before
 * it (the app's own choice, a crash reporter, or ART's default that kills the process).
 * It never replaces that handler's decision: it only records first.
 *
 * The next start reads the session as "crashed" with that tombstone; the community
 * report counts it by its message's template, as it does Rust panics.
 *
 * The handler records into the most recently started telemetry that is not closed.
 */
internal object CrashCapture {
    private val installed = AtomicBoolean(false)

    @Volatile
    private var current: Telemetry? = null

    /** Most characters of stack trace kept (the tombstone's record is 16 KiB at most). */
    private const val MAX_STACK_CHARS = 12_000

    /** Makes [t] the telemetry uncaught exceptions are recorded into; installs the handler once. */
    fun attach(t: Telemetry) {
        current = t
        if (installed.compareAndSet(false, true)) {
            val previous = Thread.getDefaultUncaughtExceptionHandler()
            Thread.setDefaultUncaughtExceptionHandler(Handler(previous))
        }
    }

    /** [t] was closed: uncaught exceptions are no longer recorded into it. */
    fun detach(t: Telemetry) {
        synchronized(this) {
            if (current === t) current = null
        }
    }

    /** What the tombstone says about [e], uncaught on [thread]. */
    fun describe(thread: Thread, e: Throwable): UncaughtThrowable {
        val stack = e.stackTraceToString()
        return UncaughtThrowable(
            className = e.javaClass.name,
            message = e.message ?: "",
            location = e.stackTrace.firstOrNull()?.toString() ?: "",
            thread = thread.name,
            stack = if (stack.length > MAX_STACK_CHARS) stack.substring(0, MAX_STACK_CHARS) else stack,
        )
    }

    private val inHandler = ThreadLocal<Boolean>()

    /** Records, then chains: the previous handler decides what happens to the process. */
    private class Handler(private val previous: Thread.UncaughtExceptionHandler?) :
        Thread.UncaughtExceptionHandler {
        override fun uncaughtException(thread: Thread, e: Throwable) {
            try {
                if (inHandler.get() != true) {
                    inHandler.set(true)
                    current?.recordUncaught(thread, e)
                }
            } catch (t: Throwable) {
                // Telemetry failing must not change how the app's crash is handled.
            } finally {
                try {
                    inHandler.remove()
                } catch (t: Throwable) {
                }
            }
            if (previous != null) {
                previous.uncaughtException(thread, e)
            } else {
                // What the JVM does without a default handler (ThreadGroup's own handler
                // would call us again).
                System.err.print("Exception in thread \"${thread.name}\" ")
                e.printStackTrace(System.err)
            }
        }
    }
}
