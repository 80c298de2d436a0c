package io.livemig.e2e;

import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.Strategy;
import io.livemig.channel.Channel;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.kit.SimulatedVm;
import io.livemig.kit.Simulation;
import io.livemig.kit.VirtualTime;
import io.livemig.kit.Workload;
import io.livemig.transport.TcpChannel;
import io.livemig.transport.TcpChannelListener;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The blackout (source pause to destination resume on one host's clock) is reported when both
 * sides share a host's monotonic clock, lies within the downtime the source measured, and is
 * absent on a virtual clock.
 */
class BlackoutTest {

    @Test
    void bothSidesOnOneHostReportTheBlackoutWithinTheDowntime() throws Exception {
        try (TcpChannelListener listener = TcpChannelListener.bind(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), Duration.ofSeconds(10));
             InMemoryVm source = InMemoryVm.builder().memoryBytes(8L << 20).prefill(0.5).build()) {
            source.start();
            CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
                try (Channel ch = listener.accept(Duration.ofSeconds(30))) {
                    return LiveMigration.receive(ch, d -> InMemoryVm.builder().layout(d.memoryLayout())
                            .vcpus(d.vcpuCount()).build(), MigrationOptions.defaults());
                } catch (Exception e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            });
            MigrationReport report;
            try (Channel ch = TcpChannel.connect(listener.localAddress(), Duration.ofSeconds(5), Duration.ofSeconds(10))) {
                report = LiveMigration.migrate(source, ch, MigrationOptions.builder().strategy(Strategy.PRECOPY).build());
            }
            try (var target = received.get(30, TimeUnit.SECONDS).target()) {
                MigrationReport.Switchover s = report.switchover();
                assertTrue(s.blackout().isPresent(), "one host, one clock: " + s);
                Duration blackout = s.blackout().get();
                assertTrue(blackout.compareTo(Duration.ZERO) > 0 && blackout.compareTo(s.downtime()) <= 0, s.toString());
                assertTrue(received.get().report().switchover().blackout().isEmpty(), "the source's figure only");
            }
        }
    }

    @Test
    void aVirtualClockHasNoBlackout() throws Exception {
        SimulatedVm vm = SimulatedVm.builder(new VirtualTime()).memoryBytes(16L << 20).prefill(0.5)
                .workload(Workload.idle()).build();
        vm.start();
        Simulation.Result r = Simulation.migrate(vm, LinkShape.of(125_000_000L, Duration.ofMillis(1)),
                MigrationOptions.builder().strategy(Strategy.PRECOPY).build());
        MigrationReport s = r.source();
        assertTrue(s != null && s.verified(), String.valueOf(r.failure()));
        assertEquals(java.util.Optional.empty(), s.switchover().blackout());
        r.target().close();
    }
}
