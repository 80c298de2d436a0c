package io.livemig.kvm;

import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.Strategy;
import io.livemig.api.Verification;
import io.livemig.channel.Channel;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.spi.MigrationTarget;
import io.livemig.transport.TcpChannel;
import io.livemig.transport.TcpChannelListener;
import io.livemig.kit.ResumeHookTarget;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;

import static io.livemig.kvm.KvmTestSupport.eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A running KVM guest migrated by livemig's engines over TCP loopback into another KVM VM:
 * memory byte for byte at switchover, and the guest's own self-check still passing after.
 */
class KvmMigrationTest {

    @ParameterizedTest
    @EnumSource(value = Strategy.class, names = {"COLD", "PRECOPY"})
    void aRunningGuestMovesAndKeepsCheckingOk(Strategy strategy) throws Exception {
        KvmTestSupport.assumeGuests();
        AtomicReference<MemorySegment> atResume = new AtomicReference<>();
        try (KvmGuest source = new KvmGuest(KvmTestSupport.runningDirtier(40L << 20));
             TcpChannelListener listener = TcpChannelListener.bind(
                     new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), Duration.ofSeconds(10));
             Arena arena = Arena.ofShared()) {
            assertTrue(eventually(Duration.ofSeconds(10), () -> KvmTestSupport.checksPassed(source.vmm()) >= 1));
            CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
                try (Channel ch = listener.accept(Duration.ofSeconds(30))) {
                    return LiveMigration.receive(ch, d -> new ResumeHookTarget<>(new KvmGuest(
                            MicroVmm.builder().memoryBytes(d.memoryLayout().memoryBytes()).build()), guest -> {
                                MemorySegment ram = guest.vmm().vm().memory();
                                atResume.set(arena.allocate(ram.byteSize()).copyFrom(ram));
                            }), MigrationOptions.defaults());
                } catch (Exception e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            }, task -> Thread.ofPlatform().start(task));
            MigrationReport report;
            try (Channel ch = TcpChannel.connect(listener.localAddress(), Duration.ofSeconds(5), Duration.ofSeconds(10))) {
                report = LiveMigration.migrate(source, ch, MigrationOptions.builder().strategy(strategy)
                        .downtimeLimit(Duration.ofMillis(50)).build());
            }
            ReceivedMigration dest = received.get();
            try (MigrationTarget target = dest.target()) {
                assertEquals(Verification.VERIFIED, report.verification().outcome(), report.toString());
                if (strategy == Strategy.PRECOPY) {
                    assertTrue(report.totals().roundCount() > 1, report.toString());
                }
                // The source stays paused after the handover: its memory is the memory at switchover.
                assertTrue(source.vmm().isPaused());
                long mismatch = atResume.get().mismatch(source.vmm().vm().memory());
                assertEquals(-1, mismatch, "destination memory differs from the source's at byte " + mismatch);
                MicroVmm destination = ((KvmGuest) ((ResumeHookTarget<?>) target).target()).vmm();
                int before = KvmTestSupport.checksPassed(source.vmm());
                assertTrue(eventually(Duration.ofSeconds(10), () -> KvmTestSupport.checksPassed(destination) >= 2),
                        "destination console: " + destination.consoleTail());
                assertTrue(destination.consoleTail().contains("check ok " + (before + 1)),
                        "the guest's counters did not continue from " + before + ": " + destination.consoleTail());
            }
        }
    }
}
