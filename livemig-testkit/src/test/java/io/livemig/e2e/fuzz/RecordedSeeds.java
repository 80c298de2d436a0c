package io.livemig.e2e.fuzz;

import io.livemig.api.Codec;
import io.livemig.api.EscalationStep;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.channel.Channel;
import io.livemig.e2e.ForwardingChannel;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.kit.StatefulDeviceSpec;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;

/**
 * Seeds recorded from real migrations of a small in-memory VM (32 pages of 4 KiB, a quarter of
 * them filled, a guest writing 64-byte runs into its first 16 pages), one per strategy, with
 * every codec and verification on: every forward frame the real source sent, in order, as the
 * script's {@link FuzzScript.Op#FRAME} records after no preamble. Replayed, each carries the
 * destination through the whole of its migration ({@code ReceiverSeedsTest} checks so).
 */
final class RecordedSeeds {

    /** Entries per PAGES frame: 8 raw pages fit in a script record. */
    private static final int BATCH_PAGES = 8;

    private RecordedSeeds() {
    }

    /**
     * @return a seed per strategy, by file name ({@code recorded-cold}, ...), trace and replay aside:
     *         the receiver's kit target cannot replay (its frames are covered by the rejection
     *         tests and HostileReplayFramesTest)
     */
    static Map<String, byte[]> all() throws Exception {
        Map<String, byte[]> seeds = new LinkedHashMap<>();
        for (Strategy strategy : Strategy.values()) {
            if (strategy == Strategy.TRACE_REPLAY) {
                continue;
            }
            seeds.put("recorded-" + strategy.name().toLowerCase(java.util.Locale.ROOT), record(strategy));
        }
        return seeds;
    }

    /** Migrates a fresh VM with {@code strategy} and returns the forward stream as a script. */
    static byte[] record(Strategy strategy) throws Exception {
        Workload guest = new Workload(WorkloadPattern.HOTCOLD, 16 * 4096L, 2L << 20, 64, 7);
        // A small disk written while the VM runs, so that the seeds carry the disk frames too.
        Workload disk = new Workload(WorkloadPattern.RANDOM, 0, 256L << 10, 4096, 3);
        // And a small device that migrates by its data stream (pre-copied where the strategy allows).
        StatefulDeviceSpec nic = StatefulDeviceSpec.of("nic0", 32L << 10).withChunkBytes(4096)
                .withWrites(64L << 10, 5).withStates(true, true);
        try (InMemoryVm vm = InMemoryVm.builder().memoryBytes(32 * 4096L).prefill(0.25).workload(guest)
                .disk("vda", 16 * 4096L, 4096).diskWorkload(disk).statefulDevice(nic).build()) {
            vm.start();
            // Slow enough that pre-copy needs more than one round while the guest writes.
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.of(2L << 20, Duration.ZERO),
                    TimeSource.system());
            Recording recording = new Recording(pair.source());
            CompletableFuture<ReceivedMigration> destination = CompletableFuture.supplyAsync(() -> {
                try {
                    return LiveMigration.receive(pair.destination(), d -> InMemoryVm.builder().buildTarget(d),
                            MigrationOptions.defaults());
                } catch (MigrationException e) {
                    throw new CompletionException(e);
                }
            });
            MigrationOptions options = MigrationOptions.builder().strategy(strategy).batchPages(BATCH_PAGES)
                    .codecs(EnumSet.allOf(Codec.class)).downtimeLimit(Duration.ofMillis(1)).maxRounds(3)
                    .hybridRounds(2).escalation(List.of(new EscalationStep.Force())).verify(true).build();
            LiveMigration.migrate(vm, recording, options);
            destination.get(30, TimeUnit.SECONDS).target().close();
            pair.source().close();
            pair.destination().close();
            FuzzScript.Writer script = new FuzzScript.Writer(0);
            for (byte[] frame : recording.sent) {
                script.frame(ByteBuffer.wrap(frame));
            }
            return script.bytes();
        }
    }

    /** The source's end of a channel, keeping a copy of every message sent. */
    private static final class Recording extends ForwardingChannel {
        private final List<byte[]> sent = new ArrayList<>();

        Recording(Channel inner) {
            super(inner);
        }

        @Override
        public void send(ByteBuffer message) throws IOException {
            byte[] copy = new byte[message.remaining()];
            message.duplicate().get(copy);
            synchronized (sent) {
                sent.add(copy);
            }
            super.send(message);
        }
    }
}
