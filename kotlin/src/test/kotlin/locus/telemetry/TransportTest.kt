package locus.telemetry

import java.security.KeyStore
import java.util.concurrent.CountDownLatch
import java.util.concurrent.atomic.AtomicInteger
import javax.net.ssl.SSLContext
import javax.net.ssl.TrustManagerFactory
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.runBlocking
import locus.telemetry.ffi.HttpRequest
import locus.telemetry.ffi.HttpResponse
import locus.telemetry.ffi.HttpTransport
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Rule
import org.junit.Test
import org.junit.rules.TemporaryFolder

/**
 * The transport seam from Kotlin (issue 21): the native library carries no HTTP client;
 * uploads go through [UrlConnectionTransport], the platform's `HttpURLConnection`. Over
 * HTTPS to SeaweedFS with a private CA that only the JVM's truststore knows
 * (scripts/test-kotlin makes the CA and points `javax.net.ssl.trustStore` at it); and a
 * transport that never returns cannot hold up the app or shutdown, is called once, and
 * counts for the breaker.
 */
class TransportTest {
    @get:Rule
    val tmp = TemporaryFolder()

    private fun prefix(name: String) = "kt-$name-${System.nanoTime()}"

    private val httpsS3: String
        get() = System.getProperty("locus.seaweed.s3https")
            ?: throw AssertionError("-Dlocus.seaweed.s3https is not set: run these tests with scripts/test-kotlin")

    @Test
    fun uploadsOverHttpsWithAPrivateCaTrustedOnlyByTheJvm() {
        assertTrue("an https endpoint: $httpsS3", httpsS3.startsWith("https://"))
        val prefix = prefix("https")
        val t = Telemetry.start(Seaweed.settings(tmp.newFolder(), prefix).copy(s3Endpoint = httpsS3))
        val marker = "over-https-${System.nanoTime()}"
        t.log(Level.INFO, "app.https", marker)
        assertTrue("flush over https: ${t.status()?.destination(DestinationKind.S3)}", runBlocking { t.flush(20.seconds) })
        val s3 = t.status()!!.destination(DestinationKind.S3)!!
        assertTrue("uploads_ok: $s3", s3.uploadsOk >= 1)
        assertEquals(0L, s3.uploadsFailed)
        assertNull(s3.lastError)
        // Read back through the filer (plain HTTP, no code shared with the library).
        val lines = Seaweed.objects(prefix).flatMap(Seaweed::lines)
        assertNotNull("the marker arrived over https: ${lines.size} lines", lines.singleOrNull { it.contains(marker) })
        t.close()
    }

    @Test
    fun withoutThePrivateCaTheHttpsUploadFailsCountedAndTheAppGoesOn() {
        // The JDK's own cacerts only: the private CA is unknown there.
        val jdkCacerts = java.io.File(System.getProperty("java.home"), "lib/security/cacerts")
        val store = KeyStore.getInstance(KeyStore.getDefaultType())
        jdkCacerts.inputStream().use { store.load(it, null) }
        val tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm())
        tmf.init(store)
        val ctx = SSLContext.getInstance("TLS")
        ctx.init(null, tmf.trustManagers, null)
        val prefix = prefix("https-untrusted")
        val settings = Seaweed.settings(tmp.newFolder(), prefix).copy(s3Endpoint = httpsS3, attemptTimeout = 2.seconds)
        val t = Telemetry.start(settings, UrlConnectionTransport(ctx.socketFactory))
        t.log(Level.INFO, "app", "never lands")
        runBlocking { t.flush(10.seconds) }
        val s3 = t.status()!!.destination(DestinationKind.S3)!!
        assertEquals("nothing uploaded: $s3", 0L, s3.uploadsOk)
        assertTrue("the failure is counted: $s3", s3.uploadsFailed >= 1 && s3.breaker.consecutiveFailures >= 1)
        assertTrue("the certificate is named: ${s3.lastError}", s3.lastError.orEmpty().contains("cannot reach the server"))
        assertTrue("recording goes on", t.log(Level.INFO, "app", "still recording") > 0)
        assertEquals(emptyList<String>(), Seaweed.objects(prefix))
        t.close()
    }

    /** Never returns until [release]; counts its calls. */
    private class Hangs : HttpTransport {
        val calls = AtomicInteger()
        val release = CountDownLatch(1)
        override fun send(request: HttpRequest): HttpResponse {
            calls.incrementAndGet()
            release.await()
            throw IllegalStateException("released")
        }
    }

    @Test
    fun aKotlinTransportThatHangsForeverHoldsUpNothingAndIsCalledOnce() {
        val hangs = Hangs()
        val settings = Seaweed.settings(tmp.newFolder(), prefix("hang")).copy(attemptTimeout = 1.seconds)
        val t = Telemetry.start(settings, hangs)
        repeat(20) { t.log(Level.INFO, "app", "line $it") }
        runBlocking { t.flush(10.seconds) }
        val first = t.status()!!.destination(DestinationKind.S3)!!
        assertEquals("one call into the stuck transport: $first", 1, hangs.calls.get())
        assertTrue("the attempts count for the breaker: $first", first.uploadsFailed >= 1 && first.breaker.consecutiveFailures >= 2)

        repeat(20) { t.log(Level.INFO, "app", "more $it") }
        runBlocking { t.flush(10.seconds) }
        val second = t.status()!!.destination(DestinationKind.S3)!!
        assertEquals("a second round started no second call: $second", 1, hangs.calls.get())
        assertTrue("the second round counted too: $second", second.breaker.consecutiveFailures > first.breaker.consecutiveFailures)

        assertTrue("recording goes on", t.log(Level.INFO, "app", "still recording") > 0)
        val report = runBlocking { t.shutdown(500.milliseconds) }
        // The library's contract: shutdown returns by its deadline (plus scheduling grace).
        assertTrue("took ${report.took} for a 500 ms deadline", report.took <= 750.milliseconds)
        assertEquals(1, hangs.calls.get())
        t.close()
        hangs.release.countDown()
    }

    /** Answers an impossible status, or throws something the interface does not declare. */
    private class Misbehaves(val garbage: Boolean) : HttpTransport {
        val calls = AtomicInteger()
        override fun send(request: HttpRequest): HttpResponse {
            calls.incrementAndGet()
            if (garbage) return HttpResponse(0.toUShort(), emptyList(), ByteArray(3))
            throw IllegalStateException("the platform's stack blew up")
        }
    }

    @Test
    fun aKotlinTransportThatThrowsOrAnswersGarbageIsACountedFailure() {
        for (garbage in listOf(false, true)) {
            val transport = Misbehaves(garbage)
            val t = Telemetry.start(Seaweed.settings(tmp.newFolder(), prefix("misbehaves")), transport)
            t.log(Level.INFO, "app", "never lands")
            runBlocking { t.flush(10.seconds) }
            val s3 = t.status()!!.destination(DestinationKind.S3)!!
            assertEquals("garbage=$garbage: $s3", 0L, s3.uploadsOk)
            assertTrue("garbage=$garbage: counted: $s3", s3.uploadsFailed >= 1 && s3.breaker.consecutiveFailures >= 3)
            assertEquals("every attempt reached the transport: $s3", s3.attempts, transport.calls.get().toLong())
            assertTrue("recording goes on", t.log(Level.INFO, "app", "still recording") > 0)
            t.close()
        }
    }
}
