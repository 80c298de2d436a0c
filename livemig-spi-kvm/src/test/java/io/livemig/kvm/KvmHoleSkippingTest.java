package io.livemig.kvm;

import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.Strategy;
import io.livemig.api.Verification;
import io.livemig.channel.Channel;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.PageSet;
import io.livemig.transport.TcpChannel;
import io.livemig.transport.TcpChannelListener;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.livemig.kvm.KvmTestSupport.eventually;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Guest RAM the guest never wrote is a hole of its memfd, and a migration keeps it one: the
 * source does not read it (reading a memfd hole allocates it) and the destination does not
 * allocate it. Checked through the memfds' allocated sizes, on a 1 GiB guest that touches a few
 * MiB.
 */
class KvmHoleSkippingTest {

    private static final long MEMORY_BYTES = 1L << 30;
    private static final long WORKING_SET_BYTES = 8L << 20;

    /** A dirtier writing 8 MiB at 4 MiB in a 1 GiB VM, whole pages, 20 MB/s. */
    private static MicroVmm sparseDirtier() throws Exception {
        MicroVmm vmm = MicroVmm.builder().memoryBytes(MEMORY_BYTES).build();
        vmm.loadMultiboot(KvmTestSupport.dirtier());
        new DirtierParams(4L << 20, WORKING_SET_BYTES, 4096, true, 20L << 20, 100, 300, 11)
                .writeTo(vmm.vm().memory(), vmm.vcpus().get(0).tscKhz());
        vmm.start();
        vmm.resume();
        return vmm;
    }

    @Test
    void populatedPagesAreWhatWasWrittenAndFindingThemAllocatesNothing() throws Exception {
        KvmTestSupport.assumeKvm();
        try (Kvm kvm = Kvm.open(); KvmVm vm = kvm.createVm(64L << 20)) {
            KvmMemory memory = new KvmMemory(vm, page -> { });
            assertEquals(0, memory.allocatedBytes());
            assertTrue(memory.populatedPages().orElseThrow().isEmpty());
            vm.memory().set(JAVA_LONG, 5 * KvmVm.PAGE_BYTES + 8, 42L);
            vm.memory().set(JAVA_LONG, 9000 * KvmVm.PAGE_BYTES, 7L);
            PageSet populated = memory.populatedPages().orElseThrow();
            assertEquals(2, populated.cardinality(), populated.toString());
            assertTrue(populated.contains(5) && populated.contains(9000), populated.toString());
            assertEquals(2 * KvmVm.PAGE_BYTES, memory.allocatedBytes());
            // Zeroing punches the page out again rather than writing (and keeping) zeros.
            memory.zeroPages(5, 1);
            assertEquals(KvmVm.PAGE_BYTES, memory.allocatedBytes());
            assertEquals(0L, vm.memory().get(JAVA_LONG, 5 * KvmVm.PAGE_BYTES + 8));
        }
    }

    @ParameterizedTest
    @EnumSource(value = Strategy.class, names = {"COLD", "PRECOPY", "POSTCOPY"})
    void neverWrittenMemoryIsNeitherReadNorAllocated(Strategy strategy) throws Exception {
        KvmTestSupport.assumeGuests();
        try (KvmGuest source = new KvmGuest(sparseDirtier());
             TcpChannelListener listener = TcpChannelListener.bind(
                     new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), Duration.ofSeconds(10))) {
            assertTrue(eventually(Duration.ofSeconds(10), () -> KvmTestSupport.checksPassed(source.vmm()) >= 1));
            KvmMemory sourceMemory = source.memory();
            CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
                try (Channel ch = listener.accept(Duration.ofSeconds(30))) {
                    return LiveMigration.receive(ch, d -> new KvmGuest(
                            MicroVmm.builder().memoryBytes(d.memoryLayout().memoryBytes()).build()),
                            MigrationOptions.defaults());
                } catch (Exception e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            }, task -> Thread.ofPlatform().start(task));
            MigrationReport report;
            try (Channel ch = TcpChannel.connect(listener.localAddress(), Duration.ofSeconds(5), Duration.ofSeconds(10))) {
                report = LiveMigration.migrate(source, ch, MigrationOptions.builder().strategy(strategy)
                        .downtimeLimit(Duration.ofMillis(50)).build());
            }
            try (MigrationTarget target = received.get(30, TimeUnit.SECONDS).target()) {
                assertEquals(Verification.VERIFIED, report.verification().outcome(), report.toString());
                // The guest wrote its image, its stack and its working set; the engine read nothing else.
                long sourceAllocated = sourceMemory.allocatedBytes();
                assertTrue(sourceAllocated < 4 * WORKING_SET_BYTES, "the source allocated " + sourceAllocated
                        + " bytes of its " + MEMORY_BYTES + ": the migration read never-written memory");
                KvmGuest destination = (KvmGuest) target;
                long destinationAllocated = destination.memory().allocatedBytes();
                assertTrue(destinationAllocated <= sourceAllocated, "the destination allocated "
                        + destinationAllocated + " bytes, more than the source's populated " + sourceAllocated);
                assertTrue(report.totals().bytesOnWire() < 4 * WORKING_SET_BYTES, report.toString());
                int before = KvmTestSupport.checksPassed(source.vmm());
                MicroVmm d = destination.vmm();
                assertTrue(eventually(Duration.ofSeconds(10), () -> KvmTestSupport.checksPassed(d) > before),
                        "destination console: " + d.consoleTail());
            }
        }
    }
}
