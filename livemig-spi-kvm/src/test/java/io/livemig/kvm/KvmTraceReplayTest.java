package io.livemig.kvm;

import io.livemig.kvm.internal.KvmAbi;
import io.livemig.spi.ExecutionRecorder;
import io.livemig.spi.ExecutionReplayer;
import io.livemig.spi.LogSegment;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.ReplayDivergedException;
import io.livemig.spi.VcpuState;
import io.livemig.spi.VmDescriptor;
import io.livemig.spi.VmOperationException;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import static io.livemig.kvm.KvmTestSupport.eventually;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Trace and replay in the micro-VMM, without an engine: a replayable guest (replay-guest.S) is
 * checkpointed, recorded for ~200 ms, paused at an input boundary; a second VM given the
 * checkpoint and the log reaches the same memory and registers.
 */
class KvmTraceReplayTest {

    private static final long MEMORY_BYTES = 16L << 20;
    private static final int PAGE = 4096;
    private static final long AREA = 0x200000;
    private static final long STATS = 0x300000;
    private static Recording recording;

    /** What the source left: the checkpoint, the log, and its state at the final pause. */
    private record Recording(byte[] checkpointMemory, List<VcpuState> checkpointStates, List<LogSegment> segments,
                             byte[] finalMemory, List<VcpuState> finalStates, byte[] finalRegs, byte[] clockState,
                             long finalReadings, VmDescriptor descriptor, long recordedNanos) {
    }

    @Test
    void aReplayedLogReachesTheSourcesMemoryAndRegistersAndTheGuestRunsOnAfterwards() throws Exception {
        Recording rec = recording();
        long logBytes = rec.segments().stream().mapToLong(LogSegment::sizeBytes).sum();
        long exits = rec.segments().getLast().endPosition();
        for (int i = 1; i < rec.segments().size(); i++) {
            assertEquals(rec.segments().get(i - 1).endPosition(), rec.segments().get(i).startPosition(),
                    "segments join without a gap");
        }
        assertTrue(exits > 100, "the guest exited only " + exits + " times while recorded");
        try (KvmGuest target = target(rec)) {
            ExecutionReplayer replayer = target.executionReplayer().orElseThrow();
            assertTrue(replayer.accepts(ExitLog.FORMAT));
            replayer.begin(ExitLog.FORMAT, 0, rec.checkpointStates());
            long t0 = System.nanoTime();
            for (LogSegment s : rec.segments()) {
                replayer.replay(s);
                assertEquals(s.endPosition(), replayer.position());
            }
            long replayNanos = System.nanoTime() - t0;
            replayer.end();
            System.out.printf("trace-replay: %d exits in %.0f ms recorded (%.2f exits/ms), %d log bytes (%.1f B/ms,"
                            + " %.1f B/exit), replayed in %.1f ms (%.1fx faster)%n", exits, rec.recordedNanos() / 1e6,
                    exits / (rec.recordedNanos() / 1e6), logBytes, logBytes / (rec.recordedNanos() / 1e6),
                    (double) logBytes / exits, replayNanos / 1e6, (double) rec.recordedNanos() / replayNanos);

            assertEquals(0, target.vmm().consoleBytes(), "replay wrote to the console");
            assertPagesEqual(rec.finalMemory(), target.vmm().vm().memory(), Set.of());
            assertArrayEquals(rec.finalRegs(), regs(target.vmm().vcpus().get(0)),
                    "general registers (RIP, RSP, ...) differ from the source's at its pause");
            assertTrue(replayer.populatedPages().orElseThrow().contains(STATS / PAGE));

            // The engine's switchover: the source's final vCPU and device state, then resume.
            target.vcpus().loadState(rec.finalStates());
            for (MigratableDevice d : target.devices()) {
                if (d.id().equals(KvmClock.ID)) {
                    d.loadState(rec.clockState());
                }
            }
            target.vcpus().resume();
            MemorySegment ram = target.vmm().vm().memory();
            assertTrue(eventually(Duration.ofSeconds(5), () -> readings(ram) > rec.finalReadings() + 100
                    && target.vmm().consoleBytes() > 0), "the guest did not run on after replay: "
                    + readings(ram) + " readings, was " + rec.finalReadings());
            assertEquals(MicroVmm.RunState.RUNNING, target.vmm().state(), target.vmm().stopReason());
        }
    }

