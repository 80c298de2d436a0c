package io.livemig.kit;

import io.livemig.api.TimeSource;
import io.livemig.spi.ExecutionRecorder;
import io.livemig.spi.ExecutionReplayer;
import io.livemig.spi.LogSegment;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.PageSet;
import io.livemig.spi.ReplayDivergedException;
import io.livemig.spi.VcpuState;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The replayable simulated VM records its inputs from a checkpoint, and a second simulated VM
 * replays the log from that checkpoint to the same memory and registers; a wrong value shows as
 * memory that differs exactly where the guest wrote after it, a wrong kind as a divergence.
 */
class RecordReplayTest {

    private static final String FORMAT = "kit-input-log/1";
    private static final long WRITE_MASK = (1L << 40) - 1;

    /** A clock and a way to let time pass on it. */
    private record Clock(TimeSource time, boolean virtual) {
        static Clock virtualTime() {
            return new Clock(new VirtualTime(), true);
        }

        static Clock realTime() {
            return new Clock(TimeSource.system(), false);
        }

        void pass(long millis) throws InterruptedException {
            if (virtual) {
                time.sleepNanos(millis * 1_000_000);
            } else {
                Thread.sleep(millis);
            }
        }
    }

    /** What a recording gave: the checkpoint, the log, the source's final state. */
    private record Recording(SimulatedVm source, long start, List<VcpuState> checkpoint, byte[] checkpointMemory,
                             List<LogSegment> segments, List<VcpuState> finalState) {
    }

    private static SimulatedVm source(Clock clock, RecordReplaySpec spec) {
        SimulatedVm vm = SimulatedVm.builder(clock.time()).memoryBytes(16L << 20).prefill(0.25)
                .workload(new Workload(WorkloadPattern.RANDOM, 0, 40L << 20, 0, 7)).replayable(spec).build();
        vm.start();
        return vm;
    }

