package io.livemig.examples.cli;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A demo without LZ4 or Zstd loads no native library, so the JDK has no restricted method to warn
 * about even on the class path without {@code --enable-native-access}: the codecs' libraries load
 * only when a migration agrees on them. (The jar's manifest covers the codecs: {@link LauncherJarIT}.)
 */
class NativeAccessWarningTest {

    static final String RESTRICTED = "WARNING: A restricted method";

    @Test
    void aDemoWithoutNativeCodecsPrintsNoRestrictedMethodWarningWithoutNativeAccessFlags() throws Exception {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), Livemig.class.getName(),
                "demo", "--strategy", "cold", "--mem", "8M", "--codecs", "zero,xbzrle,dedup"));
        Process demo = new ProcessBuilder(command).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        String stderr = new String(demo.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(demo.waitFor(60, TimeUnit.SECONDS), "the demo ended");

        assertEquals(0, demo.exitValue(), stderr);
        assertFalse(stderr.contains(RESTRICTED), stderr);
    }
}
