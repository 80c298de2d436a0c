package io.livemig.examples.cli;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code ./livemig demo} as a user runs it, on the packaged jar (so it runs after {@code package},
 * in the {@code launcher-jar} execution of examples/pom.xml): LZ4 and Zstd load native libraries
 * through {@code System.loadLibrary}, and the jar's {@code Enable-Native-Access: ALL-UNNAMED}
 * keeps the JDK from warning about it.
 */
class LauncherJarIT {

    @ParameterizedTest
    @ValueSource(strings = {"zero", "lz4", "zstd", "xbzrle,lz4,zstd"})
    void theLauncherPrintsNoRestrictedMethodWarningWhateverTheCodecs(String codecs) throws Exception {
        Path launcher = Path.of(System.getProperty("livemig.launcher", "../livemig")).toAbsolutePath();
        assertTrue(Files.isExecutable(launcher), launcher + " is the launcher");
        ProcessBuilder builder = new ProcessBuilder(List.of(launcher.toString(), "demo", "--strategy", "cold",
                "--mem", "8M", "--codecs", codecs))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD);
        builder.environment().put("JAVA_HOME", System.getProperty("java.home"));
        Process demo = builder.start();
        String stderr = new String(demo.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(demo.waitFor(60, TimeUnit.SECONDS), "the demo ended");

        assertEquals(0, demo.exitValue(), stderr);
        assertFalse(stderr.contains(NativeAccessWarningTest.RESTRICTED), stderr);
        assertFalse(stderr.contains("WARNING"), stderr);
    }
}