    @Test
    void theDirtierInReplayableModeReplaysToTheSameMemoryAndRegisters() throws Exception {
        MicroVmm vmm = MicroVmm.builder().memoryBytes(64L << 20).replayable(true).build();
        vmm.loadMultiboot(KvmTestSupport.dirtier());
        new DirtierParams(4L << 20, 32L << 20, 4096, true, 50L << 20, 100, 300, 7).withReplayable(true)
                .writeTo(vmm.vm().memory(), 0);
        Recording rec = record(vmm);
        long exits = rec.segments().getLast().endPosition();
        long logBytes = rec.segments().stream().mapToLong(LogSegment::sizeBytes).sum();
        try (KvmGuest target = target(rec)) {
            ExecutionReplayer replayer = target.executionReplayer().orElseThrow();
            replayer.begin(ExitLog.FORMAT, 0, rec.checkpointStates());
            long t0 = System.nanoTime();
            for (LogSegment s : rec.segments()) {
                replayer.replay(s);
            }
            long replayNanos = System.nanoTime() - t0;
            replayer.end();
            System.out.printf("trace-replay dirtier at 50 MiB/s: %d exits in %.0f ms recorded (%.2f exits/ms), %d log "
                            + "bytes (%.1f B/ms), replayed in %.1f ms (%.1fx faster)%n", exits, rec.recordedNanos() / 1e6,
                    exits / (rec.recordedNanos() / 1e6), logBytes, logBytes / (rec.recordedNanos() / 1e6),
                    replayNanos / 1e6, (double) rec.recordedNanos() / replayNanos);
            assertTrue(exits > 50, "the dirtier exited only " + exits + " times while recorded");
            assertPagesEqual(rec.finalMemory(), target.vmm().vm().memory(), Set.of());
            assertArrayEquals(rec.finalRegs(), regs(target.vmm().vcpus().get(0)));
        }
    }

    @Test
    void aCorruptedClockValueTheGuestOnlyStoresLeavesReplayCompleteAndMemoryDifferentWhereItWentAndInTheSum()
            throws Exception {
        Recording rec = recording();
        Corruption c = corruptClockRead(rec, 1 << 24);
        try (KvmGuest target = target(rec)) {
            ExecutionReplayer replayer = target.executionReplayer().orElseThrow();
            replayer.begin(ExitLog.FORMAT, 0, rec.checkpointStates());
            for (LogSegment s : c.segments()) {
                replayer.replay(s);
            }
            replayer.end();
            // The reading went to AREA + (t & 0xFFFFC), the sum to STATS: bit 24 changes neither
            // address nor the sleep that follows, so the guest asks for the same exits.
            long areaPage = (AREA + (c.original() & 0xFFFFC)) / PAGE;
            assertPagesEqual(rec.finalMemory(), target.vmm().vm().memory(), Set.of(areaPage, STATS / PAGE));
            assertEquals(c.original() ^ (1 << 24), Integer.toUnsignedLong(target.vmm().vm().memory()
                    .get(JAVA_INT_UNALIGNED, AREA + (c.original() & 0xFFFFC))));
        }
    }

    @Test
    void aCorruptedClockValueThatChangesTheNextSleepDivergesAtThatWrite() throws Exception {
        Recording rec = recording();
        Corruption c = corruptClockRead(rec, 1);
        try (KvmGuest target = target(rec)) {
            ExecutionReplayer replayer = target.executionReplayer().orElseThrow();
            replayer.begin(ExitLog.FORMAT, 0, rec.checkpointStates());
            ReplayDivergedException e = assertThrows(ReplayDivergedException.class, () -> {
                for (LogSegment s : c.segments()) {
                    replayer.replay(s);
                }
            });
            // The sleep is 100 + (t & 0xFF) microseconds: flipping bit 0 of t makes it one more or less.
            assertEquals(c.position() + 1, e.position(), e.getMessage());
            assertTrue(e.getMessage().startsWith("the guest wrote out 0xed, 4 bytes"), e.getMessage());
        }
    }

