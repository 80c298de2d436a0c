package io.livemig.e2e.protocol;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.ProtocolException;
import io.livemig.api.ProtocolException.Kind;
import io.livemig.api.SourceVmState;
import io.livemig.api.Strategy;
import io.livemig.compress.DedupCodec;
import io.livemig.compress.Lz4Codec;
import io.livemig.compress.PageEncoding;
import io.livemig.e2e.ObservedTarget;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.PageBitmap;
import io.livemig.engine.internal.wire.SwitchoverFrames;
import io.livemig.kit.InMemoryVm;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.VcpuState;
import io.livemig.spi.VmDescriptor;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.List;

import static io.livemig.e2e.protocol.HostileSource.PAGE;
import static io.livemig.e2e.protocol.HostileSource.PLAIN;
import static io.livemig.e2e.protocol.HostileSource.bit;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * PAGES batches are all or nothing (docs/protocol.md 2.2): an entry that does not decode, or a
 * dedup reference outside guest RAM, refuses the whole batch before any of its pages is written
 * to the guest, or in post-copy installed; references to pages written earlier in the same batch
 * decode against what those entries wrote.
 */
class PagesBatchTest {

    /** 64 pages, a hole of 64, 64 more. */
    private static final MemoryLayout LAYOUT = new MemoryLayout(PAGE,
            List.of(new MemoryRegion(0, 64), new MemoryRegion(128, 64)));
    private static final long ALL = PLAIN | bit(PageEncoding.XBZRLE) | bit(PageEncoding.LZ4) | bit(PageEncoding.DEDUP);

    /** One entry of a batch built by hand. */
    private record Entry(long page, PageEncoding encoding, byte[] payload) {
    }

    private static HostileSource receiving(boolean mayPostcopy, int batchPages) throws Exception {
        HostileSource source = new HostileSource(MigrationOptions.builder().build(), ObservedTarget::asAnnounced);
        source.hello(ALL, 1 << 20);
        source.send(new HandshakeFrames.Setup(mayPostcopy ? Strategy.POSTCOPY : Strategy.PRECOPY, false, mayPostcopy,
                new VmDescriptor(LAYOUT, 1, List.of(InMemoryVm.WORKLOAD_DEVICE_ID), "livemig-mem-vcpu-v1"),
                batchPages));
        source.expect(FrameType.READY);
        return source;
    }

    private static void sendBatch(HostileSource source, Entry... entries) throws Exception {
        ByteBuffer b = source.begin(FrameType.PAGES).putInt(0).putInt(entries.length);
        for (Entry e : entries) {
            b.putLong(e.page).put((byte) e.encoding.wireId()).putInt(e.payload.length).put(e.payload);
        }
        source.send(source.finish());
    }

    private static byte[] filled(int seed) {
        byte[] page = new byte[PAGE];
        for (int i = 0; i < PAGE; i++) {
            page[i] = (byte) (seed + i / 64);
        }
        return page;
    }

    private static Entry raw(long page, byte[] content) {
        return new Entry(page, PageEncoding.RAW, content);
    }

    private static Entry zero(long page) {
        return new Entry(page, PageEncoding.ZERO, new byte[0]);
    }

    private static Entry dedup(long page, long referenced, byte[] content) {
        ByteBuffer payload = ByteBuffer.allocate(DedupCodec.PAYLOAD_BYTES);
        DedupCodec.writeReference(payload, 0, referenced, DedupCodec.hash(ByteBuffer.wrap(content), 0, PAGE));
        return new Entry(page, PageEncoding.DEDUP, payload.array());
    }

    private static Entry lz4(long page, byte[] content) {
        ByteBuffer in = ByteBuffer.allocateDirect(PAGE).put(content).flip();
        ByteBuffer out = ByteBuffer.allocateDirect(PAGE);
        int length = new Lz4Codec(PAGE).encode(page, in, 0, out, 0, PAGE - 64);
        assertTrue(length > 0, "test page compresses");
        byte[] payload = new byte[length];
        out.get(0, payload);
        return new Entry(page, PageEncoding.LZ4, payload);
    }

