package locus.telemetry

import java.io.IOException
import java.io.InputStream
import java.net.ConnectException
import java.net.HttpURLConnection
import java.net.NoRouteToHostException
import java.net.SocketTimeoutException
import java.net.URI
import java.net.UnknownHostException
import javax.net.ssl.SSLException
import javax.net.ssl.SSLSocketFactory
import locus.telemetry.ffi.HttpHeader
import locus.telemetry.ffi.HttpRequest
import locus.telemetry.ffi.HttpResponse
import locus.telemetry.ffi.HttpTransport
import locus.telemetry.ffi.HttpTransportException

/**
 * The transport telemetry uploads through by default: the platform's own
 * [HttpURLConnection]. So on Android the phone decides — its trust store (user CAs as the
 * app's network security config allows), proxy and VPN — and on a JVM the JVM's
 * (`javax.net.ssl.trustStore`, `https.proxyHost`...). The native library carries no HTTP
 * client or TLS of its own.
 *
 * Telemetry calls [send] on its own transport thread, never the app's, one request at a
 * time, and stops waiting at the request's deadline whatever happens here; an exception
 * is a failed attempt that its circuit breaker counts.
 *
 * @param sslSocketFactory TLS settings for `https://` (null: the platform's default).
 */
class UrlConnectionTransport @JvmOverloads constructor(
    private val sslSocketFactory: SSLSocketFactory? = null,
) : HttpTransport {
    override fun send(request: HttpRequest): HttpResponse {
        val timeout = request.timeoutMs.toLong().coerceIn(1L, Int.MAX_VALUE.toLong()).toInt()
        val conn = try {
            URI.create(request.url).toURL().openConnection() as HttpURLConnection
        } catch (e: Exception) {
            // The URL is never put in a message: a presigned S3 URL carries a signature.
            throw HttpTransportException.Failed("cannot open a connection: ${e.javaClass.simpleName}")
        }
        try {
            if (sslSocketFactory != null && conn is javax.net.ssl.HttpsURLConnection) {
                conn.sslSocketFactory = sslSocketFactory
            }
            conn.requestMethod = request.method
            conn.instanceFollowRedirects = false
            conn.useCaches = false
            conn.connectTimeout = timeout
            conn.readTimeout = timeout
            for (h in request.headers) conn.setRequestProperty(h.name, h.value)
            if (request.method != "GET") {
                conn.doOutput = true
                conn.setFixedLengthStreamingMode(request.body.size)
                conn.outputStream.use { it.write(request.body) }
            }
            val status = conn.responseCode
            val body = (if (status >= 400) conn.errorStream else conn.inputStream)?.use { readCapped(it) }
                ?: ByteArray(0)
            val headers = conn.headerFields.flatMap { (name, values) ->
                if (name == null) emptyList() else values.map { HttpHeader(name, it) }
            }
            if (status !in 100..599) throw HttpTransportException.Failed("impossible HTTP status $status")
            return HttpResponse(status.toUShort(), headers, body)
        } catch (e: HttpTransportException) {
            throw e
        } catch (e: SocketTimeoutException) {
            throw HttpTransportException.Timeout(e.toString())
        } catch (e: ConnectException) {
            throw HttpTransportException.Connect(e.toString())
        } catch (e: UnknownHostException) {
            throw HttpTransportException.Connect(e.toString())
        } catch (e: NoRouteToHostException) {
            throw HttpTransportException.Connect(e.toString())
        } catch (e: SSLException) {
            throw HttpTransportException.Connect(e.toString())
        } catch (e: IOException) {
            throw HttpTransportException.Failed(e.toString())
        } finally {
            conn.disconnect()
        }
    }

    /** The whole stream, refused past [MAX_BODY] (no `readNBytes`: Android has it only from API 33). */
    private fun readCapped(input: InputStream): ByteArray {
        val out = java.io.ByteArrayOutputStream()
        val buf = ByteArray(16 * 1024)
        while (true) {
            val n = input.read(buf)
            if (n < 0) break
            out.write(buf, 0, n)
            if (out.size() > MAX_BODY) throw HttpTransportException.Failed("response body over $MAX_BODY bytes")
        }
        return out.toByteArray()
    }

    companion object {
        /** The largest response body read (S3 listings and error documents are far smaller). */
        const val MAX_BODY = 64 * 1024 * 1024
    }
}
