package io.livemig.kit;

import io.livemig.kit.internal.DeviceChunks;
import io.livemig.spi.DeviceMigration;
import io.livemig.spi.DeviceState;
import io.livemig.spi.VmOperationException;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.Arrays;

import static io.livemig.spi.DeviceState.ERROR;
import static io.livemig.spi.DeviceState.PRE_COPY;
import static io.livemig.spi.DeviceState.RESUMING;
import static io.livemig.spi.DeviceState.RUNNING;
import static io.livemig.spi.DeviceState.STOP;
import static io.livemig.spi.DeviceState.STOP_COPY;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The stateful device's data stream: iterative pre-copy, its estimate, resuming and its checks. */
class StatefulDeviceStreamTest {

    /** 1 MiB in 4 KiB chunks, 8 MiB/s of chunk writes (2048 a second). */
    private static final StatefulDeviceSpec BUSY = StatefulDeviceSpec.of("gpu0", 1 << 20).withChunkBytes(4096)
            .withWrites(8 << 20, 42);
    private static final long RECORD_BYTES = 16 + 4096;

    private static StatefulDevice target(StatefulDeviceSpec spec, VirtualTime time) {
        return StatefulDevice.target(StatefulDeviceSpec.parseId(spec.id()).orElseThrow(), time, null);
    }

