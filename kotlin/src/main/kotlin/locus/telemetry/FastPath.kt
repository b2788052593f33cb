package locus.telemetry

import com.sun.jna.Native
import com.sun.jna.Pointer
import java.nio.ByteBuffer
import locus.telemetry.ffi.FieldValue

/**
 * `log`, `counter`, `gauge` and `histogram` without UniFFI's per-call machinery (see the
 * Rust module `locus_telemetry_ffi::fast`): JNA direct-mapped calls taking primitives and
 * a pointer into a per-thread direct buffer. UniFFI's generated calls build JNA
 * Structures by reflection on every call, tens of microseconds; these cost about what
 * crossing into native code costs.
 *
 * What keeps it from hurting the app:
 * - **Bounded**: an encoder never holds more than [CAP] bytes. Text is cut while it is
 *   encoded (never converted whole), so a 10M-character line costs what an 8 KiB one
 *   does, and the Rust side (which keeps 4 KiB of a log record) marks the cut.
 * - **Only `len` bytes cross**: the encoded bytes are copied into an off-heap buffer of
 *   the same bound and its address is passed; JNA would copy a whole `byte[]` per call.
 * - **Re-entrant**: each thread has a small stack of encoders, so a `log()` called from
 *   a field's `toString()` encodes into the next one and both records arrive intact.
 * - **Nothing escapes**: a field whose `toString()` throws anything (a
 *   StackOverflowError, an OutOfMemoryError) is recorded as `<toString() threw CLASS>`
 *   and the record is kept. Fields are rendered on the caller's thread: a `toString()`
 *   that blocks blocks the call.
 */
internal object FastPath {
    init {
        Native.register(FastPath::class.java, "locus_telemetry_ffi")
    }

    @JvmStatic external fun locus_fast_log(slot: Long, level: Int, buf: Pointer, len: Int): Long

    @JvmStatic external fun locus_fast_counter(slot: Long, name: Pointer, len: Int, increment: Long)

    @JvmStatic external fun locus_fast_metric(slot: Long, kind: Int, name: Pointer, len: Int, value: Double)

    /** The most bytes one encoded call holds: above the ring's 4 KiB log record, so Rust marks any cut. */
    const val CAP = 8 * 1024

    /** Nested `log()` calls (from fields' `toString()`) served by kept encoders; deeper ones get a fresh one. */
    private const val KEPT_DEPTH = 4

    const val GAUGE = 1
    const val HISTOGRAM = 2

    private const val BOOL: Byte = 0
    private const val I64: Byte = 1
    private const val U64: Byte = 2
    private const val F64: Byte = 3
    private const val STR: Byte = 4

    fun levelCode(level: Level): Int = when (level) {
        Level.TRACE -> 0
        Level.DEBUG -> 1
        Level.INFO -> 2
        Level.WARN -> 3
        Level.ERROR -> 4
        Level.FATAL -> 5
    }

    /** Encodes target, message and fields as `locus_fast_log` reads them, at most [CAP] bytes. */
    class Encoder {
        private val buf = ByteArray(CAP)
        private val direct: ByteBuffer = ByteBuffer.allocateDirect(CAP)
        private val address: Pointer = Native.getDirectBufferPointer(direct)
        var size = 0
            private set

        /** Set once something did not fit: later fields are left out. */
        private var full = false

        fun reset() {
            size = 0
            full = false
        }

        /** Copies the `size` encoded bytes off-heap and returns their address. */
        fun send(): Pointer {
            direct.clear()
            direct.put(buf, 0, size)
            return address
        }

        private fun room(n: Int): Boolean {
            if (size + n <= CAP) return true
            full = true
            return false
        }

        private fun u32At(at: Int, v: Int) {
            buf[at] = v.toByte(); buf[at + 1] = (v ushr 8).toByte()
            buf[at + 2] = (v ushr 16).toByte(); buf[at + 3] = (v ushr 24).toByte()
        }

        private fun u64(v: Long) {
            for (k in 0 until 8) buf[size + k] = (v ushr (8 * k)).toByte()
            size += 8
        }

        /**
         * `u32 len` + UTF-8, encoded in place and cut at [CAP]. Returns false when not
         * even the length fitted.
         */
        fun str(s: String): Boolean {
            if (!room(4)) return false
            val lenAt = size
            val end = utf8(s, size + 4)
            u32At(lenAt, end - lenAt - 4)
            size = end
            return true
        }

