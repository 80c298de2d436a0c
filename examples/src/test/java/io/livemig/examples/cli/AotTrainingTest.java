package io.livemig.examples.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The AOT cache's stamp: written by {@link AotTraining}, compared by {@code ./livemig}. */
class AotTrainingTest {

    @Test
    void theStampDescribesAJarAsTheLauncherDoesWithStatAndTheJdksReleaseFile(@TempDir Path dir) throws Exception {
        Path jar = Files.write(dir.resolve("livemig.jar"), new byte[12_345]);
        Process stat = new ProcessBuilder("stat", "-c", "%s %.9Y", jar.toString()).redirectErrorStream(true).start();
        String described = new String(stat.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assumeTrue(stat.waitFor() == 0, "no GNU stat here: the launcher then runs without the cache");
        String release = Files.readString(Path.of(System.getProperty("java.home"), "release"));
        String jdk = release.lines().filter(l -> l.startsWith("JAVA_RUNTIME_VERSION=\""))
                .map(l -> l.substring("JAVA_RUNTIME_VERSION=\"".length(), l.length() - 1)).findFirst().orElseThrow();

        assertEquals(described + " " + jdk, AotTraining.describe(jar));
    }

    @Test
    void aJarRewrittenWithTheSameSizeNoLongerMatchesTheStamp(@TempDir Path dir) throws Exception {
        Path jar = Files.write(dir.resolve("livemig.jar"), new byte[4096]);
        Files.setLastModifiedTime(jar, FileTime.from(Instant.parse("2026-12-01T10:00:00.123456789Z")));
        String stamp = AotTraining.describe(jar);

        byte[] changed = new byte[4096];
        changed[7] = 1;
        Files.write(jar, changed);
        Files.setLastModifiedTime(jar, FileTime.from(Instant.parse("2026-12-01T10:00:00.623456789Z")));

        assertNotEquals(stamp, AotTraining.describe(jar));
    }
}