    /** An XBZRLE delta that replaces bytes 10..13 of the page with 1, 2, 3, 4. */
    private static Entry xbzrle(long page) {
        return new Entry(page, PageEncoding.XBZRLE, new byte[] {10, 4, 1, 2, 3, 4});
    }

    private static void assertRefusedWritingNothing(HostileSource source, Kind kind, String part) throws Exception {
        ProtocolException p = source.refused();
        assertEquals(kind, p.kind(), p.getMessage());
        assertTrue(p.getMessage().contains(part), p.getMessage());
        assertEquals(0, source.target().writes(), "no page of the batch was written");
    }

    @Test
    void pagesBetweenAPostcopySwitchoverAndItsCommitAreRefused() throws Exception {
        // A post-copy migration's switchover hands over to post-copy: the target prepared its
        // demand paging at SWITCHOVER, and guest memory may not be written until COMMIT.
        try (HostileSource source = receiving(true, 64)) {
            source.send(new SwitchoverFrames.Switchover());
            sendBatch(source, raw(1, filled(1)));
            assertRefusedWritingNothing(source, Kind.UNEXPECTED, "PAGES after the SWITCHOVER of a post-copy handover");
        }
    }

    @Test
    void aPrecopyCommitInAPostcopyMigrationIsRefused() throws Exception {
        try (HostileSource source = receiving(true, 64)) {
            source.send(new SwitchoverFrames.Switchover());
            source.send(new SwitchoverFrames.Commit(1, 1, false));
            ProtocolException p = source.refused();
            assertEquals(Kind.UNEXPECTED, p.kind(), p.getMessage());
            assertTrue(p.getMessage().contains("a pre-copy COMMIT in a POSTCOPY migration"), p.getMessage());
            assertEquals(0, source.target().resumes(), "the target never ran");
        }
    }

    @Test
    void anUndecodableLastEntryRefusesTheBatchBeforeItsFirstPageIsWritten() throws Exception {
        try (HostileSource source = receiving(false, 64)) {
            sendBatch(source, raw(1, filled(1)), zero(2), new Entry(3, PageEncoding.LZ4, new byte[] {1, 2, 3, 4, 5}));
            assertRefusedWritingNothing(source, Kind.INCONSISTENT_LENGTH, "entry 2: undecodable page");
        }
    }

    @Test
    void aDedupReferenceToANegativePageIsRefusedBeforeAnyByteIsCopied() throws Exception {
        // Once, a reference to page -1 skipped the "is guest RAM" check and installed leftover scratch.
        try (HostileSource source = receiving(false, 64)) {
            byte[] content = filled(7);
            sendBatch(source, lz4(1, content), dedup(2, -1, content));
            assertRefusedWritingNothing(source, Kind.PAGE_OUT_OF_RANGE,
                    "entry 1: dedup reference from page 2 to page 18446744073709551615, which is not RAM");
        }
    }

    @Test
    void aDedupReferenceIntoAHoleIsRefusedBeforeAnyByteIsCopied() throws Exception {
        try (HostileSource source = receiving(false, 64)) {
            sendBatch(source, raw(1, filled(3)), dedup(2, 100, new byte[PAGE]));
            assertRefusedWritingNothing(source, Kind.PAGE_OUT_OF_RANGE, "to page 100, which is not RAM");
        }
    }

    @Test
    void aDedupReferenceWhoseContentDiffersRefusesTheWholeBatch() throws Exception {
        try (HostileSource source = receiving(false, 64)) {
            sendBatch(source, raw(1, filled(3)), dedup(2, 1, filled(4)));
            assertRefusedWritingNothing(source, Kind.INCONSISTENT_LENGTH, "does not hold the content");
        }
    }

