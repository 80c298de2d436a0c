package io.livemig.examples;

import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.Strategy;
import io.livemig.channel.Channel;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.spi.MigratableVm;
import io.livemig.transport.TcpChannel;
import io.livemig.transport.TcpChannelListener;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * The embedding example of the README, compiled and run by a test: a destination listens, a
 * source opens a running in-memory VM and migrates it over TCP. In a control plane the two
 * halves run on two hosts; here they share a process.
 */
public final class EmbeddingExample {

    private EmbeddingExample() {
    }

    /**
     * Runs the example.
     *
     * @param args ignored
     * @throws Exception if the migration fails
     */
    public static void main(String[] args) throws Exception {
        MigrationReport report = run();
        System.out.println(report.status() + ", verified " + report.verified() + ", downtime "
                + report.switchover().downtime().toMillis() + " ms");
    }

    /** @return the source's report */
    public static MigrationReport run() throws Exception {
        // README:begin
        MigrationOptions options = MigrationOptions.builder()
                .strategy(Strategy.COLD)
                .downtimeLimit(Duration.ofMillis(300))
                .build();

        // Destination host: listen, and receive into a new VM of the "mem:" provider.
        TcpChannelListener listener = TcpChannelListener.bind(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), Duration.ofSeconds(30));
        CompletableFuture<ReceivedMigration> destination = CompletableFuture.supplyAsync(() -> {
            try (listener; Channel channel = listener.accept(Duration.ofSeconds(30))) {
                return LiveMigration.receive(channel, URI.create("mem:target"), options);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });

        // Source host: open the running VM and migrate it.
        MigrationReport report;
        try (MigratableVm vm = LiveMigration.open(URI.create("mem:vm?size=64M&workload=random&rate=10M&prefill=0.5"));
             Channel channel = TcpChannel.connect(listener.localAddress(), Duration.ofSeconds(5), Duration.ofSeconds(30))) {
            report = LiveMigration.migrate(vm, channel, options);
        }
        // The VM now runs at the destination; its owner closes it when done.
        destination.join().target().close();
        // README:end
        return report;
    }
}
