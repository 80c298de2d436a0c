package io.livemig.e2e.security;

import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationListener;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationSecret;
import io.livemig.channel.Channel;
import io.livemig.channel.ChannelListener;
import io.livemig.channel.Reconnector;
import io.livemig.e2e.ObservedTarget;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.engine.TargetFactory;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.MemorySource;
import io.livemig.transport.TcpChannel;
import io.livemig.transport.TcpChannelListener;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * What the attack tests share: a running in-memory source VM, a destination that counts the
 * targets it makes, TCP on loopback, and the source's memory at the pause to compare with.
 */
final class Scene {

    /** Pages of the source VM (8 MiB of 4 KiB pages). */
    static final int PAGES = 2048;
    /** The guest writes only its first 256 pages (1 MiB): every other page stays as it was at the pause. */
    static final int WORKING_SET_PAGES = 256;
    /** The generous bound for anything that should take a second: the default I/O timeout. */
    static final Duration PATIENCE = MigrationOptions.DEFAULT_IO_TIMEOUT;

    private static final Workload GUEST = new Workload(WorkloadPattern.HOTCOLD, 1L << 20, 8L << 20, 64, 11);

    private Scene() {
    }

    /** @return a started source VM: 8 MiB, 70 % prefilled, its guest writing its first 1 MiB */
    static InMemoryVm runningSource() {
        InMemoryVm vm = InMemoryVm.builder().memoryBytes(PAGES * 4096L).prefill(0.7).workload(GUEST).build();
        vm.start();
        return vm;
    }

    /** @return options with {@code secret} (or none, if null) and everything else default */
    static MigrationOptions.Builder options(MigrationSecret secret) {
        MigrationOptions.Builder b = MigrationOptions.builder();
        return secret == null ? b : b.secret(secret);
    }

