package io.livemig.e2e;

import io.livemig.engine.ReceivedMigration;
import io.livemig.engine.LiveMigration;
import io.livemig.api.Codec;
import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.channel.Channel;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Pages travel as XBZRLE deltas, LZ4 and Zstd and still land byte for byte. */
class CodecMigrationTest {

    /** Pages 3000 to 3199 of the source hold one and the same content. */
    private static final long FIRST_TWIN = 3000;
    private static final int TWINS = 200;

    private static MigrationReport migrate(Set<Codec> codecs, Strategy strategy) throws Exception {
        return migrate(codecs, strategy, 1);
    }

    private static MigrationReport migrate(Set<Codec> codecs, Strategy strategy, int encoderThreads)
            throws Exception {
        // Small writes into a 2 MiB working set: re-sent pages differ from their cached copy by a few bytes.
        Workload guest = new Workload(WorkloadPattern.RANDOM, 2L << 20, 256L << 10, 8, 21);
        try (InMemoryVm source = InMemoryVm.builder().memoryBytes(16L << 20).prefill(0.6).workload(guest).build()) {
            byte[] twin = new java.util.Random(5).ints(4096, 0, 256).collect(java.io.ByteArrayOutputStream::new,
                    (o, b) -> o.write(b), (a, b) -> { }).toByteArray();
            for (long p = FIRST_TWIN; p < FIRST_TWIN + TWINS; p++) {
                source.memory().poke(p, 0, twin);
            }
            source.start();
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.of(64L << 20, Duration.ZERO), TimeSource.system());
            AtomicReference<MemorySnapshot> atResume = new AtomicReference<>();
            AtomicReference<MemorySnapshot> atPause = new AtomicReference<>();
            CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
                try (Channel ch = pair.destination()) {
                    return LiveMigration.receive(ch, d -> InMemoryVm.builder().layout(d.memoryLayout())
                            .onResume(vm -> atResume.set(MemorySnapshot.of(vm.memory()))).build(),
                            MigrationOptions.defaults());
                } catch (MigrationException e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            }, task -> Thread.ofPlatform().start(task));
            MigrationReport report;
            try (Channel ch = pair.source()) {
                // A cap far above what loopback needs here: with one, XBZRLE caches from the first
                // pass on (without, from a page's second whole send), so deltas travel from round 1.
                report = LiveMigration.migrate(source, ch, MigrationOptions.builder().strategy(strategy).codecs(codecs)
                        .bandwidthLimitBytesPerSecond(10_000_000_000L)
                        .downtimeLimit(Duration.ofMillis(20)).hybridRounds(3).encoderThreads(encoderThreads).listener(e -> {
                            if (e instanceof MigrationEvent.SwitchoverStarted) {
                                atPause.set(MemorySnapshot.of(source.memory()));
                            }
                        }).build());
            }
            received.get().target().close();
            assertTrue(report.verified(), codecs + ": " + report);
            if (strategy == Strategy.PRECOPY) {
                atResume.get().assertSameAs(atPause.get());
            }
            return report;
        }
    }

    @Test
    void xbzrleDeltasLandByteExactAndSaveBytes() throws Exception {
        MigrationReport r = migrate(Set.of(Codec.XBZRLE), Strategy.PRECOPY);
        assertTrue(r.totals().roundCount() > 1);
        assertTrue(r.encodings().pagesByEncoding().getOrDefault("xbzrle", 0L) > 0,
                "deltas were sent: " + r.encodings().pagesByEncoding());
        long xbzrleBytes = r.encodings().bytesByEncoding().get("xbzrle");
        long xbzrlePages = r.encodings().pagesByEncoding().get("xbzrle");
        assertTrue(xbzrleBytes < xbzrlePages * 4096 / 10, "deltas are small: " + xbzrleBytes + " bytes for "
                + xbzrlePages + " pages");
        assertTrue(r.encodings().bytesSaved() > 0);
    }

    @Test
    void identicalPagesTravelAsCheckedReferences() throws Exception {
        MigrationReport r = migrate(Set.of(Codec.DEDUP, Codec.LZ4), Strategy.PRECOPY);
        assertTrue(r.encodings().pagesByEncoding().getOrDefault("dedup", 0L) >= TWINS - 1,
                "references: " + r.encodings().pagesByEncoding());
        assertTrue(r.encodings().bytesByEncoding().get("dedup") == r.encodings().pagesByEncoding().get("dedup") * 24);
    }

    @Test
    void parallelEncodersLandByteExactWithDeltasAndReferences() throws Exception {
        // 16 MiB = 8 blocks of 2 MiB over 3 threads: uneven shares, every thread busy.
        MigrationReport r = migrate(Set.of(Codec.XBZRLE, Codec.DEDUP, Codec.LZ4), Strategy.PRECOPY, 3);
        assertTrue(r.totals().roundCount() > 1);
        assertTrue(r.encodings().pagesByEncoding().getOrDefault("xbzrle", 0L) > 0,
                "deltas: " + r.encodings().pagesByEncoding());
        assertTrue(r.encodings().pagesByEncoding().getOrDefault("dedup", 0L) > 0,
                "references: " + r.encodings().pagesByEncoding());
    }

    @Test
    void parallelEncodersHandOverToPostcopy() throws Exception {
        MigrationReport r = migrate(Set.of(Codec.XBZRLE, Codec.LZ4), Strategy.HYBRID, 2);
        assertTrue(r.postcopy().isPresent());
    }

    @Test
    void compressorsLandByteExact() throws Exception {
        for (Set<Codec> codecs : java.util.List.of(Set.of(Codec.LZ4), Set.of(Codec.ZSTD),
                Set.of(Codec.XBZRLE, Codec.LZ4, Codec.ZSTD, Codec.DEDUP))) {
            migrate(codecs, Strategy.PRECOPY);
        }
    }

    @Test
    void hybridWithCodecsSendsNoDeltasInPostcopyAndLandsByteExact() throws Exception {
        MigrationReport r = migrate(Set.of(Codec.XBZRLE, Codec.LZ4, Codec.DEDUP), Strategy.HYBRID);
        assertTrue(r.postcopy().isPresent());
    }
}
