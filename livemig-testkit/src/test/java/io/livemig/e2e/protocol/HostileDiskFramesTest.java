package io.livemig.e2e.protocol;

import io.livemig.api.DiskSyncReport;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.ProtocolException;
import io.livemig.api.ProtocolException.Kind;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.e2e.ObservedTarget;
import io.livemig.engine.DiskSync;
import io.livemig.engine.internal.wire.BlockDigest;
import io.livemig.engine.internal.wire.DiskFrames;
import io.livemig.engine.internal.wire.Frame;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.FrameWriter;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.Message;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryDisk;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.spi.DiskDescriptor;
import io.livemig.spi.VmDescriptor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A hostile source sends one good DISK_BLOCKS frame, then a malformed one: the destination refuses
 * the malformed frame with a specific {@link ProtocolException}, and its disk holds exactly what it
 * held after the good frame, in a migration (the replica a target was given) and in a disk sync
 * without a VM.
 */
class HostileDiskFramesTest {

    private static final int BLOCK = 4096;
    private static final long BLOCKS = 64;

    /** What is wrong with the second frame, and the kind of error it must raise. */
    enum Defect {
        BLOCK_OUT_OF_RANGE(Kind.UNEXPECTED),
        RUN_PAST_THE_END(Kind.UNEXPECTED),
        WRONG_SIZE(Kind.INCONSISTENT_LENGTH),
        BAD_DIGEST(Kind.CORRUPT_FRAME),
        UNKNOWN_DISK(Kind.UNEXPECTED),
        ZERO_RUN_WITH_PAYLOAD(Kind.INCONSISTENT_LENGTH);

        final Kind kind;

        Defect(Kind kind) {
            this.kind = kind;
        }

