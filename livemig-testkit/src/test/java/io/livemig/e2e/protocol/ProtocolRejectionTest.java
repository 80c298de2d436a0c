package io.livemig.e2e.protocol;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.ProtocolException;
import io.livemig.api.ProtocolException.Kind;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.compress.PageEncoding;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.engine.internal.wire.ControlFrames;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.FrameWriter;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.SwitchoverFrames;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.MemorySink;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.VcpuControl;
import io.livemig.spi.VmDescriptor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A hand-driven hostile source against the real destination: every malformed input ends the
 * migration with a specific {@link ProtocolException}, writes nothing, and discards the target.
 */
class ProtocolRejectionTest {

    private static final int PAGE = 4096;
    private static final MemoryLayout LAYOUT = new MemoryLayout(PAGE,
            List.of(new MemoryRegion(0, 64), new MemoryRegion(128, 64)));
    private static final long ENCODINGS = (1L << PageEncoding.ZERO.wireId()) | (1L << PageEncoding.RAW.wireId());

    private InMemoryChannel.Pair pair;
    private FrameWriter writer;
    private RecordingTarget target;
    private CompletableFuture<ReceivedMigration> destination;

    @BeforeEach
    void connectAndHandshake() throws Exception {
        pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system(), (16 << 20) + 4096, Duration.ofSeconds(5));
        writer = new FrameWriter(1 << 20);
        MigrationOptions options = MigrationOptions.builder().strategy(Strategy.COLD).build();
        destination = CompletableFuture.supplyAsync(() -> {
            try {
                return LiveMigration.receive(pair.destination(), d -> target = new RecordingTarget(d), options);
            } catch (MigrationException e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
        send(new HandshakeFrames.Hello(1, 1, 1 << 20, ENCODINGS).write(writer));
        receive();
        VmDescriptor descriptor = new VmDescriptor(LAYOUT, 1, List.of(InMemoryVm.WORKLOAD_DEVICE_ID),
                "livemig-mem-vcpu-v1");
        send(new HandshakeFrames.Setup(Strategy.COLD, true, false, descriptor, 64).write(writer));
        receive();
    }

    @AfterEach
    void close() {
        pair.source().close();
        pair.destination().close();
    }

    private void send(ByteBuffer frame) throws Exception {
        pair.source().send(frame);
    }

    private void receive() throws Exception {
        ByteBuffer b = ByteBuffer.allocate(1 << 16);
        pair.source().receive(b);
    }

    /** A PAGES frame with one raw page, then {@code tamper} applied to the finished frame. */
    private ByteBuffer pagesFrame(long page, int encoding, int length, int payloadBytes) {
        ByteBuffer b = writer.begin(FrameType.PAGES).putInt(0).putInt(1);
        b.putLong(page).put((byte) encoding).putInt(length);
        for (int i = 0; i < payloadBytes; i++) {
            b.put((byte) 7);
        }
        return writer.finish();
    }

    private ProtocolException rejected() {
        ExecutionException e = assertThrows(ExecutionException.class, destination::get);
        ProtocolException p = assertInstanceOf(ProtocolException.class, e.getCause(), e.getCause().toString());
        assertEquals(0, target.writes.get(), "a rejected frame writes nothing");
        assertTrue(target.closed, "the partly received VM is discarded");
        assertTrue(target.vm.vcpus().isPaused(), "and never ran");
        return p;
    }

    @Test
    void aCorruptedCrcIsRejectedBeforeAnythingIsApplied() throws Exception {
        ByteBuffer frame = pagesFrame(3, PageEncoding.RAW.wireId(), PAGE, PAGE);
        frame.put(40, (byte) (frame.get(40) ^ 1));
        send(frame);
        assertEquals(Kind.CORRUPT_FRAME, rejected().kind());
    }

    @Test
    void aPageInTheLayoutsHoleIsOutOfRange() throws Exception {
        send(pagesFrame(100, PageEncoding.RAW.wireId(), PAGE, PAGE));
        ProtocolException p = rejected();
        assertEquals(Kind.PAGE_OUT_OF_RANGE, p.kind());
        assertTrue(p.getMessage().contains("page 100"), p.getMessage());
    }

    @Test
    void aPagePastTheEndIsOutOfRange() throws Exception {
        send(pagesFrame(Long.MAX_VALUE, PageEncoding.ZERO.wireId(), 0, 0));
        assertEquals(Kind.PAGE_OUT_OF_RANGE, rejected().kind());
    }

    @Test
    void aLaterBadEntryRejectsTheWholeBatchBeforeTheFirstIsWritten() throws Exception {
        ByteBuffer b = writer.begin(FrameType.PAGES).putInt(0).putInt(2);
        b.putLong(1).put((byte) PageEncoding.RAW.wireId()).putInt(PAGE).put(new byte[PAGE]);
        b.putLong(9999).put((byte) PageEncoding.ZERO.wireId()).putInt(0);
        send(writer.finish());
        assertEquals(Kind.PAGE_OUT_OF_RANGE, rejected().kind());
    }

    @Test
    void aPayloadCutShortIsTruncated() throws Exception {
        send(pagesFrame(5, PageEncoding.RAW.wireId(), PAGE, PAGE - 100));
        assertEquals(Kind.TRUNCATED, rejected().kind());
    }

    @Test
    void aFrameEndingInsideAFieldIsTruncated() throws Exception {
        ByteBuffer b = writer.begin(FrameType.PAGES).putInt(0).putInt(1);
        b.putLong(5).put((byte) PageEncoding.ZERO.wireId()).putShort((short) 0);
        send(writer.finish());
        Kind kind = rejected().kind();
        assertTrue(kind == Kind.TRUNCATED || kind == Kind.INCONSISTENT_LENGTH, kind.toString());
    }

    @Test
    void aRawPageWithTheWrongLengthIsInconsistent() throws Exception {
        send(pagesFrame(5, PageEncoding.RAW.wireId(), 100, 100));
        assertEquals(Kind.INCONSISTENT_LENGTH, rejected().kind());
    }

    @Test
    void anEntryCountLargerThanTheFrameIsInconsistent() throws Exception {
        ByteBuffer b = writer.begin(FrameType.PAGES).putInt(0).putInt(1_000_000);
        b.putLong(5).put((byte) PageEncoding.ZERO.wireId()).putInt(0);
        send(writer.finish());
        assertEquals(Kind.INCONSISTENT_LENGTH, rejected().kind());
    }

    @Test
    void anUnagreedEncodingIsUnexpected() throws Exception {
        send(pagesFrame(5, PageEncoding.LZ4.wireId(), 10, 10));
        assertEquals(Kind.UNEXPECTED, rejected().kind());
    }

    @Test
    void anUnknownFrameTypeIsUnexpected() throws Exception {
        ByteBuffer b = writer.begin(FrameType.PAGES);
        b.put(0, (byte) 0x33);
        send(writer.finish());
        assertEquals(Kind.UNEXPECTED, rejected().kind());
    }

    @Test
    void aCommitBeforeTheSwitchoverIsOutOfOrder() throws Exception {
        send(new SwitchoverFrames.Commit(1, 1, false).write(writer));
        assertEquals(Kind.UNEXPECTED, rejected().kind());
    }

    @Test
    void aCommitWithoutEveryStateIsRejectedAndTheVmNeverRuns() throws Exception {
        send(new SwitchoverFrames.Switchover().write(writer));
        send(new SwitchoverFrames.Commit(1, 1, false).write(writer));
        assertEquals(Kind.INCONSISTENT_LENGTH, rejected().kind());
    }

    @Test
    void aFrameLargerThanTheAgreedLimitIsTooLarge() throws Exception {
        ByteBuffer huge = ByteBuffer.allocate((1 << 20) + 100);
        huge.put(0, (byte) FrameType.PAGES.code());
        send(huge);
        assertEquals(Kind.FRAME_TOO_LARGE, rejected().kind());
    }

    @Test
    void aFrameShorterThanAHeaderIsTruncated() throws Exception {
        send(ByteBuffer.wrap(new byte[] {3, 0, 0}));
        assertEquals(Kind.TRUNCATED, rejected().kind());
    }

    @Test
    void aStreamThatEndsMidMigrationFailsAndDiscards() throws Exception {
        send(pagesFrame(5, PageEncoding.RAW.wireId(), PAGE, PAGE));
        pair.source().close();
        ExecutionException e = assertThrows(ExecutionException.class, destination::get);
        assertInstanceOf(MigrationException.class, e.getCause());
        assertTrue(target.closed);
        assertEquals(1, target.writes.get(), "the valid frame before the end was applied, nothing else");
    }

    @Test
    void aValidBatchIsApplied() throws Exception {
        send(pagesFrame(130, PageEncoding.RAW.wireId(), PAGE, PAGE));
        send(new ControlFrames.Abort(ControlFrames.AbortCode.SOURCE_ERROR, "test over").write(writer));
        assertThrows(ExecutionException.class, destination::get);
        assertEquals(1, target.writes.get());
    }

    /** A target over an in-memory VM that counts every write to its memory. */
    private static final class RecordingTarget implements MigrationTarget {
        final InMemoryVm vm;
        final AtomicInteger writes = new AtomicInteger();
        volatile boolean closed;
        private final MemorySink sink;

        RecordingTarget(VmDescriptor d) {
            vm = InMemoryVm.builder().layout(d.memoryLayout()).vcpus(d.vcpuCount()).build();
            MemorySink inner = vm.memory();
            Consumer<Long> count = p -> writes.incrementAndGet();
            sink = new MemorySink() {
                @Override
                public MemoryLayout layout() {
                    return inner.layout();
                }

                @Override
                public void writePages(long firstPage, int pageCount, ByteBuffer source) {
                    count.accept(firstPage);
                    inner.writePages(firstPage, pageCount, source);
                }

                @Override
                public void zeroPages(long firstPage, int pageCount) {
                    count.accept(firstPage);
                    inner.zeroPages(firstPage, pageCount);
                }

                @Override
                public void readPages(long firstPage, int pageCount, ByteBuffer destination) {
                    inner.readPages(firstPage, pageCount, destination);
                }
            };
        }

        @Override
        public VmDescriptor descriptor() {
            return vm.descriptor();
        }

        @Override
        public MemorySink memory() {
            return sink;
        }

        @Override
        public VcpuControl vcpus() {
            return vm.vcpus();
        }

        @Override
        public List<MigratableDevice> devices() {
            return vm.devices();
        }

        @Override
        public void close() {
            closed = true;
            vm.close();
        }
    }
}