    /** @return a TCP listener on a free loopback port, with the default I/O timeout */
    static TcpChannelListener listen() throws IOException {
        return TcpChannelListener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), PATIENCE);
    }

    /** @return a TCP channel to {@code address}, with the default I/O timeout */
    static TcpChannel connect(InetSocketAddress address) throws IOException {
        return TcpChannel.connect(address, Duration.ofSeconds(5), PATIENCE);
    }

    /**
     * The source's reconnector in these tests: each call dials {@code address} again. The channels
     * it makes are the caller's, as a reconnector's are; {@link #close()} closes them all.
     */
    static final class Dialler implements Reconnector, AutoCloseable {
        private final InetSocketAddress address;
        private final List<TcpChannel> dialled = new CopyOnWriteArrayList<>();

        Dialler(InetSocketAddress address) {
            this.address = address;
        }

        @Override
        public Channel reconnect() throws IOException {
            TcpChannel channel = connect(address);
            dialled.add(channel);
            return channel;
        }

        @Override
        public void close() {
            dialled.forEach(TcpChannel::close);
        }
    }

    /** @return {@code options} with {@code more} told every event as well */
    static MigrationOptions alsoTell(MigrationOptions options, MigrationListener more) {
        MigrationListener first = options.listener();
        return options.toBuilder().listener(e -> {
            first.onEvent(e);
            more.onEvent(e);
        }).build();
    }

    /** Asserts that {@code vm}'s guest is running: it writes to its memory again within {@link #PATIENCE}. */
    static void assertGuestRuns(InMemoryVm vm) throws InterruptedException {
        assertFalse(vm.vcpus().isPaused(), "the VM is paused");
        long before = vm.writesDone();
        long deadline = System.nanoTime() + PATIENCE.toNanos();
        while (vm.writesDone() == before) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the guest wrote nothing for " + PATIENCE.toSeconds() + " s");
            }
            Thread.sleep(10);
        }
    }

    /** @return the cause of {@code future}'s failure, which must come within {@link #PATIENCE} */
    static Throwable failure(CompletableFuture<?> future) {
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> future.get(PATIENCE.toSeconds(), TimeUnit.SECONDS));
        return e.getCause();
    }

    /** @return {@code future}'s value, which must come within {@link #PATIENCE} */
    static <T> T value(CompletableFuture<T> future) throws Exception {
        return future.get(PATIENCE.toSeconds(), TimeUnit.SECONDS);
    }

    /** A destination that makes {@link ObservedTarget}s and counts them. */
    static final class Destination {
        private final AtomicInteger targetsMade = new AtomicInteger();
        private final AtomicReference<ObservedTarget> target = new AtomicReference<>();
        private volatile long askedNanos = -1;

        /** @return the factory the destination is given */
        TargetFactory factory() {
            return descriptor -> {
                askedNanos = System.nanoTime();
                targetsMade.incrementAndGet();
                ObservedTarget made = ObservedTarget.of(descriptor);
                target.set(made);
                return made;
            };
        }

        /** @return how many times the destination asked the factory for a target */
        int targetsMade() {
            return targetsMade.get();
        }

        /**
         * @return when ({@link System#nanoTime()}) the factory was last asked for a target, after
         *         the source was admitted and sent SETUP; -1 if never
         */
        long askedNanos() {
            return askedNanos;
        }

        /** @return the target made last, or null */
        ObservedTarget target() {
            return target.get();
        }

        /** Receives on {@code listener}, on a thread of its own. */
        CompletableFuture<ReceivedMigration> receive(ChannelListener listener, Duration acceptTimeout,
                                                     MigrationOptions options) {
            return onThread(() -> LiveMigration.receive(listener, acceptTimeout, factory(), options));
        }

        /** Receives on {@code channel}, on a thread of its own. */
        CompletableFuture<ReceivedMigration> receive(Channel channel, MigrationOptions options) {
            return onThread(() -> LiveMigration.receive(channel, factory(), options));
        }

        /** Closes the target, if one was made. */
        void discardTarget() {
            ObservedTarget made = target.get();
            if (made != null) {
                made.close();
            }
        }
    }

    /** A destination's receive, as the test runs it. */
    @FunctionalInterface
    interface Receive {
        ReceivedMigration run() throws MigrationException;
    }

    private static CompletableFuture<ReceivedMigration> onThread(Receive receive) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return receive.run();
            } catch (MigrationException e) {
                throw new CompletionException(e);
            }
        }, task -> Thread.ofPlatform().name("test-destination").start(task));
    }

    /** The source's memory as it was when the VM paused for the switchover. */
    static final class PauseSnapshot implements MigrationListener {
        private volatile byte[][] pages;
        private final MemorySource memory;

        PauseSnapshot(MemorySource memory) {
            this.memory = memory;
        }

        /** Takes the snapshot at {@link MigrationEvent.SwitchoverStarted}: the VM is paused then. */
        @Override
        public void onEvent(MigrationEvent event) {
            if (event instanceof MigrationEvent.SwitchoverStarted) {
                byte[][] copy = new byte[(int) memory.layout().pageSpan()][];
                int pageSize = memory.layout().pageSizeBytes();
                for (MemoryRegion region : memory.layout().regions()) {
                    for (long page = region.firstPage(); page < region.endPage(); page++) {
                        ByteBuffer buffer = ByteBuffer.allocate(pageSize);
                        memory.readPages(page, 1, buffer);
                        copy[(int) page] = buffer.array();
                    }
                }
                pages = copy;
            }
        }

        /**
         * Asserts that every page the guest never writes (outside its working set) holds at the
         * destination what it held at the source's pause: nothing else was written into them.
         */
        void assertColdPagesMatch(InMemoryVm destination) {
            byte[][] atPause = pages;
            if (atPause == null) {
                throw new AssertionError("the source never paused");
            }
            for (long page = WORKING_SET_PAGES; page < PAGES; page++) {
                assertArrayEquals(atPause[(int) page], destination.memory().page(page), "page " + page);
            }
        }
    }
}