    /** Reads what is ready (all of it in STOP_COPY) in reads of {@code bufferBytes}. */
    private static byte[] drain(DeviceMigration m, int bufferBytes) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteBuffer buffer = ByteBuffer.allocate(bufferBytes);
        int n;
        while ((n = m.read(buffer.clear())) > 0) {
            out.write(buffer.array(), 0, n);
        }
        return out.toByteArray();
    }

    /** Writes a stream in segments of {@code segmentBytes}. */
    private static void feed(DeviceMigration m, byte[] stream, int segmentBytes) {
        for (int at = 0; at < stream.length; at += segmentBytes) {
            m.write(ByteBuffer.wrap(stream, at, Math.min(segmentBytes, stream.length - at)));
        }
    }

    @Test
    void preCopyThenStopCopyCarriesEveryWriteMadeDuringPreCopy() {
        VirtualTime time = new VirtualTime();
        StatefulDevice source = new StatefulDevice(BUSY, time);
        DeviceMigration src = source.migration().orElseThrow();
        StatefulDevice destination = target(BUSY, new VirtualTime());
        DeviceMigration dst = destination.migration().orElseThrow();
        dst.transition(RESUMING);

        src.transition(PRE_COPY);
        ByteArrayOutputStream stream = new ByteArrayOutputStream();
        for (int round = 0; round < 5; round++) {
            stream.writeBytes(drain(src, 10_000));
            assertEquals(0, src.read(ByteBuffer.allocate(100)), "nothing ready until the device writes again");
            time.sleepNanos(50_000_000L); // ~100 chunk writes
        }
        long writesBeforeStop = source.writesDone();
        assertTrue(writesBeforeStop >= 400, "the device wrote during pre-copy: " + writesBeforeStop);
        src.transition(STOP_COPY);
        stream.writeBytes(drain(src, 7_777));
        assertEquals(-1, src.read(ByteBuffer.allocate(100)));
        src.transition(STOP);

        feed(dst, stream.toByteArray(), 3_001);
        dst.transition(STOP);
        assertEquals(source.digest(), destination.digest());
        assertEquals(writesBeforeStop, destination.writesDone(), "the activity continues at the destination");

        dst.transition(RUNNING);
        assertEquals(DeviceState.RUNNING, dst.state());
    }

    @Test
    void theDestinationContinuesTheSourcesWritesExactly() {
        VirtualTime sourceTime = new VirtualTime();
        StatefulDevice source = new StatefulDevice(BUSY, sourceTime);
        StatefulDevice twin = new StatefulDevice(BUSY, sourceTime);
        sourceTime.sleepNanos(20_000_000L);
        DeviceMigration src = source.migration().orElseThrow();
        src.transition(STOP_COPY);
        byte[] stream = drain(src, 1 << 16);
        VirtualTime destinationTime = new VirtualTime();
        StatefulDevice destination = target(BUSY, destinationTime);
        DeviceMigration dst = destination.migration().orElseThrow();
        dst.transition(RESUMING);
        feed(dst, stream, stream.length);
        dst.transition(RUNNING);
        twin.migration().orElseThrow().transition(STOP);
        destinationTime.sleepNanos(30_000_000L);
        twin.migration().orElseThrow().transition(RUNNING);
        sourceTime.sleepNanos(30_000_000L);
        assertEquals(twin.writesDone(), destination.writesDone());
        assertEquals(twin.digest(), destination.digest(), "same seed, same writes, after the migration too");
    }

    @Test
    void pendingBytesFallsAsDataIsReadAndGrowsWithWrites() {
        VirtualTime time = new VirtualTime();
        StatefulDevice source = new StatefulDevice(BUSY, time);
        DeviceMigration m = source.migration().orElseThrow();
        long whole = 16 + 256 * RECORD_BYTES + 88;
        assertEquals(whole, m.pendingBytes(), "outside the saving states: what a STOP_COPY would read");
        m.transition(PRE_COPY);
        long previous = m.pendingBytes();
        assertEquals(16 + 256 * RECORD_BYTES, previous, "pre-copy: the initial bytes");
        for (int i = 0; i < 8; i++) {
            m.read(ByteBuffer.allocate(20_000));
            long now = m.pendingBytes();
            assertEquals(previous - 20_000, now);
            previous = now;
        }
        drain(m, 1 << 16);
        assertEquals(0, m.pendingBytes());
        time.sleepNanos(10_000_000L); // ~20 chunk writes, every chunk already read
        long writes = source.writesDone();
        long grown = m.pendingBytes();
        assertTrue(grown > 0 && grown <= writes * RECORD_BYTES && grown % RECORD_BYTES == 0,
                "dirty chunks pending: " + grown + " after " + writes + " writes");
        m.transition(STOP_COPY);
        assertEquals(grown + 88, m.pendingBytes(), "stop-copy adds the end record");
        drain(m, 1 << 16);
        assertEquals(0, m.pendingBytes());
    }

    @Test
    void aTruncatedStreamIsRefusedWhenResumingEnds() {
        byte[] stream = StatefulDeviceTransitionTest.completeStream(BUSY);
        for (int cut : new int[] {0, 10, 16, 100, stream.length - 88, stream.length - 1}) {
            StatefulDevice destination = target(BUSY, new VirtualTime());
            DeviceMigration dst = destination.migration().orElseThrow();
            dst.transition(RESUMING);
            feed(dst, Arrays.copyOf(stream, cut), 4096);
            VmOperationException e = assertThrows(VmOperationException.class, () -> dst.transition(RUNNING));
            assertTrue(e.getMessage().contains("incomplete"), e.getMessage());
            assertEquals(ERROR, dst.state(), "cut at " + cut);
            assertEquals(java.util.List.of(ERROR), destination.lastPath(), "it failed leaving RESUMING");
        }
    }

    @Test
    void aMalformedRecordPutsTheDeviceInErrorAfterApplyingTheRecordsBeforeIt() {
        byte[] stream = StatefulDeviceTransitionTest.completeStream(BUSY);
        int secondChunkRecord = 16 + (int) RECORD_BYTES;
        byte[][] corruptions = new byte[4][];
        corruptions[0] = stream.clone();
        corruptions[0][secondChunkRecord] = 0x7F; // unknown tag
        corruptions[1] = stream.clone();
        ByteBuffer.wrap(corruptions[1]).putLong(secondChunkRecord + 8, 1 << 20); // offset past the state
        corruptions[2] = stream.clone();
        ByteBuffer.wrap(corruptions[2]).putInt(secondChunkRecord + 4, 2048); // half a chunk
        corruptions[3] = Arrays.copyOf(stream, stream.length + 1); // a byte after the end
        for (byte[] bad : corruptions) {
            StatefulDevice destination = target(BUSY, new VirtualTime());
            String zero = destination.digest();
            DeviceMigration dst = destination.migration().orElseThrow();
            dst.transition(RESUMING);
            assertThrows(VmOperationException.class, () -> feed(dst, bad, bad.length));
            assertEquals(ERROR, dst.state());
            assertThrows(IllegalStateException.class, () -> dst.write(ByteBuffer.wrap(stream)));
            if (bad.length < stream.length + 1) {
                assertNotEquals(zero, destination.digest(), "the first chunk record was applied");
            }
        }
        byte[] wrongFingerprint = stream.clone();
        ByteBuffer.wrap(wrongFingerprint).putLong(stream.length - 88 + 16, 12345L);
        StatefulDevice destination = target(BUSY, new VirtualTime());
        DeviceMigration dst = destination.migration().orElseThrow();
        dst.transition(RESUMING);
        assertThrows(VmOperationException.class, () -> feed(dst, wrongFingerprint, 100));
        assertEquals(ERROR, dst.state());
    }

    @Test
    void aStreamForAnotherShapeIsRefused() {
        byte[] stream = StatefulDeviceTransitionTest.completeStream(BUSY);
        StatefulDeviceSpec other = StatefulDeviceSpec.of("gpu0", 2 << 20).withChunkBytes(4096);
        StatefulDevice destination = target(other, new VirtualTime());
        DeviceMigration dst = destination.migration().orElseThrow();
        dst.transition(RESUMING);
        VmOperationException e = assertThrows(VmOperationException.class, () -> feed(dst, stream, 16));
        assertTrue(e.getMessage().contains("1048576"), e.getMessage());
        assertEquals(ERROR, dst.state());
    }

    @Test
    void bytesNoSourceSynthesizedArriveAsTheyAreAndMigrateOn() {
        byte[] stream = StatefulDeviceTransitionTest.completeStream(BUSY);
        // Change one byte of chunk 0 and give the end record the fingerprint of that content.
        stream[16 + 16 + 100] ^= 0x5A;
        DeviceChunks expected = new DeviceChunks(256, 4096, 0);
        expected.load(0, ByteBuffer.wrap(stream, 32, 4096).slice());
        ByteBuffer.wrap(stream).putLong(stream.length - 88 + 16, expected.fingerprint());
        StatefulDevice source = new StatefulDevice(BUSY, new VirtualTime());
        StatefulDevice destination = target(BUSY, new VirtualTime());
        DeviceMigration dst = destination.migration().orElseThrow();
        dst.transition(RESUMING);
        feed(dst, stream, 999);
        dst.transition(STOP);
        assertEquals(expected.digest(), destination.digest());
        assertNotEquals(source.digest(), destination.digest());
        // A second hop, from the destination, carries the foreign chunk as it is.
        StatefulDevice third = target(BUSY, new VirtualTime());
        DeviceMigration m = destination.migration().orElseThrow();
        m.transition(STOP_COPY);
        byte[] again = drain(m, 5000);
        DeviceMigration thirdM = third.migration().orElseThrow();
        thirdM.transition(RESUMING);
        feed(thirdM, again, again.length);
        thirdM.transition(STOP);
        assertEquals(destination.digest(), third.digest());
    }

    @Test
    void wholeStateSavingIsRefusedAndReadingOutsideSavingIsAnError() {
        StatefulDevice device = new StatefulDevice(BUSY, new VirtualTime());
        assertThrows(VmOperationException.class, device::saveState);
        assertThrows(VmOperationException.class, () -> device.loadState(new byte[0]));
        DeviceMigration m = device.migration().orElseThrow();
        assertThrows(IllegalStateException.class, () -> m.read(ByteBuffer.allocate(10)));
        assertThrows(IllegalStateException.class, () -> m.write(ByteBuffer.allocate(10)));
        assertTrue(device.dmaTracker().isEmpty(), "a device on its own writes no guest memory");
        assertThrows(IllegalArgumentException.class,
                () -> new StatefulDevice(BUSY.withDma(0, 4, 1 << 20), new VirtualTime()));
    }

    @Test
    void theIdSpellsTheShapeAndReadsBack() {
        StatefulDeviceSpec spec = StatefulDeviceSpec.of("nic.1", 256L << 20).withStates(true, false);
        assertEquals("nic.1@268435456/65536/p2p", spec.id());
        StatefulDeviceSpec back = StatefulDeviceSpec.parseId(spec.id()).orElseThrow();
        assertEquals(spec.supportedStates(), back.supportedStates());
        assertEquals(spec.stateBytes(), back.stateBytes());
        assertTrue(StatefulDeviceSpec.parseId("workload").isEmpty());
        assertTrue(StatefulDeviceSpec.parseId("x@100/64/p2p").isEmpty(), "not a multiple of the chunk");
        assertThrows(IllegalArgumentException.class, () -> StatefulDeviceSpec.of("a b", 4096));
    }
}
