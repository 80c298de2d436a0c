package io.livemig.examples.cli;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationSecret;
import io.livemig.api.SourceVmState;
import io.livemig.api.Strategy;
import io.livemig.channel.Channel;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import io.livemig.spi.MigrationTarget;
import io.livemig.transport.TlsChannel;
import io.livemig.transport.TlsChannelListener;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An on-path attacker who changes bytes of a migration in flight, the attack that wrote code into
 * guest RAM over plain TCP: over mutual TLS the change fails TLS's record authentication, the
 * destination discards the VM before it ever runs, and the source VM keeps running.
 */
class TlsTamperTest {

    private static final Duration IO = Duration.ofSeconds(30);

    /** Relays one connection both ways and flips one bit of the byte at {@code flipAt} from source to destination. */
    private static final class TamperingProxy implements AutoCloseable {
        final ServerSocket server;
        final AtomicBoolean flipped = new AtomicBoolean();
        private final InetSocketAddress target;
        private final long flipAt;

        TamperingProxy(InetSocketAddress target, long flipAt) throws IOException {
            this.server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
            this.target = target;
            this.flipAt = flipAt;
            Thread.ofPlatform().daemon().start(this::serve);
        }

        InetSocketAddress address() {
            return new InetSocketAddress(InetAddress.getLoopbackAddress(), server.getLocalPort());
        }

        private void serve() {
            try (Socket in = server.accept(); Socket out = new Socket(target.getAddress(), target.getPort())) {
                Thread back = Thread.ofPlatform().daemon().start(() -> pump(out, in, -1));
                pump(in, out, flipAt);
                back.join();
            } catch (IOException | InterruptedException ignored) {
                // the test is over, or an end closed
            }
        }

        private void pump(Socket from, Socket to, long flip) {
            byte[] buffer = new byte[64 << 10];
            long seen = 0;
            try (InputStream input = from.getInputStream(); OutputStream output = to.getOutputStream()) {
                int n;
                while ((n = input.read(buffer)) > 0) {
                    if (flip >= seen && flip < seen + n) {
                        buffer[(int) (flip - seen)] ^= 0x20;
                        flipped.set(true);
                    }
                    seen += n;
                    output.write(buffer, 0, n);
                }
            } catch (IOException ignored) {
                // an end closed
            } finally {
                try {
                    to.shutdownOutput();
                } catch (IOException ignored) {
                    // already closed
                }
            }
        }

        @Override
        public void close() throws IOException {
            server.close();
        }
    }

    @Test
    void aByteChangedInFlightOverTlsEndsTheMigrationBeforeTheVmRunsAndTheSourceRunsOn() throws Exception {
        ThrowawayPki pki = ThrowawayPki.create("tamper test CA");
        MigrationOptions options = MigrationOptions.builder().strategy(Strategy.PRECOPY)
                .secret(MigrationSecret.random()).ioTimeout(Duration.ofSeconds(10)).build();
        AtomicReference<InMemoryVm> target = new AtomicReference<>();
        try (InMemoryVm source = InMemoryVm.builder().memoryBytes(32L << 20).prefill(1.0)
                .workload(new Workload(WorkloadPattern.RANDOM, 4L << 20, 8L << 20, 64, 5)).build();
             TlsChannelListener listener = TlsChannelListener.bind(
                     new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), pki.context(pki.destination()),
                     ThrowawayPki.SOURCE_NAME, IO);
             // 8 MiB into a 32 MiB guest's first round: well past the handshake, inside the pages.
             TamperingProxy proxy = new TamperingProxy(listener.localAddress(), 8L << 20)) {
            source.start();
            CompletableFuture<ReceivedMigration> destination = CompletableFuture.supplyAsync(() -> {
                try {
                    return LiveMigration.receive(listener, IO, descriptor -> {
                        InMemoryVm vm = InMemoryVm.builder().layout(descriptor.memoryLayout())
                                .vcpus(descriptor.vcpuCount()).build();
                        target.set(vm);
                        return vm;
                    }, options);
                } catch (MigrationException e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            }, task -> Thread.ofPlatform().daemon().start(task));
            MigrationException failure;
            try (Channel channel = TlsChannel.connect(proxy.address(), pki.context(pki.source()),
                    ThrowawayPki.DESTINATION_NAME, Duration.ofSeconds(10), IO)) {
                failure = assertThrows(MigrationException.class, () -> LiveMigration.migrate(source, channel, options));
            }
            assertTrue(proxy.flipped.get(), "the proxy changed a byte of the stream");
            assertEquals(SourceVmState.RUNNING, failure.sourceState(), failure.toString());
            assertFalse(source.vcpus().isPaused(), "the source VM runs on");

            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> destination.get(IO.toSeconds(), TimeUnit.SECONDS));
            MigrationException received = assertInstanceOf(MigrationException.class, e.getCause());
            assertTrue(received.getMessage().contains("bad_record_mac"), "TLS's record authentication caught it: "
                    + received.getMessage());
            MigrationTarget created = target.get();
            assertTrue(created != null, "the target had been created before the changed byte arrived");
            assertTrue(((InMemoryVm) created).vcpus().isPaused(), "the destination never ran the tampered VM");
            assertFalse(((InMemoryVm) created).isOpen(), "the destination discarded it");
        }
    }
}
