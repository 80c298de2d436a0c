package io.livemig.examples;

import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationStatus;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EmbeddingExampleTest {

    @Test
    void theReadmeShowsExactlyTheCompiledExample() throws Exception {
        String source = Files.readString(Path.of("src/main/java/io/livemig/examples/EmbeddingExample.java"));
        String snippet = source.substring(source.indexOf("// README:begin") + "// README:begin".length(),
                source.indexOf("        // README:end"));
        String dedented = Arrays.stream(snippet.strip().split("\n"))
                .map(line -> line.startsWith("        ") ? line.substring(8) : line)
                .collect(Collectors.joining("\n"));
        String readme = Files.readString(Path.of("../README.md"));
        assertTrue(readme.contains(dedented), "README.md must contain the example from EmbeddingExample.java verbatim:\n"
                + dedented);
    }

    @Test
    void theExampleMigratesAndVerifies() throws Exception {
        MigrationReport report = EmbeddingExample.run();
        assertEquals(MigrationStatus.COMPLETED, report.status());
        assertTrue(report.verified());
    }
}
