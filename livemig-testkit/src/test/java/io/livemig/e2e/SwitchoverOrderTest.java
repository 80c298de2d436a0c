package io.livemig.e2e;

import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.channel.Channel;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.kit.ForwardingVcpus;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.VcpuControl;
import io.livemig.spi.VcpuState;
import io.livemig.spi.VmDescriptor;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The switchover's order on the wire: the source sends the vCPU states ahead of the last
 * pages, and the destination loads them as soon as they are all there, before COMMIT, so that
 * loading them overlaps the last pages' transfer instead of adding to the downtime.
 */
class SwitchoverOrderTest {

    /** Rewrites 1 MiB at 16 MB/s: every round leaves pages dirty for the stop-copy. */
    private static final Workload BUSY = new Workload(WorkloadPattern.RANDOM, 1L << 20, 16L << 20, 64, 3);

    @Test
    void theVcpuStatesGoAheadOfTheLastPagesAndLoadBeforeCommit() throws Exception {
        InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.of(256L << 20, Duration.ZERO), TimeSource.system());
        List<Integer> sent = Collections.synchronizedList(new ArrayList<>());
        AtomicBoolean commitArrived = new AtomicBoolean();
        List<Boolean> loadsAfterCommit = Collections.synchronizedList(new ArrayList<>());
        List<List<VcpuState>> loaded = Collections.synchronizedList(new ArrayList<>());
        Channel source = new ForwardingChannel(pair.source()) {
            @Override
            public void send(ByteBuffer message) throws IOException {
                sent.add(Byte.toUnsignedInt(message.get(message.position())));
                super.send(message);
            }
        };
        Channel destination = new ForwardingChannel(pair.destination()) {
            @Override
            public int receive(ByteBuffer into) throws IOException {
                int start = into.position();
                int length = super.receive(into);
                if (length > 0 && Byte.toUnsignedInt(into.get(start)) == FrameType.COMMIT.code()) {
                    commitArrived.set(true);
                }
                return length;
            }
        };
        try (InMemoryVm vm = InMemoryVm.builder().memoryBytes(4L << 20).vcpus(2).prefill(0.5).workload(BUSY)
                .build()) {
            vm.start();
            CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
                try (Channel ch = destination) {
                    return LiveMigration.receive(ch, d -> recordingLoads(d, commitArrived, loadsAfterCommit, loaded),
                            MigrationOptions.defaults());
                } catch (Exception e) {
                    throw new CompletionException(e);
                }
            });
            MigrationReport report;
            try (Channel ch = source) {
                report = LiveMigration.migrate(vm, ch, MigrationOptions.builder().strategy(Strategy.PRECOPY)
                        .downtimeLimit(Duration.ofMillis(50)).build());
            }
            List<VcpuState> saved = vm.vcpus().saveState();
            try (MigrationTarget target = received.get(30, TimeUnit.SECONDS).target()) {
                assertTrue(report.verified(), report.toString());
                List<Integer> afterPause = new ArrayList<>(sent.subList(sent.indexOf(FrameType.SWITCHOVER.code()),
                        sent.size()));
                int firstVcpu = afterPause.indexOf(FrameType.VCPU_STATE.code());
                int firstPages = afterPause.indexOf(FrameType.PAGES.code());
                assertTrue(firstPages > 0, "the stop-copy sent pages: " + afterPause);
                assertTrue(firstVcpu > 0 && firstVcpu < firstPages, "vCPU states before the last pages: " + afterPause);
                assertEquals(2, afterPause.stream().filter(t -> t == FrameType.VCPU_STATE.code()).count(),
                        "each vCPU's state once: " + afterPause);
                assertTrue(afterPause.indexOf(FrameType.COMMIT.code()) > firstPages, afterPause.toString());
                assertEquals(List.of(false), loadsAfterCommit, "loaded once, before COMMIT arrived");
                for (int i = 0; i < saved.size(); i++) {
                    assertArrayEquals(saved.get(i).data(), loaded.get(0).get(i).data(), "vCPU " + i);
                }
                assertFalse(target.vcpus().isPaused(), "resumed after COMMIT");
            }
        }
    }

    /** A target whose vCPU loads say whether COMMIT had arrived, and keep what they loaded. */
    private static MigrationTarget recordingLoads(VmDescriptor d, AtomicBoolean commitArrived,
                                                  List<Boolean> loadsAfterCommit, List<List<VcpuState>> loaded) {
        MigrationTarget inner = InMemoryVm.builder().layout(d.memoryLayout()).vcpus(d.vcpuCount()).build();
        VcpuControl recording = new ForwardingVcpus(inner.vcpus()) {
            @Override
            public void loadState(List<VcpuState> states) {
                loadsAfterCommit.add(commitArrived.get());
                loaded.add(List.copyOf(states));
                super.loadState(states);
            }
        };
        return new ForwardingTarget(inner) {
            @Override
            public VcpuControl vcpus() {
                return recording;
            }
        };
    }
}