    @Test
    void aLogRecordOfAnotherKindDivergesNamingBoth() throws Exception {
        Recording rec = recording();
        LogSegment first = rec.segments().stream().filter(s -> s.inputs() > 0).findFirst().orElseThrow();
        List<ExitLog.Exit> exits = decode(first);
        ExitLog.Exit asked = exits.getFirst();
        exits.set(0, new ExitLog.Exit(ExitLog.MMIO_READ, 0xD000_0000L, asked.size(), 1, asked.data()));
        LogSegment forged = new LogSegment(first.startPosition(), first.endPosition(), ExitLog.encode(exits));
        try (KvmGuest target = target(rec)) {
            ExecutionReplayer replayer = target.executionReplayer().orElseThrow();
            replayer.begin(ExitLog.FORMAT, 0, rec.checkpointStates());
            for (LogSegment s : rec.segments()) {
                if (s == first) {
                    break;
                }
                replayer.replay(s);
            }
            ReplayDivergedException e = assertThrows(ReplayDivergedException.class, () -> replayer.replay(forged));
            assertEquals(first.startPosition(), e.position());
            assertTrue(e.getMessage().contains("the guest asked " + asked.request())
                    && e.getMessage().contains("the log holds mmio-read 0xd0000000, " + asked.size() + " bytes"),
                    e.getMessage());
        }
    }

    @Test
    void aLogCutInsideARecordDivergesAsMalformed() throws Exception {
        Recording rec = recording();
        LogSegment first = rec.segments().stream().filter(s -> s.inputs() > 1).findFirst().orElseThrow();
        byte[] bytes = first.bytes();
        LogSegment cut = new LogSegment(first.startPosition(), first.endPosition(),
                java.util.Arrays.copyOf(bytes, bytes.length - 2));
        try (KvmGuest target = target(rec)) {
            ExecutionReplayer replayer = target.executionReplayer().orElseThrow();
            replayer.begin(ExitLog.FORMAT, 0, rec.checkpointStates());
            for (LogSegment s : rec.segments()) {
                if (s == first) {
                    break;
                }
                replayer.replay(s);
            }
            ReplayDivergedException e = assertThrows(ReplayDivergedException.class, () -> replayer.replay(cut));
            assertEquals(first.endPosition() - 1, e.position());
            assertTrue(e.getMessage().contains("malformed") && e.getMessage().contains("cut short"), e.getMessage());
        }
    }

    @Test
    void whileRecordingAPauseOfAGuestThatNeverExitsFailsAfterASecondAndLeavesItRunning() throws Exception {
        KvmTestSupport.assumeKvm();
        MicroVmm vmm = MicroVmm.builder().memoryBytes(MEMORY_BYTES).replayable(true).build();
        vmm.loadMultiboot(spinningImage());
        try (KvmGuest guest = new KvmGuest(vmm)) {
            guest.vcpus().resume();
            guest.vcpus().pause();
            ExecutionRecorder recorder = guest.executionRecorder().orElseThrow();
            assertEquals(0, recorder.start());
            guest.vcpus().resume();
            Thread.sleep(50); // let it leave the checkpoint, where it stood at a boundary
            VmOperationException e = assertThrows(VmOperationException.class, () -> guest.vcpus().pause());
            assertTrue(e.getMessage().contains("did not reach an input boundary"), e.getMessage());
            assertFalse(guest.vcpus().isPaused());
            recorder.stop();
            recorder.stop();
            guest.vcpus().pause();
            assertTrue(guest.vcpus().isPaused());
        }
    }

    @Test
    void aLogThatOutgrowsItsBoundFailsTheDrainAndTheGuestRunsOn() throws Exception {
        KvmTestSupport.assumeGuests();
        MicroVmm vmm = MicroVmm.builder().memoryBytes(MEMORY_BYTES).replayable(true).build();
        vmm.loadMultiboot(KvmTestSupport.replayGuestImage());
        try (KvmGuest guest = new KvmGuest(vmm)) {
            KvmRecorder recorder = new KvmRecorder(vmm, 64);
            guest.vcpus().resume();
            guest.vcpus().pause();
            assertEquals(0, recorder.start());
            guest.vcpus().resume();
            assertTrue(eventually(Duration.ofSeconds(5), () -> recorder.position() >= 10));
            VmOperationException e = assertThrows(VmOperationException.class, recorder::drain);
            assertTrue(e.getMessage().contains("outgrew the log: more than 64 bytes"), e.getMessage());
            long bytes = vmm.consoleBytes();
            recorder.stop();
            assertTrue(eventually(Duration.ofSeconds(5), () -> vmm.consoleBytes() > bytes), "the guest runs on");
        }
    }

