package io.livemig.examples.cli;

import io.livemig.channel.Channel;
import io.livemig.channel.ChannelListener;
import io.livemig.transport.TcpChannel;
import io.livemig.transport.TlsChannel;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Locale;
import java.util.Optional;
import javax.net.ssl.SSLContext;

/**
 * A measurement for docs/benchmarks.md ({@code bench/tls-channel-cpu.sh}): the CPU time that
 * moving data over a loopback channel costs, per GB, on the sending and the receiving thread
 * apart, over plain TCP or mutual TLS (throwaway certificates). CPU time, unlike wall time, holds
 * still on a machine shared with other work. Sends 1 MiB messages from direct buffers into a
 * direct buffer, as the engines do; no migration, no frames.
 *
 * <p>{@code java -cp examples/target/livemig.jar io.livemig.examples.cli.ChannelCpu MODE MIB},
 * with MODE {@code tcp}, {@code tls} (after the TLS warm-up) or {@code tls-cold} (without it: the
 * first migration of a fresh JVM).
 */
public final class ChannelCpu {

    private static final int MESSAGE_BYTES = 1 << 20;

    private ChannelCpu() {
    }

    /**
     * @param args MODE and MiB to send
     */
    public static void main(String[] args) throws Exception {
        String mode = args[0];
        long total = Long.parseLong(args[1]) << 20;
        Optional<SSLContext> source = Optional.empty();
        Optional<SSLContext> destination = Optional.empty();
        if (!mode.equals("tcp")) {
            ThrowawayPki pki = ThrowawayPki.create("livemig bench CA");
            source = Optional.of(pki.context(pki.source()));
            destination = Optional.of(pki.context(pki.destination()));
            if (mode.equals("tls")) {
                TlsChannel.warmUp(destination.get()).join();
            }
        }
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        long[] receiverCpuNanos = new long[1];
        try (ChannelListener listener = Transports.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                destination, null)) {
            Thread receiver = Thread.ofPlatform().name("receiver").start(() -> {
                try (Channel channel = listener.accept(Duration.ofSeconds(30))) {
                    ByteBuffer in = ByteBuffer.allocateDirect(TcpChannel.DEFAULT_MAX_MESSAGE_BYTES);
                    long start = threads.getCurrentThreadCpuTime();
                    while (channel.receive(in.clear()) >= 0) {
                        // only the cost of receiving
                    }
                    receiverCpuNanos[0] = threads.getCurrentThreadCpuTime() - start;
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            long senderCpuNanos;
            long wallNanos;
            try (Channel channel = Transports.connect(Transports.boundAddress(listener), source, null)) {
                ByteBuffer out = ByteBuffer.allocateDirect(MESSAGE_BYTES);
                long cpu = threads.getCurrentThreadCpuTime();
                long wall = System.nanoTime();
                for (long sent = 0; sent < total; sent += MESSAGE_BYTES) {
                    channel.send(out.clear());
                }
                channel.close();
                receiver.join();
                senderCpuNanos = threads.getCurrentThreadCpuTime() - cpu;
                wallNanos = System.nanoTime() - wall;
            }
            double gb = total / 1e9;
            System.out.printf(Locale.ROOT, "%-8s %6.2f GB  sender %.3f  receiver %.3f  both %.3f s CPU per GB"
                            + "  (%.2f GB/s wall)%n", mode, gb, senderCpuNanos / 1e9 / gb, receiverCpuNanos[0] / 1e9 / gb,
                    (senderCpuNanos + receiverCpuNanos[0]) / 1e9 / gb, gb / (wallNanos / 1e9));
        }
    }
}
