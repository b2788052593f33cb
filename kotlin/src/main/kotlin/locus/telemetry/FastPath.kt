package locus.telemetry

import com.sun.jna.Native

/**
 * `log` and `counter` without UniFFI's per-call machinery (see the Rust module
 * `locus_telemetry_ffi::fast`): JNA direct-mapped calls taking primitives and one byte
 * array. UniFFI's generated calls build JNA Structures by reflection on every call, tens
 * of microseconds; these cost about what crossing into native code costs.
 */
internal object FastPath {
    init {
        Native.register(FastPath::class.java, "locus_telemetry_ffi")
    }

    external fun locus_fast_log(slot: Long, level: Int, buf: ByteArray, len: Int): Long

    external fun locus_fast_counter(slot: Long, name: ByteArray, len: Int, increment: Long)

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

    /** Encodes target, message and fields as `locus_fast_log` reads them. */
    class Encoder {
        private var buf = ByteArray(256)
        var size = 0
            private set

        fun bytes(): ByteArray = buf

        fun reset() {
            size = 0
        }

        private fun ensure(extra: Int) {
            if (size + extra > buf.size) buf = buf.copyOf(maxOf(buf.size * 2, size + extra))
        }

        private fun u32(v: Int) {
            ensure(4)
            buf[size] = v.toByte(); buf[size + 1] = (v ushr 8).toByte()
            buf[size + 2] = (v ushr 16).toByte(); buf[size + 3] = (v ushr 24).toByte()
            size += 4
        }

        private fun u64(v: Long) {
            ensure(8)
            for (k in 0 until 8) buf[size + k] = (v ushr (8 * k)).toByte()
            size += 8
        }

        /** `u32 len` + UTF-8, encoded in place (unpaired surrogates become '?', as Java does). */
        fun str(s: String) {
            val lenAt = size
            u32(0)
            ensure(s.length * 3)
            var p = size
            var i = 0
            val b = buf
            while (i < s.length) {
                val c = s[i].code
                when {
                    c < 0x80 -> b[p++] = c.toByte()
                    c < 0x800 -> { b[p++] = (0xC0 or (c shr 6)).toByte(); b[p++] = (0x80 or (c and 0x3F)).toByte() }
                    Character.isHighSurrogate(s[i]) && i + 1 < s.length && Character.isLowSurrogate(s[i + 1]) -> {
                        val cp = Character.toCodePoint(s[i], s[i + 1])
                        i++
                        ensure(1) // 4 bytes for 2 chars: within the 3 per char reserved
                        b[p++] = (0xF0 or (cp shr 18)).toByte(); b[p++] = (0x80 or ((cp shr 12) and 0x3F)).toByte()
                        b[p++] = (0x80 or ((cp shr 6) and 0x3F)).toByte(); b[p++] = (0x80 or (cp and 0x3F)).toByte()
                    }
                    Character.isSurrogate(s[i]) -> b[p++] = '?'.code.toByte()
                    else -> {
                        b[p++] = (0xE0 or (c shr 12)).toByte(); b[p++] = (0x80 or ((c shr 6) and 0x3F)).toByte()
                        b[p++] = (0x80 or (c and 0x3F)).toByte()
                    }
                }
                i++
            }
            val len = p - size
            buf[lenAt] = len.toByte(); buf[lenAt + 1] = (len ushr 8).toByte()
            buf[lenAt + 2] = (len ushr 16).toByte(); buf[lenAt + 3] = (len ushr 24).toByte()
            size = p
        }

        fun field(key: String, v: Any?) {
            ensure(1)
            val tagAt = size++
            str(key)
            val tag: Byte = when (v) {
                is String -> { str(v); STR }
                is Double -> { u64(v.toRawBits()); F64 }
                is Long -> { u64(v); I64 }
                is Int -> { u64(v.toLong()); I64 }
                is Boolean -> { ensure(1); buf[size++] = if (v) 1 else 0; BOOL }
                is Float -> { u64(v.toDouble().toRawBits()); F64 }
                is Short -> { u64(v.toLong()); I64 }
                is Byte -> { u64(v.toLong()); I64 }
                is ULong -> { u64(v.toLong()); U64 }
                is UInt -> { u64(v.toLong()); U64 }
                else -> { str(v.toString()); STR }
            }
            buf[tagAt] = tag
        }
    }

    private val encoders = ThreadLocal.withInitial { Encoder() }

    /** A fresh encoder for this thread, holding target and message. */
    fun start(target: String, message: String): Encoder = encoders.get().also {
        it.reset()
        it.str(target)
        it.str(message)
    }
}
