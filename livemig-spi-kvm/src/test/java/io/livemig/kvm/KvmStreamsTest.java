package io.livemig.kvm;

import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.Strategy;
import io.livemig.channel.Channel;
import io.livemig.channel.Reconnector;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.spi.MigrationTarget;
import io.livemig.transport.TcpChannel;
import io.livemig.transport.TcpChannelListener;
import io.livemig.kit.ResumeHookTarget;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static io.livemig.kvm.KvmTestSupport.eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Parallel streams on KVM: a running guest that dirties memory moves over TCP on loopback with two
 * data connections beside the first channel, in pre-copy (rounds spread over both) and post-copy
 * (the push on the data connections, demanded pages on the first channel). Every page verifies,
 * every page the guest did not write since it resumed equals the source's at the pause, and the
 * guest's self-check continues at the destination.
 */
class KvmStreamsTest {

    private static final Duration PATIENCE = Duration.ofSeconds(30);

    /** Dials the destination's listener again for each data connection; closes what it made. */
    private static final class Dialler implements Reconnector, AutoCloseable {
        private final InetSocketAddress address;
        private final List<TcpChannel> made = new CopyOnWriteArrayList<>();

        Dialler(InetSocketAddress address) {
            this.address = address;
        }

        @Override
        public Channel reconnect() throws IOException {
            TcpChannel channel = TcpChannel.connect(address, Duration.ofSeconds(5), PATIENCE);
            made.add(channel);
            return channel;
        }

        int dialled() {
            return made.size();
        }

        @Override
        public void close() {
            made.forEach(TcpChannel::close);
        }
    }

    @ParameterizedTest
    @EnumSource(value = Strategy.class, names = {"PRECOPY", "POSTCOPY"})
    void aGuestMovesOverTwoDataConnectionsAndVerifiesPageForPage(Strategy strategy) throws Exception {
        KvmTestSupport.assumeGuests();
        try (KvmGuest source = new KvmGuest(KvmTestSupport.runningDirtier(40L << 20));
             TcpChannelListener listener = TcpChannelListener.bind(
                     new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), PATIENCE);
             Dialler dialler = new Dialler(listener.localAddress())) {
            assertTrue(eventually(Duration.ofSeconds(10), () -> KvmTestSupport.checksPassed(source.vmm()) >= 1));
            MigrationOptions options = MigrationOptions.builder().strategy(strategy).streams(2)
                    .downtimeLimit(Duration.ofMillis(50)).build();
            CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
                try {
                    return LiveMigration.receive(listener, PATIENCE, d -> new ResumeHookTarget<>(new KvmGuest(
                            MicroVmm.builder().memoryBytes(d.memoryLayout().memoryBytes()).build()),
                            // Log what the guest writes after resume: those pages may differ from the source.
                            guest -> guest.vmm().vm().setDirtyLogging(true)), options);
                } catch (Exception e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            }, task -> Thread.ofPlatform().start(task));
            MigrationReport report;
            try (Channel first = TcpChannel.connect(listener.localAddress(), Duration.ofSeconds(5), PATIENCE)) {
                report = LiveMigration.migrate(source, first, dialler, options);
            }
            ReceivedMigration migrated = received.get(PATIENCE.toSeconds(), TimeUnit.SECONDS);
            try (MigrationTarget target = migrated.target()) {
                assertTrue(report.verified(), report.toString());
                assertTrue(migrated.report().verified(), "the destination compared every page too");
                assertEquals(2, dialler.dialled(), "two data connections");
                assertEquals(strategy == Strategy.POSTCOPY, report.postcopy().isPresent());
                KvmGuest destination = (KvmGuest) ((ResumeHookTarget<?>) target).target();
                KvmTestSupport.assertUnwrittenPagesMatch(source, destination);
                KvmTestSupport.assertGuestContinues(source, destination);
            }
        }
    }
}
