package locus.telemetry

import kotlin.system.exitProcess
import org.junit.runner.Description
import org.junit.runner.JUnitCore
import org.junit.runner.Request
import org.junit.runner.manipulation.Filter
import org.junit.runner.notification.Failure
import org.junit.runner.notification.RunListener

/** Runs the JUnit 4 tests and ends with the line `N passed, N failed` (`LOCUS_KT_FILTER` narrows them). */
object RunTests {
    @JvmStatic
    fun main(args: Array<String>) {
        val core = JUnitCore()
        val failed = HashSet<Description>()
        core.addListener(object : RunListener() {
            override fun testFailure(failure: Failure) {
                failed.add(failure.description)
                println("FAIL ${failure.description.methodName}: ${failure.message}")
                println(failure.trace.lines().take(12).joinToString("\n") { "    $it" })
            }

            override fun testFinished(description: Description) {
                if (description !in failed) println("ok   ${description.methodName}")
            }
        })
        val classes = arrayOf(TelemetryTest::class.java, StoryTest::class.java, JvmSideTest::class.java, TransportTest::class.java, WatchdogTest::class.java)
        // LOCUS_KT_FILTER=name: only the tests whose method name contains it (a developer's
        // loop; the suite runs them all).
        val only = System.getenv("LOCUS_KT_FILTER").orEmpty()
        val request = Request.classes(*classes).let { r ->
            if (only.isEmpty()) r else r.filterWith(object : Filter() {
                override fun shouldRun(d: Description) = d.methodName == null || d.methodName.contains(only)
                override fun describe() = "method name contains $only"
            })
        }
        val result = core.run(request)
        val failures = result.failureCount
        if (result.runCount == 0) {
            println("no test ran")
            exitProcess(1)
        }
        println("${result.runCount - failures} passed, $failures failed")
        exitProcess(if (failures == 0) 0 else 1)
    }
}
