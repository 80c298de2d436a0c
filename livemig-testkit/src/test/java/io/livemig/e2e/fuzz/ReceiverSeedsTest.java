package io.livemig.e2e.fuzz;

import io.livemig.api.MigrationException;
import io.livemig.api.ProtocolException;
import io.livemig.api.SourceVmState;
import io.livemig.engine.internal.wire.FrameType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The receiver fuzzer's seed corpus does what it is there for: the recorded real migrations and
 * the complete scripts carry the destination to a resumed, verified VM (so the fuzzer starts from
 * the deepest states), and each crafted attack is refused with a {@link MigrationException}.
 *
 * <p>With {@code -Dlivemig.fuzz.seeds=<directory>} it also writes the seeds (recorded afresh) to
 * that directory: {@code livemig-testkit/src/test/resources/io/livemig/e2e/fuzz/ReceiverFuzzTestInputs/
 * receiverEndsCleanlyWhateverTheSourceSends}.
 */
class ReceiverSeedsTest {

    private static final String SEEDS = "ReceiverFuzzTestInputs/receiverEndsCleanlyWhateverTheSourceSends";

    static Stream<String> storedSeeds() throws IOException, URISyntaxException {
        Path dir = Path.of(ReceiverSeedsTest.class.getResource(SEEDS).toURI());
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).sorted().toList().stream();
        }
    }

    private static byte[] stored(String name) throws IOException, URISyntaxException {
        return Files.readAllBytes(Path.of(ReceiverSeedsTest.class.getResource(SEEDS + "/" + name).toURI()));
    }

    @Test
    void theCorpusHoldsARecordedMigrationOfEveryStrategyAndEveryCraftedInput() throws Exception {
        List<String> names = storedSeeds().toList();
        for (String strategy : List.of("cold", "precopy", "postcopy", "hybrid")) {
            assertTrue(names.contains("recorded-" + strategy), "no recorded " + strategy + " migration: " + names);
        }
        for (String crafted : CraftedSeeds.all().keySet()) {
            assertTrue(names.contains(crafted), "the corpus lacks " + crafted);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("storedSeeds")
    void everySeedEndsCleanlyAsItShould(String name) throws Exception {
        ReceiverRun run = ReceiverRun.play(stored(name));
        Throwable failure = run.failure();
        if (name.startsWith("recorded-") || name.startsWith("complete-")) {
            assertNull(failure, () -> name + " failed: " + failure);
            assertNotNull(run.received());
            assertEquals(1, run.sent(FrameType.RESUMED));
            if (run.sent(FrameType.VERIFY_RESULT) > 0) {
                assertTrue(run.received().report().verified(), name + " did not verify: "
                        + run.received().report().verification());
            }
        } else if (name.startsWith("crafted-")) {
            MigrationException e = assertInstanceOf(MigrationException.class, failure, name + " was not refused");
            if (e.sourceState() == SourceVmState.SPLIT) {
                // Refused after the VM resumed: post-copy fails, the destination stops its VM.
                assertTrue(name.contains("postcopy") || name.contains("recovery"), e.toString());
                assertEquals(1, run.sent(FrameType.RESUMED));
            } else {
                if (!name.contains("cut") && !name.contains("ends-mid") && !name.contains("aborted")
                        && !name.contains("refuses")) {
                    assertInstanceOf(ProtocolException.class, e, name + ": " + e);
                }
                assertEquals(0, run.sent(FrameType.RESUMED), name + " resumed a VM");
            }
        }
        if (name.contains("recovered")) {
            assertEquals(1, run.sent(FrameType.RECOVER), "the destination asked the source back for what it lacks");
            assertEquals(1, run.received().report().postcopy().orElseThrow().recoveries());
        }
        if (name.contains("settle") && name.contains("after-a-cut")) {
            assertEquals(1, run.sent(FrameType.SETTLED), "the destination answered the source that came back");
        }
        run.assertEndedCleanly();
    }

    @Test
    @EnabledIfSystemProperty(named = "livemig.fuzz.seeds", matches = ".+")
    void writeSeeds() throws Exception {
        Path dir = Path.of(System.getProperty("livemig.fuzz.seeds"));
        Files.createDirectories(dir);
        Map<String, byte[]> seeds = new LinkedHashMap<>(RecordedSeeds.all());
        seeds.putAll(CraftedSeeds.all());
        for (Map.Entry<String, byte[]> seed : seeds.entrySet()) {
            Files.write(dir.resolve(seed.getKey()), seed.getValue());
        }
    }
}
