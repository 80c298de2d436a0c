package io.livemig.examples.controlplane;

import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationProgress;
import io.livemig.api.MigrationReport;
import io.livemig.channel.Channel;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.Migration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.MigrationTarget;
import io.livemig.transport.TcpChannel;
import io.livemig.transport.TcpChannelListener;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What a control plane does with a migration, start to end: it starts one with a starved
 * bandwidth cap and a held switchover, polls its progress, raises the cap mid-flight when the
 * link frees up, hands the network over while the switchover is held and then releases it, and
 * composes the migration's {@link CompletableFuture} with the destination's. The VM is a running
 * in-memory VM of the {@code mem:} provider; the link is TCP over loopback.
 */
public final class ControlPlaneExample {

    /**
     * What the run saw.
     *
     * @param report          the source's report
     * @param destination     the destination's report
     * @param polls           the progress snapshots the control plane polled, in order
     * @param heldEvents      how many {@link MigrationEvent.SwitchoverHeld} the listener heard
     * @param capBeforeChange the bandwidth cap in force before the change, bytes per second
     * @param capAfterChange  the cap in force after it, bytes per second (0: none)
     */
    public record Outcome(MigrationReport report, MigrationReport destination, List<MigrationProgress> polls,
                          int heldEvents, long capBeforeChange, long capAfterChange) {
    }

    private ControlPlaneExample() {
    }

    /**
     * Runs the example and prints what happened.
     *
     * @param args ignored
     * @throws Exception if the migration fails
     */
    public static void main(String[] args) throws Exception {
        Outcome outcome = run();
        MigrationReport r = outcome.report();
        System.out.printf("migration %s %s in %d ms, downtime %d ms, %d rounds, verified %s; %d progress polls%n",
                r.migrationId(), r.status(), r.totals().totalTime().toMillis(), r.switchover().downtime().toMillis(),
                r.rounds().size(), r.verified(), outcome.polls().size());
    }

    /**
     * @return what the run saw
     * @throws Exception if the migration fails
     */
    public static Outcome run() throws Exception {
        CountDownLatch held = new CountDownLatch(1);
        AtomicInteger heldEvents = new AtomicInteger();
        List<MigrationProgress> polls = new ArrayList<>();
        MigrationOptions options = MigrationOptions.builder()
                .bandwidthLimitBytesPerSecond(1L << 20)          // 1 MiB/s: the link is busy
                .holdSwitchover(Duration.ofMinutes(1))           // wait for the network hand-over
                .progressInterval(Duration.ofMillis(200))
                .listener(event -> {
                    if (event instanceof MigrationEvent.SwitchoverHeld) {
                        heldEvents.incrementAndGet();
                        held.countDown();
                    }
                })
                .build();

        try (TcpChannelListener listener = TcpChannelListener.bind(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), Duration.ofSeconds(30));
             MigratableVm vm = LiveMigration.open(URI.create("mem:?size=32M&prefill=0.5&workload=random&rate=4M"))) {

            // Destination host.
            CompletableFuture<ReceivedMigration> destination = CompletableFuture.supplyAsync(() -> {
                try {
                    return LiveMigration.receive(listener, Duration.ofSeconds(30), URI.create("mem:target"),
                            MigrationOptions.defaults());
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });

            // Source host.
            Channel channel = TcpChannel.connect(listener.localAddress(), Duration.ofSeconds(5), Duration.ofSeconds(30));
            try (channel) {
                Migration migration = LiveMigration.start(vm, channel, options);

                // Poll until the first pages are out; at 1 MiB/s round 0 would take a quarter of a minute.
                polls.add(migration.progress());
                while (migration.progress().pagesSent() == 0 && !migration.isDone()) {
                    Thread.sleep(100);
                    polls.add(migration.progress());
                }
                long before = migration.progress().bandwidthLimitBytesPerSecond();

                // The link freed up: lift the cap (0 = none), from the next frame on.
                migration.setBandwidthLimit(0);
                long after = migration.progress().bandwidthLimitBytesPerSecond();

                // The rest now fits the downtime limit, but the switchover waits for us.
                if (!held.await(1, TimeUnit.MINUTES)) {
                    throw new IllegalStateException("the switchover was never held");
                }
                polls.add(migration.progress());
                moveTheNetworkOver();
                migration.releaseSwitchover();

                // Compose rather than block: the source's report with the destination's.
                CompletableFuture<Outcome> outcome = migration.future().thenCombine(destination,
                        (report, received) -> {
                            try (MigrationTarget target = received.target()) {
                                return new Outcome(report, received.report(), List.copyOf(polls), heldEvents.get(), before,
                                        after);
                            }
                        });
                return outcome.get(1, TimeUnit.MINUTES);
            }
        }
    }

    /** Stands for the caller's own hand-over: a switch reprogrammed, a storage path moved. */
    private static void moveTheNetworkOver() throws InterruptedException {
        Thread.sleep(50);
    }
}