    @Test
    void cancelStopsAReplayRunningAGuestThatNeverExitsAndTheNextReplayThrows() throws Exception {
        KvmTestSupport.assumeKvm();
        MicroVmm vmm = MicroVmm.builder().memoryBytes(MEMORY_BYTES).build();
        vmm.loadMultiboot(spinningImage());
        try (KvmGuest source = new KvmGuest(vmm);
             KvmGuest target = (KvmGuest) new KvmProvider().createTarget(URI.create("kvm:?"), source.descriptor())) {
            target.vmm().vm().memory().copyFrom(vmm.vm().memory());
            ExecutionReplayer replayer = target.executionReplayer().orElseThrow();
            replayer.begin(ExitLog.FORMAT, 0, source.vcpus().saveState());
            LogSegment one = new LogSegment(0, 1, ExitLog.encode(List.of(
                    new ExitLog.Exit(ExitLog.IO_IN, MicroVmm.CLOCK_PORT, 4, 1, new byte[4]))));
            Thread canceller = Thread.ofPlatform().start(() -> {
                try {
                    Thread.sleep(100);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                replayer.cancel();
            });
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> replayer.replay(one));
            canceller.join();
            assertTrue(e.getMessage().contains("cancelled at position 0"), e.getMessage());
            assertThrows(IllegalStateException.class, () -> replayer.replay(one));
        }
    }

    /** A flat Multiboot image whose code is "jmp .": it never exits to the VMM. */
    private static byte[] spinningImage() {
        ByteBuffer image = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        int flags = 1 << 16;
        image.putInt(Multiboot.HEADER_MAGIC).putInt(flags).putInt(-(Multiboot.HEADER_MAGIC + flags))
                .putInt(0x100000).putInt(0x100000).putInt(0).putInt(0).putInt(0x100020);
        image.put(0x20, (byte) 0xEB).put(0x21, (byte) 0xFE);
        return image.array();
    }

    @Test
    void theProviderOffersARecorderForADirtierOpenedReplayableOnly() throws Exception {
        KvmTestSupport.assumeGuests();
        try (MigratableVm replayable = new KvmProvider().open(URI.create("kvm:dirtier?mem=32M&rate=10M&replayable=true"));
             MigratableVm plain = new KvmProvider().open(URI.create("kvm:dirtier?mem=32M&rate=10M"))) {
            assertEquals(ExitLog.FORMAT, replayable.executionRecorder().orElseThrow().format());
            assertTrue(plain.executionRecorder().isEmpty());
        }
    }

    @Test
    void onlyAReplayableOneVcpuGuestWithoutDiskOffersARecorder() throws Exception {
        KvmTestSupport.assumeKvm();
        try (KvmGuest plain = new KvmGuest(MicroVmm.builder().memoryBytes(MEMORY_BYTES).build());
             KvmGuest two = new KvmGuest(MicroVmm.builder().memoryBytes(MEMORY_BYTES).vcpus(2).replayable(true).build());
             KvmGuest one = new KvmGuest(MicroVmm.builder().memoryBytes(MEMORY_BYTES).replayable(true).build())) {
            assertTrue(plain.executionRecorder().isEmpty());
            assertTrue(two.executionRecorder().isEmpty());
            assertTrue(two.executionReplayer().isEmpty());
            assertEquals(ExitLog.FORMAT, one.executionRecorder().orElseThrow().format());
            assertTrue(one.executionReplayer().orElseThrow() == one.executionReplayer().orElseThrow());
        }
    }

    /** A copy of the recording with the clock read at the middle exit of the middle segment changed by {@code xor}. */
    private record Corruption(List<LogSegment> segments, long position, long original) {
    }

