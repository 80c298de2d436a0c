package io.livemig.kvm;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationStatus;
import io.livemig.api.SourceVmState;
import io.livemig.api.Strategy;
import io.livemig.api.TraceReplayStats;
import io.livemig.api.Verification;
import io.livemig.channel.Channel;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kit.AlteringRecorder;
import io.livemig.kit.ForwardingVm;
import io.livemig.spi.ExecutionRecorder;
import io.livemig.spi.LogSegment;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.ReplayDivergedException;
import io.livemig.transport.TcpChannel;
import io.livemig.transport.TcpChannelListener;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.livemig.kvm.KvmTestSupport.eventually;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Trace and replay ({@link Strategy#TRACE_REPLAY}) between two KVM guests in one process, through
 * the engines over TCP loopback: a replayable dirtier moves with a fraction of what it dirtied on
 * the wire and keeps checking itself ok; a wrong value in the log is caught, by the pre-commit
 * comparison when the guest only stores it, by the destination's replayer when it changes what the
 * guest asks next, and either way the source VM runs on; a guest that cannot be recorded is
 * refused, or moved by pre-copy when the options allow.
 */
class KvmTraceReplayMigrationTest {

    private static final Logger LOG = LoggerFactory.getLogger(KvmTraceReplayMigrationTest.class);
    private static final KvmProvider PROVIDER = new KvmProvider();
    private static final long MEMORY_BYTES = 64L << 20;
    /** The link cap; the dirtier writes four times as much, in distinct pages. */
    private static final long LINK_BYTES_PER_SECOND = 20L << 20;
    private static final long DIRTY_BYTES_PER_SECOND = 4 * LINK_BYTES_PER_SECOND;
    private static final Duration DOWNTIME_LIMIT = Duration.ofMillis(300);
    /** Short, so that a failure that shows only as silence does not hold the class up for long. */
    private static final Duration IO_TIMEOUT = Duration.ofSeconds(5);
    /** replay-guest.S: where it counts its clock readings. */
    private static final long REPLAY_GUEST_STATS = 0x300000;
    private static final Pattern CHECK_OK = Pattern.compile("check ok (\\d+)\\n");
    private static final Pattern WRITES = Pattern.compile("tick \\d+ writes (\\d+)\\n");

    /** A replayable dirtier: 16 MiB working set from 4 MiB, random whole pages at 80 MiB/s, checks every 300 ms. */
    private static KvmGuest replayableDirtier() throws IOException, InterruptedException {
        byte[] image = KvmTestSupport.dirtier();
        MicroVmm vmm = MicroVmm.builder().memoryBytes(MEMORY_BYTES).replayable(true).build();
        vmm.loadMultiboot(image);
        new DirtierParams(4L << 20, 16L << 20, 4096, true, DIRTY_BYTES_PER_SECOND, 100, 300, 7).withReplayable(true)
                .writeTo(vmm.vm(), vmm.vcpus().get(0).tscKhz());
        vmm.start();
        vmm.resume();
        KvmGuest guest = new KvmGuest(vmm);
        assertTrue(eventually(Duration.ofSeconds(10), () -> KvmTestSupport.checksPassed(vmm) >= 1), vmm.consoleTail());
        return guest;
    }

    private static MigrationOptions.Builder traceReplay() {
        return MigrationOptions.builder().strategy(Strategy.TRACE_REPLAY).downtimeLimit(DOWNTIME_LIMIT)
                .bandwidthLimitBytesPerSecond(LINK_BYTES_PER_SECOND).ioTimeout(IO_TIMEOUT);
    }

    @Test
    void aReplayableDirtierMovesByTraceAndReplayWithAFractionOfItsWritesOnTheWireAndKeepsCheckingOk()
            throws Exception {
        KvmTestSupport.assumeGuests();
        try (KvmGuest source = replayableDirtier()) {
            long writesBefore = writes(source.vmm());
            Run run = migrate(source, traceReplay().build());
            assertNull(run.failure(), () -> String.valueOf(run.failure()));
            MigrationReport report = run.report();
            try (MigrationTarget target = run.received().get().target()) {
                assertEquals(MigrationStatus.COMPLETED, report.status(), report.toString());
                assertEquals(Strategy.TRACE_REPLAY, report.strategy());
                assertEquals(Verification.VERIFIED, report.verification().outcome(), report.toString());
                TraceReplayStats t = report.traceReplay().orElseThrow();
                assertTrue(t.checkpointBytes() > 0 && t.logBytes() > 0, t.toString());
                assertTrue(t.finalPosition() > t.startPosition(), t.toString());
                assertTrue(t.replaySpeed() > 0, t.toString());
                assertEquals(t.logBytes(), t.segmentLogBytes().stream().mapToLong(Long::longValue).sum(), t.toString());
                // The engine stopped the VM by its own rule, not forced past the limit.
                assertFalse(report.switchover().forced(), report.switchover().toString());
                assertTrue(report.switchover().expectedDowntime().compareTo(DOWNTIME_LIMIT) <= 0,
                        report.switchover().toString());
                // The source stays paused after the handover: its last progress line is its count at the stop.
                assertTrue(source.vmm().isPaused());
                long dirtiedBytes = (writes(source.vmm()) - writesBefore) * 4096;
                long onWire = report.totals().bytesOnWire();
                LOG.info("kvm trace-replay: {} B on the wire (checkpoint {} B, log {} B in {} segments), guest wrote {} B"
                                + " meanwhile, positions {}..{}, replay {}x, expected downtime {} ms, downtime {} ms", onWire, t.checkpointBytes(), t.logBytes(),
                        t.segmentLogBytes().size(), dirtiedBytes, t.startPosition(), t.finalPosition(), String.format("%.1f", t.replaySpeed()),
                        report.switchover().expectedDowntime().toMillis(), report.switchover().downtime().toMillis());
                assertTrue(onWire * 2 < dirtiedBytes, onWire + " bytes on the wire, the guest wrote only "
                        + dirtiedBytes + " bytes of pages meanwhile");
                KvmGuest destination = (KvmGuest) target;
                assertGuestContinues(source, destination);
                assertEquals(MicroVmm.RunState.RUNNING, destination.vmm().state(), destination.vmm().stopReason());
            }
        }
    }

    @Test
    void aWrongClockValueTheGuestOnlyStoresIsCaughtByTheComparisonAndTheSourceRunsOn() throws Exception {
        KvmTestSupport.assumeGuests();
        MicroVmm vmm = MicroVmm.builder().memoryBytes(16L << 20).replayable(true).build();
        vmm.loadMultiboot(KvmTestSupport.replayGuestImage());
        try (KvmGuest source = new KvmGuest(vmm)) {
            source.vcpus().resume();
            assertTrue(eventually(Duration.ofSeconds(5), () -> vmm.consoleBytes() > 0), vmm.consoleTail());
            // replay-guest.S stores a reading at AREA + (t & 0xFFFFC) and adds it to a sum; its sleep
            // is 100 + (t & 0xFF) us. Bit 24 changes neither the address nor the sleep: the guest asks
            // for the same exits, and only its memory differs.
            CorruptingVm corrupting = new CorruptingVm(source, 24, false);
            Run run = migrate(corrupting, MigrationOptions.builder().strategy(Strategy.TRACE_REPLAY)
                    .downtimeLimit(DOWNTIME_LIMIT).ioTimeout(IO_TIMEOUT).build());
            assertTrue(corrupting.corrupted(), "no clock read was corrupted");
            MigrationException e = run.failure();
            assertTrue(e != null, () -> "the migration completed: " + run.report());
            assertEquals(MigrationStatus.FAILED, e.report().orElseThrow().status());
            assertTrue(e.getMessage().contains("the replay diverged") && e.getMessage().contains("differ"),
                    e.getMessage());
            assertEquals(SourceVmState.RUNNING, e.sourceState(), e.toString());
            assertDestinationFailed(run);
            assertFalse(source.vcpus().isPaused());
            MemorySegment ram = vmm.vm().memory();
            long readings = Integer.toUnsignedLong(ram.get(JAVA_INT_UNALIGNED, REPLAY_GUEST_STATS));
            assertTrue(eventually(Duration.ofSeconds(5), () -> Integer.toUnsignedLong(
                    ram.get(JAVA_INT_UNALIGNED, REPLAY_GUEST_STATS)) > readings + 100), "the source guest stopped");
        }
    }

    @Test
    void aWrongClockValueThatChangesTheNextSleepDivergesAtTheDestinationAndTheSourceRunsOn() throws Exception {
        KvmTestSupport.assumeGuests();
        try (KvmGuest source = replayableDirtier()) {
            // The dirtier sleeps ceil((deadline - now) / 1 us): a reading 1 us off asks for 1 us more or less.
            CorruptingVm corrupting = new CorruptingVm(source, 0, true);
            long t0 = System.nanoTime();
            Run run = migrate(corrupting, traceReplay().build());
            long failedAfterMillis = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(corrupting.corrupted(), "no clock read followed by a sleep was corrupted");
            MigrationException e = run.failure();
            assertTrue(e != null, () -> "the migration completed: " + run.report());
            LOG.info("kvm trace-replay divergence: the source failed after {} ms: {}", failedAfterMillis, e.getMessage());
            // The destination's replayer threw ReplayDivergedException, and it gave up.
            ExecutionException destination = assertThrows(ExecutionException.class,
                    () -> run.received().get(30, TimeUnit.SECONDS));
            Throwable d = destination.getCause() instanceof CompletionException c ? c.getCause() : destination.getCause();
            assertInstanceOf(MigrationException.class, d, String.valueOf(d));
            assertTrue(causes(d, ReplayDivergedException.class), "the destination failed otherwise: " + d);
            assertTrue(d.getMessage().contains("out 0xed"), d.getMessage());
            // The source fails with the destination's reason, and its VM runs on.
            assertEquals(SourceVmState.RUNNING, e.sourceState(), e.toString());
            assertEquals(MigrationStatus.FAILED, e.report().orElseThrow().status());
            assertTrue(e.getMessage().contains("replay") && e.getMessage().contains("out 0xed"),
                    "the source's failure does not name the divergence: " + e.getMessage());
            assertSourceRunsOn(source);
        }
    }

    @Test
    void aGuestThatCannotBeRecordedIsRefusedOrMovedByPrecopyWithTheFallback() throws Exception {
        KvmTestSupport.assumeGuests();
        try (KvmGuest source = new KvmGuest(KvmTestSupport.runningDirtier(40L << 20));
             TcpChannelListener listener = TcpChannelListener.bind(
                     new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), Duration.ofSeconds(10))) {
            assertTrue(eventually(Duration.ofSeconds(10), () -> KvmTestSupport.checksPassed(source.vmm()) >= 1));
            assertTrue(source.executionRecorder().isEmpty());
            MigrationException refused;
            try (Channel ch = TcpChannel.connect(listener.localAddress(), Duration.ofSeconds(5), Duration.ofSeconds(10))) {
                refused = assertThrows(MigrationException.class,
                        () -> LiveMigration.migrate(source, ch, traceReplay().build()));
            }
            assertTrue(refused.getMessage().contains("cannot be recorded"), refused.getMessage());
            assertEquals(SourceVmState.RUNNING, refused.sourceState());
            assertFalse(source.vcpus().isPaused());
        }
        try (KvmGuest source = new KvmGuest(KvmTestSupport.runningDirtier(40L << 20))) {
            assertTrue(eventually(Duration.ofSeconds(10), () -> KvmTestSupport.checksPassed(source.vmm()) >= 1));
            Run run = migrate(source, MigrationOptions.builder().strategy(Strategy.TRACE_REPLAY)
                    .traceReplayFallback(true).downtimeLimit(DOWNTIME_LIMIT).ioTimeout(IO_TIMEOUT).build());
            assertNull(run.failure(), () -> String.valueOf(run.failure()));
            try (MigrationTarget target = run.received().get().target()) {
                assertEquals(Strategy.PRECOPY, run.report().strategy(), run.report().toString());
                assertEquals(Verification.VERIFIED, run.report().verification().outcome(), run.report().toString());
                assertTrue(run.report().traceReplay().isEmpty());
                assertGuestContinues(source, (KvmGuest) target);
            }
        }
    }

    /** What one migration over TCP loopback left: the source's report or failure, and the destination's outcome. */
    private record Run(MigrationReport report, MigrationException failure, CompletableFuture<ReceivedMigration> received) {
    }

    /**
     * Migrates {@code source} into a target the KVM provider makes; returns once both sides ended
     * (the destination's outcome is done, successfully or not).
     */
    private static Run migrate(MigratableVm source, MigrationOptions options) throws Exception {
        try (TcpChannelListener listener = TcpChannelListener.bind(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), Duration.ofSeconds(10))) {
            CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
                try (Channel ch = listener.accept(Duration.ofSeconds(30))) {
                    return LiveMigration.receive(ch, d -> PROVIDER.createTarget(URI.create("kvm:?"), d),
                            MigrationOptions.builder().ioTimeout(IO_TIMEOUT).build());
                } catch (Exception e) {
                    throw new CompletionException(e);
                }
            }, task -> Thread.ofPlatform().name("kvm-trace-replay-destination").start(task));
            MigrationReport report = null;
            MigrationException failure = null;
            try (Channel ch = TcpChannel.connect(listener.localAddress(), Duration.ofSeconds(5), Duration.ofSeconds(10))) {
                report = LiveMigration.migrate(source, ch, options);
            } catch (MigrationException e) {
                failure = e;
            }
            try {
                received.get(30, TimeUnit.SECONDS);
            } catch (ExecutionException ignored) {
                // the caller asserts on the destination's failure
            }
            return new Run(report, failure, received);
        }
    }

    /** The destination gave up (its target discarded): receive threw a MigrationException. */
    private static void assertDestinationFailed(Run run) {
        ExecutionException e = assertThrows(ExecutionException.class, () -> run.received().get());
        Throwable cause = e.getCause() instanceof CompletionException c ? c.getCause() : e.getCause();
        assertInstanceOf(MigrationException.class, cause, String.valueOf(cause));
    }

    /**
     * The destination's guest continues the source's self-checks: after the source's last "check
     * ok N" it reports N + 2 without a failure. Not N + 1: the stop may fall inside the string
     * instruction that prints line N + 1 (KVM splits one at a page boundary into two exits), so
     * that the source printed its start and the destination the rest.
     */
    private static void assertGuestContinues(KvmGuest source, KvmGuest destination) throws InterruptedException {
        Matcher m = CHECK_OK.matcher(source.vmm().consoleTail());
        long last = -1;
        while (m.find()) {
            last = Long.parseLong(m.group(1));
        }
        assertTrue(last >= 1, "no self-check on the source's console:\n" + source.vmm().consoleTail());
        String next = "check ok " + (last + 2) + "\n";
        MicroVmm d = destination.vmm();
        assertTrue(eventually(Duration.ofSeconds(10), () -> KvmTestSupport.checksPassed(d) >= 1
                && d.consoleTail().contains(next)), "the guest's checks did not continue from " + last
                + " at the destination: " + d.consoleTail());
    }

    private static void assertSourceRunsOn(KvmGuest source) throws InterruptedException {
        assertFalse(source.vcpus().isPaused());
        long writes = writes(source.vmm());
        int checks = KvmTestSupport.checksPassed(source.vmm());
        assertTrue(eventually(Duration.ofSeconds(5), () -> writes(source.vmm()) > writes
                        && KvmTestSupport.checksPassed(source.vmm()) > checks),
                "the source guest did not run on: " + source.vmm().consoleTail());
    }

    private static boolean causes(Throwable t, Class<? extends Throwable> type) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (type.isInstance(c)) {
                return true;
            }
        }
        return false;
    }

    /** {@return the write counter of the dirtier's last progress line} */
    private static long writes(MicroVmm vmm) {
        Matcher m = WRITES.matcher(vmm.consoleTail());
        long writes = -1;
        while (m.find()) {
            writes = Long.parseLong(m.group(1));
        }
        assertTrue(writes >= 0, "no progress line on the console:\n" + vmm.consoleTail());
        return writes;
    }

    /**
     * A source VM that forwards every call to a KVM guest, but whose recorder flips one bit of the
     * value of one clock read (port 0xEC, in, 4 bytes) in the first segment drained that has a
     * suitable one: not its segment's last record and, if {@code beforeSleep}, followed by the
     * guest's sleep request (port 0xED, out). Only that value byte changes, never the framing.
     */
    private static final class CorruptingVm extends ForwardingVm {
        private final ExecutionRecorder recorder;
        private volatile boolean corrupted;

        CorruptingVm(KvmGuest inner, int bit, boolean beforeSleep) {
            super(inner);
            this.recorder = new AlteringRecorder(inner.executionRecorder().orElseThrow(), s -> {
                if (corrupted) {
                    return s;
                }
                byte[] bytes = s.bytes();
                int at = clockValueOffset(bytes, beforeSleep);
                if (at < 0) {
                    return s;
                }
                bytes[at + bit / 8] ^= (byte) (1 << (bit % 8));
                corrupted = true;
                return new LogSegment(s.startPosition(), s.endPosition(), bytes);
            });
        }

        /** {@return the offset of the value of a suitable clock read in {@code log}, or -1} */
        private static int clockValueOffset(byte[] log, boolean beforeSleep) {
            ExitLog.Reader r = new ExitLog.Reader(log);
            int previousOffset = -1;
            ExitLog.Exit previous = null;
            while (r.hasNext()) {
                int offset = r.offset();
                ExitLog.Exit e = r.next();
                if (previous != null && isClockRead(previous)
                        && (!beforeSleep || e.kind() == ExitLog.IO_OUT && e.address() == MicroVmm.SLEEP_PORT)) {
                    // head, port (2 bytes), then the value: a single (not rep) in has no count.
                    assertEquals(ExitLog.IO_IN | 4 << 3, log[previousOffset] & 0xFF);
                    return previousOffset + 3;
                }
                previous = e;
                previousOffset = offset;
            }
            return -1;
        }

        private static boolean isClockRead(ExitLog.Exit e) {
            return e.kind() == ExitLog.IO_IN && e.address() == MicroVmm.CLOCK_PORT && e.size() == 4 && e.count() == 1;
        }

        boolean corrupted() {
            return corrupted;
        }

        @Override
        public Optional<ExecutionRecorder> executionRecorder() {
            return Optional.of(recorder);
        }

        /** Leaves the inner guest to its owner. */
        @Override
        public void close() {
        }
    }
}
