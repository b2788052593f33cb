package locus.telemetry.bench

import java.io.File

/**
 * log4j2's all-async logger (LMAX disruptor) writing to a file, set up by reflection so
 * the benchmark compiles and runs without log4j2 on the class path. Returns the call to
 * time, or null when log4j2 or the disruptor is missing.
 */
object Log4j {
    fun asyncLogger(file: File): ((Int) -> Unit)? {
        try {
            Class.forName("com.lmax.disruptor.RingBuffer")
            Class.forName("org.apache.logging.log4j.core.async.AsyncLoggerContextSelector")
        } catch (e: ClassNotFoundException) {
            return null
        }
        // Before the first LogManager call: every logger async, config from a file.
        System.setProperty("log4j2.contextSelector", "org.apache.logging.log4j.core.async.AsyncLoggerContextSelector")
        val config = File(file.parentFile, "log4j2-bench.xml")
        config.writeText(
            """
            <Configuration status="WARN">
              <Appenders>
                <RandomAccessFile name="file" fileName="${file.path}" immediateFlush="false" append="false">
                  <PatternLayout pattern="%d %p %c: %m%n"/>
                </RandomAccessFile>
              </Appenders>
              <Loggers>
                <Root level="info"><AppenderRef ref="file"/></Root>
              </Loggers>
            </Configuration>
            """.trimIndent(),
        )
        System.setProperty("log4j2.configurationFile", config.path)
        val logger = org.apache.logging.log4j.LogManager.getLogger("locus.bench.log4j2")
        check(logger.javaClass.simpleName == "AsyncLogger") { "log4j2 gave ${logger.javaClass.name}, not an AsyncLogger" }
        return { i -> logger.info("fix lat={} lon={} acc_m={}", 52.52 + i * 1e-6, 13.40, i) }
    }
}
