package locus.telemetry

import kotlin.system.exitProcess
import org.junit.runner.Description
import org.junit.runner.JUnitCore
import org.junit.runner.notification.Failure
import org.junit.runner.notification.RunListener

/** Runs the JUnit 4 tests and ends with the line `N passed, N failed`. */
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
        val result = core.run(TelemetryTest::class.java, StoryTest::class.java)
        val failures = result.failureCount
        if (result.runCount == 0) {
            println("no test ran")
            exitProcess(1)
        }
        println("${result.runCount - failures} passed, $failures failed")
        exitProcess(if (failures == 0) 0 else 1)
    }
}