    private static Recording record(Clock clock, RecordReplaySpec spec) throws InterruptedException {
        SimulatedVm vm = source(clock, spec);
        clock.pass(35);
        vm.vcpus().pause();
        List<VcpuState> checkpoint = vm.vcpus().saveState();
        byte[] memory = readAll(vm);
        ExecutionRecorder recorder = vm.executionRecorder().orElseThrow();
        assertEquals(FORMAT, recorder.format());
        long start = recorder.start();
        vm.vcpus().resume();
        List<LogSegment> segments = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            clock.pass(40);
            segments.add(recorder.drain());
        }
        clock.pass(25);
        vm.vcpus().pause();
        segments.add(recorder.drain());
        assertEquals(recorder.position(), segments.get(segments.size() - 1).endPosition());
        recorder.stop();
        return new Recording(vm, start, checkpoint, memory, segments, vm.vcpus().saveState());
    }

    private static SimulatedVm target(Recording r, Clock clock, RecordReplaySpec spec) {
        SimulatedVm target = SimulatedVm.builder(clock.time()).replayable(spec).buildTarget(r.source().descriptor());
        target.memory().writePages(0, (int) layout(r.source()).pageSpan(), ByteBuffer.wrap(r.checkpointMemory()));
        return target;
    }

    private static MemoryLayout layout(SimulatedVm vm) {
        return vm.descriptor().memoryLayout();
    }

    private static byte[] readAll(SimulatedVm vm) {
        MemoryLayout layout = layout(vm);
        assertEquals(1, layout.regions().size());
        ByteBuffer buffer = ByteBuffer.allocate((int) layout.pageSpan() * layout.pageSizeBytes());
        vm.memory().readPages(0, (int) layout.pageSpan(), buffer);
        return buffer.array();
    }

    /** The pages whose bytes differ. */
    private static TreeSet<Long> differingPages(byte[] a, byte[] b, int pageSize) {
        TreeSet<Long> pages = new TreeSet<>();
        for (int p = 0; p < a.length / pageSize; p++) {
            if (!Arrays.equals(a, p * pageSize, (p + 1) * pageSize, b, p * pageSize, (p + 1) * pageSize)) {
                pages.add((long) p);
            }
        }
        return pages;
    }

    private static long word(byte[] memory, long page, int pageSize, int word) {
        return ByteBuffer.wrap(memory).order(ByteOrder.nativeOrder()).getLong((int) page * pageSize + word * 8);
    }

    /** The registers of a replayable state: all but its last 8 bytes, the run time (TSC). */
    private static byte[] registers(List<VcpuState> states) {
        byte[] data = states.get(0).data();
        return Arrays.copyOf(data, data.length - 8);
    }

    private static void replayAll(ExecutionReplayer replayer, Recording r) throws ReplayDivergedException {
        replayer.begin(FORMAT, r.start(), r.checkpoint());
        for (LogSegment s : r.segments()) {
            replayer.replay(s);
        }
        replayer.end();
    }

    private static void replayReproducesMemoryAndRegisters(Clock clock) throws Exception {
        RecordReplaySpec spec = RecordReplaySpec.DEFAULT.withInputDevice(100_000);
        Recording r = record(clock, spec);
        long inputs = r.segments().get(3).endPosition() - r.start();
        assertTrue(inputs >= 2 * 4, "at least a tick per segment, two inputs each: " + r.segments());
        assertTrue(r.segments().stream().mapToLong(LogSegment::sizeBytes).sum() > 9 * inputs / 2,
                "the device's bytes are in the log: " + r.segments());
        for (int i = 1; i < r.segments().size(); i++) {
            assertEquals(r.segments().get(i - 1).endPosition(), r.segments().get(i).startPosition(), "no gap");
        }
        byte[] finalMemory = readAll(r.source());
        assertFalse(Arrays.equals(r.checkpointMemory(), finalMemory), "the guest wrote while recorded");

        SimulatedVm target = target(r, Clock.virtualTime(), spec);
        ExecutionReplayer replayer = target.executionReplayer().orElseThrow();
        assertTrue(replayer.accepts(FORMAT));
        replayAll(replayer, r);
        assertEquals(r.segments().get(3).endPosition(), replayer.position());
        int pageSize = layout(target).pageSizeBytes();
        assertEquals(new TreeSet<>(), differingPages(finalMemory, readAll(target), pageSize), "page for page");
        assertArrayEquals(registers(r.finalState()), registers(target.vcpus().saveState()));
        PageSet populated = replayer.populatedPages().orElseThrow();
        for (long p = 0; p < layout(target).pageSpan(); p++) {
            boolean zero = Arrays.equals(finalMemory, (int) p * pageSize, (int) (p + 1) * pageSize,
                    new byte[pageSize], 0, pageSize);
            assertEquals(!zero, populated.contains(p), "page " + p + " is populated exactly when non-zero");
        }
        r.source().close();
        target.close();
    }

    @Test
    void replayReproducesMemoryAndRegistersInVirtualTime() throws Exception {
        replayReproducesMemoryAndRegisters(Clock.virtualTime());
    }

    @Test
    void replayReproducesMemoryAndRegistersInRealTime() throws Exception {
        replayReproducesMemoryAndRegisters(Clock.realTime());
    }

    /** Offsets of the records of a segment, by the format's grammar. */
    private static List<Integer> recordOffsets(byte[] log) {
        List<Integer> offsets = new ArrayList<>();
        int at = 0;
        while (at < log.length) {
            offsets.add(at);
            if (log[at] == 1) {
                at += 9;
            } else {
                at++;
                int length = 0;
                for (int shift = 0; ; shift += 7) {
                    int b = log[at++] & 0xFF;
                    length |= (b & 0x7F) << shift;
                    if (b < 0x80) {
                        break;
                    }
                }
                at += length;
            }
        }
        return offsets;
    }

    private static LogSegment altered(LogSegment s, int offset, byte value) {
        byte[] bytes = s.bytes();
        bytes[offset] = value;
        return new LogSegment(s.startPosition(), s.endPosition(), bytes);
    }

    private static void aWrongValueChangesExactlyThePagesWrittenAfterIt(Clock clock, boolean device)
            throws Exception {
        RecordReplaySpec spec = RecordReplaySpec.DEFAULT.withInputDevice(100_000);
        Recording r = record(clock, spec);
        LogSegment second = r.segments().get(1);
        byte[] log = second.bytes();
        // The second segment's first clock record, or the device record after it (with bytes).
        int record = recordOffsets(log).get(device ? 1 : 0);
        assertEquals(device ? 2 : 1, log[record]);
        int valueByte = record + (device ? 3 : 8);
        LogSegment wrong = altered(second, valueByte, (byte) (log[valueByte] ^ 0x10));
        // The second segment in two: up to the wrong record, then from it.
        byte[] wrongBytes = wrong.bytes();
        long split = second.startPosition() + (device ? 1 : 0);
        List<LogSegment> segments = new ArrayList<>(r.segments());
        segments.set(1, new LogSegment(split, second.endPosition(),
                Arrays.copyOfRange(wrongBytes, record, wrongBytes.length)));
        segments.add(1, new LogSegment(second.startPosition(), split, Arrays.copyOf(wrongBytes, record)));

        SimulatedVm target = target(r, Clock.virtualTime(), spec);
        ExecutionReplayer replayer = target.executionReplayer().orElseThrow();
        replayer.begin(FORMAT, r.start(), r.checkpoint());
        replayer.replay(segments.get(0));
        replayer.replay(segments.get(1));
        // Every write up to here is right; the wrong input changes the content of every write after it.
        long rightWrites = target.writesDone();
        for (LogSegment s : segments.subList(2, segments.size())) {
            replayer.replay(s);
        }
        replayer.end();
        byte[] expected = readAll(r.source());
        byte[] replayed = readAll(target);
        int pageSize = layout(target).pageSizeBytes();
        TreeSet<Long> writtenAfter = new TreeSet<>();
        for (long p = 0; p < layout(target).pageSpan(); p++) {
            long version = word(expected, p, pageSize, 1);
            if (word(expected, p, pageSize, 0) == p && (version & WRITE_MASK) > rightWrites) {
                writtenAfter.add(p);
            }
        }
        TreeSet<Long> differing = differingPages(expected, replayed, pageSize);
        assertFalse(differing.isEmpty());
        for (long p : differing) {
            assertEquals(p, word(replayed, p, pageSize, 0), "the same page was written");
            assertEquals(word(expected, p, pageSize, 1) & WRITE_MASK, word(replayed, p, pageSize, 1) & WRITE_MASK,
                    "by the same write");
        }
        if (clock.virtual()) {
            assertEquals(writtenAfter, differing, "exactly the pages written after the wrong input");
        } else {
            // A page's version keeps 23 bits of the data register: another input may, with odds
            // of 2^-23 per page, leave a page the same.
            assertTrue(writtenAfter.containsAll(differing), "only pages written after the wrong input differ");
            assertTrue(differing.size() >= writtenAfter.size() - 1, differing.size() + " of " + writtenAfter.size());
        }
        assertEquals(target.writesDone(), r.source().writesDone(), "the same number of writes");
        assertFalse(Arrays.equals(registers(r.finalState()), registers(target.vcpus().saveState())),
                "the data register differs");
        r.source().close();
        target.close();
    }

    @Test
    void aWrongClockValueChangesExactlyThePagesWrittenAfterItInVirtualTime() throws Exception {
        aWrongValueChangesExactlyThePagesWrittenAfterIt(Clock.virtualTime(), false);
    }

    @Test
    void aWrongDeviceByteChangesExactlyThePagesWrittenAfterItInVirtualTime() throws Exception {
        aWrongValueChangesExactlyThePagesWrittenAfterIt(Clock.virtualTime(), true);
    }

    @Test
    void aWrongClockValueChangesOnlyThePagesWrittenAfterItInRealTime() throws Exception {
        aWrongValueChangesExactlyThePagesWrittenAfterIt(Clock.realTime(), false);
    }

    private static void aWrongKindOrAMalformedLogDiverges(Clock clock) throws Exception {
        RecordReplaySpec spec = RecordReplaySpec.DEFAULT.withInputDevice(1_000);
        Recording r = record(clock, spec);
        LogSegment second = r.segments().get(1);
        long at = second.startPosition();
        record Case(LogSegment segment, String message) {
        }
        byte[] longer = Arrays.copyOf(second.bytes(), second.sizeBytes() + 2);
        List<Case> cases = List.of(
                new Case(altered(second, 0, (byte) 2), "the guest asked for a clock read but the log's next record "
                        + "(byte 0 of the segment) is an input device read (at position " + at + ")"),
                new Case(altered(second, 0, (byte) 7), "malformed log: a record of unknown kind 0x07 at byte 0 of "
                        + "the segment (at position " + at + ")"),
                new Case(new LogSegment(at, second.endPosition(), Arrays.copyOf(second.bytes(), 5)),
                        "malformed log: a clock record at byte 0 is cut short (4 of 8 value bytes) (at position "
                                + at + ")"),
                new Case(new LogSegment(at, second.endPosition(), new byte[0]), "the guest asked for a clock read "
                        + "but the segment's log ends (0 bytes) before its end position (at position " + at + ")"),
                new Case(new LogSegment(at, second.endPosition(), longer), "malformed log: 2 bytes follow the record "
                        + "that reaches the segment's end position " + second.endPosition() + " (at position "
                        + second.endPosition() + ")"));
        for (Case c : cases) {
            SimulatedVm target = target(r, Clock.virtualTime(), spec);
            ExecutionReplayer replayer = target.executionReplayer().orElseThrow();
            replayer.begin(FORMAT, r.start(), r.checkpoint());
            replayer.replay(r.segments().get(0));
            ReplayDivergedException e = assertThrows(ReplayDivergedException.class, () -> replayer.replay(c.segment()));
            assertEquals(c.message(), e.getMessage());
            target.close();
        }
        r.source().close();
    }

    @Test
    void aWrongKindOrAMalformedLogDivergesInVirtualTime() throws Exception {
        aWrongKindOrAMalformedLogDiverges(Clock.virtualTime());
    }

    @Test
    void aWrongKindOrAMalformedLogDivergesInRealTime() throws Exception {
        aWrongKindOrAMalformedLogDiverges(Clock.realTime());
    }

    @Test
    void replayRefusesAWrongStartAndACancelledReplayer() throws Exception {
        RecordReplaySpec spec = RecordReplaySpec.DEFAULT;
        Recording r = record(Clock.virtualTime(), spec);
        SimulatedVm target = target(r, Clock.virtualTime(), spec);
        ExecutionReplayer replayer = target.executionReplayer().orElseThrow();
        assertFalse(replayer.accepts("kvm-exit-log/1"));
        IllegalArgumentException wrongStart = assertThrows(IllegalArgumentException.class,
                () -> replayer.begin(FORMAT, r.start() + 1, r.checkpoint()));
        assertEquals("the checkpoint's vCPU state stands at position " + r.start() + ", not at the start position "
                + (r.start() + 1), wrongStart.getMessage());
        replayer.begin(FORMAT, r.start(), r.checkpoint());
        assertThrows(IllegalArgumentException.class, () -> replayer.replay(r.segments().get(1)));
        replayer.cancel();
        IllegalStateException cancelled = assertThrows(IllegalStateException.class,
                () -> replayer.replay(r.segments().get(0)));
        assertEquals("replay was cancelled", cancelled.getMessage());
        r.source().close();
        target.close();
    }

    @Test
    void replayInVirtualTimeCostsItsWritesAndInputs() throws Exception {
        RecordReplaySpec spec = RecordReplaySpec.DEFAULT.withReplayCost(Duration.ofNanos(3_000), Duration.ofNanos(500));
        Recording r = record(Clock.virtualTime(), spec);
        Clock destination = Clock.virtualTime();
        SimulatedVm target = target(r, destination, spec);
        ExecutionReplayer replayer = target.executionReplayer().orElseThrow();
        long writesBefore = target.writesDone();
        replayer.begin(FORMAT, r.start(), r.checkpoint());
        long before = destination.time().nanoTime();
        long writesAtCheckpoint = target.writesDone();
        for (LogSegment s : r.segments()) {
            replayer.replay(s);
        }
        long inputs = replayer.position() - r.start();
        long writes = target.writesDone() - writesAtCheckpoint;
        assertTrue(writes > 0 && writesBefore == 0);
        assertEquals(writes * 3_000 + inputs * 500, destination.time().nanoTime() - before);
        r.source().close();
        target.close();
    }

    @Test
    void recordingCostsTheGuestRunTimePerInput() throws Exception {
        long[] ticks = new long[2];
        for (int i = 0; i < 2; i++) {
            Clock clock = Clock.virtualTime();
            RecordReplaySpec spec = RecordReplaySpec.DEFAULT.withRecordingCost(Duration.ofMillis(i));
            SimulatedVm vm = source(clock, spec);
            vm.vcpus().pause();
            ExecutionRecorder recorder = vm.executionRecorder().orElseThrow();
            long start = recorder.start();
            vm.vcpus().resume();
            for (int step = 0; step < 100; step++) {
                clock.pass(10);
                recorder.drain();
            }
            ticks[i] = (recorder.position() - start) / 2;
            vm.close();
        }
        assertEquals(100, ticks[0], "1 s of run time, a tick every 10 ms");
        // Each tick's two inputs cost 2 ms: a tick every 12 ms of run time.
        assertEquals(1000 / 12, ticks[1], 1, "with 1 ms per logged input");
    }
}