    private static Corruption corruptClockRead(Recording rec, int xor) {
        List<LogSegment> segments = new ArrayList<>(rec.segments());
        for (int i = segments.size() / 2; i < segments.size(); i++) {
            LogSegment s = segments.get(i);
            List<ExitLog.Exit> exits = decode(s);
            for (int k = exits.size() / 2; k < exits.size() - 2; k++) {
                ExitLog.Exit e = exits.get(k);
                if (e.kind() == ExitLog.IO_IN && e.address() == MicroVmm.CLOCK_PORT
                        && exits.get(k + 1).kind() == ExitLog.IO_OUT && exits.get(k + 1).address() == MicroVmm.SLEEP_PORT) {
                    long t = Integer.toUnsignedLong(ByteBuffer.wrap(e.data()).order(ByteOrder.LITTLE_ENDIAN).getInt());
                    byte[] changed = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) (t ^ xor)).array();
                    exits.set(k, new ExitLog.Exit(e.kind(), e.address(), e.size(), e.count(), changed));
                    segments.set(i, new LogSegment(s.startPosition(), s.endPosition(), ExitLog.encode(exits)));
                    return new Corruption(segments, s.startPosition() + k, t);
                }
            }
        }
        throw new AssertionError("no clock read followed by a sleep in the second half of the log");
    }

    private static List<ExitLog.Exit> decode(LogSegment s) {
        ExitLog.Reader r = new ExitLog.Reader(s.bytes());
        List<ExitLog.Exit> exits = new ArrayList<>();
        while (r.hasNext()) {
            exits.add(r.next());
        }
        assertEquals(s.inputs(), exits.size(), "records in " + s);
        return exits;
    }

    /** A target as the provider makes one for an incoming migration, holding the checkpoint's memory. */
    private static KvmGuest target(Recording rec) throws IOException {
        KvmGuest target = (KvmGuest) new KvmProvider().createTarget(URI.create("kvm:?"), rec.descriptor());
        byte[] m = rec.checkpointMemory();
        byte[] zero = new byte[PAGE];
        for (int page = 0; page < m.length / PAGE; page++) {
            if (java.util.Arrays.mismatch(m, page * PAGE, page * PAGE + PAGE, zero, 0, PAGE) >= 0) {
                target.memory().writePages(page, 1, ByteBuffer.wrap(m, page * PAGE, PAGE));
            }
        }
        return target;
    }

    private static long readings(MemorySegment ram) {
        return Integer.toUnsignedLong(ram.get(JAVA_INT_UNALIGNED, STATS));
    }

    private static byte[] regs(KvmVcpu vcpu) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment regs = a.allocate(KvmAbi.REGS_BYTES, 8);
            vcpu.get(KvmAbi.GET_REGS, regs, "KVM_GET_REGS");
            return regs.toArray(JAVA_BYTE);
        }
    }

    /** Every page of {@code actual} equals {@code expected}'s, except exactly the pages {@code differing}. */
    private static void assertPagesEqual(byte[] expected, MemorySegment actual, Set<Long> differing) {
        MemorySegment want = MemorySegment.ofArray(expected);
        Set<Long> found = new TreeSet<>();
        for (long page = 0; page < expected.length / PAGE; page++) {
            long at = page * PAGE;
            if (want.asSlice(at, PAGE).mismatch(actual.asSlice(at, PAGE)) >= 0) {
                found.add(page);
            }
        }
        assertEquals(new TreeSet<>(differing), found, "pages that differ from the source's at its pause");
    }

    /** Records the test guest once: checkpoint after ~50 ms, then ~200 ms recorded in five drains. */
    private static synchronized Recording recording() throws Exception {
        KvmTestSupport.assumeGuests();
        if (recording == null) {
            byte[] image = KvmTestSupport.replayGuestImage();
            MicroVmm vmm = MicroVmm.builder().memoryBytes(MEMORY_BYTES).replayable(true).build();
            vmm.loadMultiboot(image);
            recording = record(vmm);
        }
        return recording;
    }

    /** Runs a loaded replayable guest until it printed, checkpoints it, records ~200 ms in five drains; closes it. */
    private static Recording record(MicroVmm vmm) throws Exception {
        try (KvmGuest source = new KvmGuest(vmm)) {
            source.vcpus().resume();
            assertTrue(eventually(Duration.ofSeconds(5), () -> vmm.consoleBytes() > 0), vmm.consoleTail());
            source.vcpus().pause(); // a kick: anywhere; the checkpoint need not be at a boundary
            byte[] checkpoint = vmm.vm().memory().toArray(JAVA_BYTE);
            List<VcpuState> checkpointStates = source.vcpus().saveState();
            ExecutionRecorder recorder = source.executionRecorder().orElseThrow();
            assertEquals(0, recorder.start());
            long t0 = System.nanoTime();
            source.vcpus().resume();
            List<LogSegment> segments = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                Thread.sleep(40);
                segments.add(recorder.drain());
            }
            source.vcpus().pause(); // at an input boundary
            long recorded = System.nanoTime() - t0;
            segments.add(recorder.drain());
            assertEquals(segments.getLast().endPosition(), recorder.position());
            recorder.stop();
            byte[] clock = source.devices().stream().filter(d -> d.id().equals(KvmClock.ID)).findFirst()
                    .orElseThrow().saveState();
            assertFalse(vmm.consoleTail().contains("FAILED"));
            return new Recording(checkpoint, checkpointStates, List.copyOf(segments),
                    vmm.vm().memory().toArray(JAVA_BYTE), source.vcpus().saveState(), regs(vmm.vcpus().get(0)), clock,
                    readings(vmm.vm().memory()), source.descriptor(), recorded);
        }
    }
}