        /** Only [s]'s UTF-8 (cut at [CAP]), from the start: a metric's name. */
        fun name(s: String) {
            reset()
            size = utf8(s, 0)
        }

        /**
         * Writes [s] as UTF-8 from [start], stopping before [CAP] (unpaired surrogates
         * become '?', as Java does); returns where it ended. Reads no more of [s] than fits.
         */
        private fun utf8(s: String, start: Int): Int {
            var p = start
            var i = 0
            val b = buf
            val n = s.length
            while (i < n) {
                if (p + 4 > CAP) {
                    full = true
                    break
                }
                val ch = s[i]
                val c = ch.code
                when {
                    c < 0x80 -> b[p++] = c.toByte()
                    c < 0x800 -> { b[p++] = (0xC0 or (c shr 6)).toByte(); b[p++] = (0x80 or (c and 0x3F)).toByte() }
                    Character.isHighSurrogate(ch) && i + 1 < n && Character.isLowSurrogate(s[i + 1]) -> {
                        val cp = Character.toCodePoint(ch, s[i + 1])
                        i++
                        b[p++] = (0xF0 or (cp shr 18)).toByte(); b[p++] = (0x80 or ((cp shr 12) and 0x3F)).toByte()
                        b[p++] = (0x80 or ((cp shr 6) and 0x3F)).toByte(); b[p++] = (0x80 or (cp and 0x3F)).toByte()
                    }
                    Character.isSurrogate(ch) -> b[p++] = '?'.code.toByte()
                    else -> {
                        b[p++] = (0xE0 or (c shr 12)).toByte(); b[p++] = (0x80 or ((c shr 6) and 0x3F)).toByte()
                        b[p++] = (0x80 or (c and 0x3F)).toByte()
                    }
                }
                i++
            }
            return p
        }

        /** One field; left out whole when the record is already full. */
        fun field(key: String, v: Any?) {
            // Tag, key length and a fixed-size value at least.
            if (full || !room(1 + 4 + 9)) return
            val mark = size
            val tagAt = size++
            if (!str(key) || !room(9)) {
                size = mark
                return
            }
            val tag: Byte = when (v) {
                is String -> { str(v); STR }
                is Double -> { u64(v.toRawBits()); F64 }
                is Long -> { u64(v); I64 }
                is Int -> { u64(v.toLong()); I64 }
                is Boolean -> { buf[size++] = if (v) 1 else 0; BOOL }
                is Float -> { u64(v.toDouble().toRawBits()); F64 }
                is Short -> { u64(v.toLong()); I64 }
                is Byte -> { u64(v.toLong()); I64 }
                is ULong -> { u64(v.toLong()); U64 }
                is UInt -> { u64(v.toLong()); U64 }
                is FieldValue.I64 -> { u64(v.value); I64 }
                is FieldValue.U64 -> { u64(v.value.toLong()); U64 }
                is FieldValue.F64 -> { u64(v.value.toRawBits()); F64 }
                is FieldValue.Bool -> { buf[size++] = if (v.value) 1 else 0; BOOL }
                is FieldValue.Str -> { str(v.value); STR }
                else -> { str(render(v)); STR }
            }
            buf[tagAt] = tag
        }
    }

    /**
     * A value's `toString()`, or what it threw instead: whatever a field does, the record
     * is kept. (`null` renders as "null".)
     */
    fun render(v: Any?): String =
        try {
            v.toString()
        } catch (t: Throwable) {
            "<toString() threw ${t.javaClass.name}>"
        }

    /** One thread's encoders, one per nesting level of `log()` calls. */
    private class Stack {
        val kept = arrayOfNulls<Encoder>(KEPT_DEPTH)
        var depth = 0
    }

    private val stacks = ThreadLocal.withInitial { Stack() }

    /**
     * Runs [body] with an empty encoder of this thread's current nesting level; a
     * `log()` that [body] causes (a field's `toString()`) gets the next one.
     */
    inline fun <T> withEncoder(body: (Encoder) -> T): T {
        val e = acquire()
        try {
            return body(e)
        } finally {
            release()
        }
    }

    @PublishedApi
    internal fun acquire(): Encoder {
        val s = stacks.get()
        val d = s.depth++
        val e = if (d < KEPT_DEPTH) s.kept[d] ?: Encoder().also { s.kept[d] = it } else Encoder()
        e.reset()
        return e
    }

    @PublishedApi
    internal fun release() {
        stacks.get().depth--
    }
}