        /** The malformed frame: it would write {@code content} to the disk's blocks 10.. if taken. */
        ByteBuffer frame(FrameWriter w, byte[] content) {
            long first = switch (this) {
                case BLOCK_OUT_OF_RANGE -> BLOCKS;
                case RUN_PAST_THE_END -> BLOCKS - 1;
                default -> 10;
            };
            int count = this == RUN_PAST_THE_END ? 2 : 1;
            byte[] payload = this == WRONG_SIZE ? Arrays.copyOf(content, BLOCK - 512)
                    : count == 2 ? concat(content, content) : content;
            long digest = BlockDigest.of(ByteBuffer.wrap(payload)) + (this == BAD_DIGEST ? 1 : 0);
            int flags = this == ZERO_RUN_WITH_PAYLOAD ? DiskFrames.FLAG_ZERO : 0;
            ByteBuffer b = w.begin(FrameType.DISK_BLOCKS).putShort((short) (this == UNKNOWN_DISK ? 1 : 0))
                    .put((byte) flags).put((byte) 0).putLong(first).putInt(count).putLong(digest);
            b.put(payload);
            return w.finish();
        }
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] both = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, both, a.length, b.length);
        return both;
    }

    private static byte[] filled(int value) {
        byte[] bytes = new byte[BLOCK];
        Arrays.fill(bytes, (byte) value);
        return bytes;
    }

    /** A replica with blocks 0..15 holding their number, the rest zero. */
    private static InMemoryDisk replica() {
        InMemoryDisk disk = new InMemoryDisk("vda", BLOCKS * BLOCK, BLOCK);
        for (int b = 0; b < 16; b++) {
            disk.write(b, filled(b + 1));
        }
        return disk;
    }

    private static ByteBuffer goodFrame(FrameWriter w) {
        return new DiskFrames.DiskBlocks(0, false, 3, 1, ByteBuffer.wrap(filled(0x33))).write(w);
    }

    @ParameterizedTest
    @EnumSource(Defect.class)
    void aMalformedBlockFrameInAMigrationLeavesTheTargetsDiskAsItWasBeforeIt(Defect defect) throws Exception {
        InMemoryDisk disk = replica();
        VmDescriptor announced;
        try (InMemoryVm shape = InMemoryVm.builder().memoryBytes(1L << 20).disk(new InMemoryDisk("vda",
                BLOCKS * BLOCK, BLOCK)).build()) {
            announced = shape.descriptor();
        }
        try (HostileSource source = new HostileSource(MigrationOptions.builder().build(),
                d -> ObservedTarget.withDisks(d, disk))) {
            source.hello(HostileSource.PLAIN, Wire.DEFAULT_MAX_FRAME_BYTES);
            source.send(new HandshakeFrames.Setup(Strategy.PRECOPY, false, false, announced, 16,
                    List.of(new DiskFrames.DiskOffer("", "next-1"))));
            source.expect(FrameType.DISK_PLAN);
            // The replica has no generation and is not new: its digests come, every block once.
            long digested = 0;
            while (digested < BLOCKS) {
                Frame f = source.expect(FrameType.DISK_DIGESTS);
                digested += ((DiskFrames.BlockDigests) Message.read(f, new Message.Context(null, 0,
                        announced.disks()))).digests().length;
            }
            source.expect(FrameType.READY);
            FrameWriter w = new FrameWriter(Wire.DEFAULT_MAX_FRAME_BYTES);
            source.send(goodFrame(w));
            source.send(new DiskFrames.DiskFlush(1));
            source.expect(FrameType.DISK_FLUSHED);
            InMemoryDisk afterGoodFrame = disk.copy();
            assertTrue(Arrays.equals(filled(0x33), disk.read(3)), "the good frame was written");

            source.send(defect.frame(w, filled(0x77)));

            ProtocolException refused = source.refused();
            assertEquals(defect.kind, refused.kind(), refused.getMessage());
            assertTrue(disk.contentEquals(afterGoodFrame), "the disk is as it was after the last good frame");
        }
    }

    @ParameterizedTest
    @EnumSource(Defect.class)
    void aMalformedBlockFrameInADiskSyncLeavesTheDiskAsItWasBeforeIt(Defect defect) throws Exception {
        InMemoryDisk disk = replica();
        InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system(),
                Wire.DEFAULT_MAX_FRAME_BYTES + 4096, Duration.ofSeconds(10));
        CompletableFuture<DiskSyncReport> receiving = CompletableFuture.supplyAsync(() -> {
            try {
                return DiskSync.receive(disk, pair.destination(), MigrationOptions.builder().build());
            } catch (MigrationException e) {
                throw new CompletionException(e);
            }
        });
        FrameWriter w = new FrameWriter(Wire.DEFAULT_MAX_FRAME_BYTES);
        ByteBuffer in = ByteBuffer.allocate(Wire.DEFAULT_MAX_FRAME_BYTES + 4096);
        CRC32C crc = new CRC32C();
        List<DiskDescriptor> disks = List.of(disk.descriptor());
        try {
            pair.source().send(w.write(new HandshakeFrames.Hello(Wire.VERSION, Wire.VERSION,
                    Wire.DEFAULT_MAX_FRAME_BYTES, HostileSource.PLAIN, HandshakeFrames.Purpose.DISK_SYNC, false,
                    new byte[HandshakeFrames.SESSION_ID_BYTES], new byte[HandshakeFrames.NONCE_BYTES])));
            assertEquals(FrameType.HELLO_ACK, next(pair, in, crc).type());
            pair.source().send(w.write(new DiskFrames.DiskSetup(false, disks,
                    List.of(new DiskFrames.DiskOffer("", "next-1")))));
            assertEquals(FrameType.DISK_PLAN, next(pair, in, crc).type());
            FrameType t;
            while ((t = next(pair, in, crc).type()) == FrameType.DISK_DIGESTS) {
                // the replica's digests
            }
            assertEquals(FrameType.READY, t);
            pair.source().send(goodFrame(w));
            pair.source().send(w.write(new DiskFrames.DiskFlush(1)));
            assertEquals(FrameType.DISK_FLUSHED, next(pair, in, crc).type());
            InMemoryDisk afterGoodFrame = disk.copy();

            pair.source().send(defect.frame(w, filled(0x77)));

            ExecutionException e = assertThrows(ExecutionException.class, () -> receiving.get(20, TimeUnit.SECONDS));
            ProtocolException refused = assertInstanceOf(ProtocolException.class, e.getCause());
            assertEquals(defect.kind, refused.kind(), refused.getMessage());
            assertEquals(FrameType.ABORT, next(pair, in, crc).type(), "the source is told why");
            assertTrue(disk.contentEquals(afterGoodFrame), "the disk is as it was after the last good frame");
        } finally {
            pair.source().close();
            pair.destination().close();
        }
    }

    /** @return the next return frame that is not a KEEPALIVE */
    private static Frame next(InMemoryChannel.Pair pair, ByteBuffer in, CRC32C crc) throws Exception {
        while (true) {
            in.clear();
            if (pair.source().receive(in) < 0) {
                throw new AssertionError("the destination closed the channel");
            }
            in.flip();
            Frame f = Frame.open(in, crc);
            if (f.type() != FrameType.KEEPALIVE) {
                return f;
            }
        }
    }
}