    @Test
    void moreEntriesThanSetupAnnouncedPerBatchAreRefused() throws Exception {
        try (HostileSource source = receiving(false, 4)) {
            sendBatch(source, zero(1), zero(2), zero(3), zero(4), zero(5));
            assertRefusedWritingNothing(source, Kind.INCONSISTENT_LENGTH, "at most 4 (batchPages)");
        }
    }

    @Test
    void missingPagesWithoutPostcopyAnnouncedAreRefusedAtOnce() throws Exception {
        try (HostileSource source = receiving(false, 64)) {
            source.send(new SwitchoverFrames.Switchover());
            source.send(new PageBitmap(FrameType.MISSING_PAGES, 0, new long[] {-1L}));
            assertRefusedWritingNothing(source, Kind.UNEXPECTED, "SETUP did not announce post-copy");
        }
    }

    @Test
    void entriesBuildingOnEarlierEntriesOfTheSameBatchDecodeAgainstThem() throws Exception {
        byte[] x = filled(5);
        byte[] xPatched = x.clone();
        xPatched[10] = 1;
        xPatched[11] = 2;
        xPatched[12] = 3;
        xPatched[13] = 4;
        byte[] y = filled(9);
        try (HostileSource source = receiving(false, 64)) {
            sendBatch(source, raw(1, x), lz4(130, y), zero(5),
                    dedup(2, 1, x),          // raw content of this batch
                    dedup(3, 2, x),          // a dedup of a dedup
                    xbzrle(1),               // a delta on this batch's raw page
                    dedup(4, 1, xPatched),   // the page as the delta left it
                    dedup(6, 5, new byte[PAGE]), // a page this batch zeroed
                    dedup(131, 130, y));     // a page this batch decompressed
            source.send(new SwitchoverFrames.Switchover());
            commit(source, false);
            ObservedTarget target = source.target();
            assertArrayEquals(xPatched, target.page(1));
            assertArrayEquals(x, target.page(2));
            assertArrayEquals(x, target.page(3));
            assertArrayEquals(xPatched, target.page(4));
            assertArrayEquals(new byte[PAGE], target.page(6));
            assertArrayEquals(y, target.page(131));
        }
    }

    @Test
    void aBadEntryInAPostcopyBatchInstallsNoPageOfIt() throws Exception {
        try (HostileSource source = receiving(true, 64)) {
            source.send(new SwitchoverFrames.Switchover());
            source.send(new PageBitmap(FrameType.MISSING_PAGES, 0, new long[] {-1L}));
            commit(source, true);
            byte[] x = filled(2);
            sendBatch(source, raw(1, x), lz4(2, filled(3)));
            sendBatch(source, raw(3, x), zero(4), new Entry(5, PageEncoding.LZ4, new byte[] {9, 9, 9}));
            Throwable failure = source.failure();
            MigrationException split = assertInstanceOf(MigrationException.class, failure);
            assertEquals(SourceVmState.SPLIT, split.sourceState(), split.getMessage());
            ProtocolException p = assertInstanceOf(ProtocolException.class, split.getCause());
            assertEquals(Kind.INCONSISTENT_LENGTH, p.kind(), p.getMessage());
            assertEquals(2, source.target().installOrder().size(),
                    "the good batch was installed, no page of the bad one");
        }
    }

    /** Sends the state of a paused in-memory VM of the same shape and COMMIT; takes RESUMED. */
    private static void commit(HostileSource source, boolean postcopy) throws Exception {
        try (InMemoryVm twin = InMemoryVm.builder().layout(LAYOUT).build()) {
            twin.vcpus().pause();
            for (VcpuState state : twin.vcpus().saveState()) {
                source.send(new SwitchoverFrames.VcpuStateFrame(state));
            }
            source.send(new SwitchoverFrames.DeviceStateFrame(InMemoryVm.WORKLOAD_DEVICE_ID,
                    twin.devices().get(0).saveState()));
        }
        source.send(new SwitchoverFrames.Commit(1, 1, postcopy));
        source.expect(FrameType.RESUMED);
    }
}
