package io.livemig.engine.internal.wire;

import io.livemig.api.ProtocolException.Kind;
import io.livemig.spi.DiskDescriptor;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * The frames that move disks (docs/protocol.md, section 7):
 * <pre>
 * source                                         destination
 * SETUP(..., disks: id, size, block size,
 *       generation, next generation)          ─►
 *                                             ◄─ DISK_PLAN(mode per disk)
 *                                             ◄─ DISK_DIGESTS* (a digest per block of a replica to compare)
 *                                             ◄─ READY
 * DISK_BLOCKS* (interleaved with PAGES)       ─►
 * DISK_FLUSH(sequence)                        ─►
 *                                             ◄─ DISK_FLUSHED(sequence)   (the blocks before it are durable)
 * ... at the switchover the same, VM paused ...
 * DISK_VERIFY* (after DIGESTS, with verify)   ─►
 * </pre>
 *
 * <p>A DISK_BLOCKS frame is {@code disk:u16 flags:u8 reserved:u8 firstBlock:u64 count:u32
 * digest:u64} and then, unless flag {@link #FLAG_ZERO} says the blocks are all zero, exactly
 * {@code count * blockSize} bytes whose xxHash64 (seed 0) is {@code digest}. The destination checks
 * the disk index, the range, the length and the digest before it writes a byte, so a malformed
 * frame leaves the disk as it was.
 */
public final class DiskFrames {

    private DiskFrames() {
    }

    /** DISK_BLOCKS header after the frame header: disk, flags, reserved, first block, count, digest. */
    public static final int BLOCKS_HEADER_BYTES = 2 + 1 + 1 + 8 + 4 + 8;
    /** DISK_BLOCKS flag: every block of the run is zero; no payload follows. */
    public static final int FLAG_ZERO = 1;
    /** Most blocks one zero run may cover. */
    public static final int MAX_ZERO_RUN_BLOCKS = 1 << 30;
    /** DISK_DIGESTS / DISK_VERIFY header after the frame header: disk, reserved, first block, count. */
    public static final int DIGESTS_HEADER_BYTES = 2 + 2 + 8 + 4;
    /** Most digests in one DISK_DIGESTS or DISK_VERIFY frame. */
    public static final int MAX_DIGESTS = 1 << 16;
    /**
     * Most digests a destination puts in one DISK_DIGESTS: 4096 (a 32 KiB frame), so that the frame
     * fits the 64 KiB a source reads return-path frames with.
     */
    public static final int RETURN_DIGESTS = 1 << 12;
    /** Most blocks of one disk that verification covers (2^27: 512 GiB of 4 KiB blocks); larger disks are not verified. */
    public static final int MAX_VERIFIED_BLOCKS = 1 << 27;
    /** Longest generation name. */
    public static final int MAX_GENERATION_CHARS = 64;

    /** How the destination will take a disk, as DISK_PLAN says. 0 is reserved. */
    public enum Mode {
        /** A new, empty disk: every non-zero block is sent. */
        EMPTY(1),
        /** A replica of the source's change log's generation: only the logged blocks are sent. */
        REPLICA(2),
        /** An unknown copy: its digests follow in DISK_DIGESTS, and only blocks that differ are sent. */
        DIGESTS(3);

        private final int code;

        Mode(int code) {
            this.code = code;
        }

        /** @return the wire code */
        public int code() {
            return code;
        }

        static Mode of(int code) throws WireException {
            for (Mode m : values()) {
                if (m.code == code) {
                    return m;
                }
            }
            throw new WireException(Kind.UNEXPECTED, "unknown disk mode " + code);
        }
    }

    /**
     * What SETUP says of a disk besides its descriptor: the source log's generations.
     *
     * @param generation     the generation the source's change log is paired with, "" for none
     * @param nextGeneration the generation the source pairs with the destination's copy if that copy
     *                       is not a replica of {@code generation}
     */
    public record DiskOffer(String generation, String nextGeneration) {
        /** @throws IllegalArgumentException for a malformed generation */
        public DiskOffer {
            checkGeneration(generation, true);
            checkGeneration(nextGeneration, false);
        }
    }

    /**
     * @throws IllegalArgumentException unless {@code g} is 1 to {@value #MAX_GENERATION_CHARS}
     *                                  printable ASCII characters (or empty, if allowed)
     */
    public static String checkGeneration(String g, boolean mayBeEmpty) {
        Objects.requireNonNull(g, "generation");
        if (g.isEmpty() && mayBeEmpty) {
            return g;
        }
        if (g.isEmpty() || g.length() > MAX_GENERATION_CHARS || !g.chars().allMatch(c -> c > 0x20 && c < 0x7F)) {
            throw new IllegalArgumentException("a generation is 1 to " + MAX_GENERATION_CHARS
                    + " printable ASCII characters, was '" + g + "'");
        }
        return g;
    }

    static void writeOffers(ByteBuffer b, List<DiskDescriptor> disks, List<DiskOffer> offers) {
        b.putInt(disks.size());
        for (int i = 0; i < disks.size(); i++) {
            DiskDescriptor d = disks.get(i);
            FrameWriter.putString(b, d.id());
            b.putLong(d.sizeBytes()).putInt(d.blockSizeBytes());
            FrameWriter.putString(b, offers.get(i).generation());
            FrameWriter.putString(b, offers.get(i).nextGeneration());
        }
    }

    /** Reads SETUP's disk list into {@code disks} and {@code offers}. */
    static void readOffers(Frame f, List<DiskDescriptor> disks, List<DiskOffer> offers) throws WireException {
        int count = f.u32In("diskCount", 0, io.livemig.spi.VmDescriptor.MAX_DISKS);
        for (int i = 0; i < count; i++) {
            String id = f.string("disk.id");
            long size = f.u64("disk.sizeBytes");
            int blockSize = f.u32In("disk.blockSizeBytes", 512, DiskDescriptor.MAX_BLOCK_SIZE_BYTES);
            String generation = f.string("disk.generation");
            String next = f.string("disk.nextGeneration");
            try {
                disks.add(new DiskDescriptor(id, size, blockSize));
                offers.add(new DiskOffer(generation, next));
            } catch (IllegalArgumentException e) {
                throw new WireException(Kind.INCOMPATIBLE, "bad disk in SETUP: " + e.getMessage());
            }
        }
    }

    /**
     * DISK_PLAN: how the destination takes each disk SETUP announced, in SETUP's order, and which
     * disks it can serve before every block arrived (post-copy).
     *
     * @param modes       one per disk
     * @param demandDisks bit {@code i} set if disk {@code i} can fetch missing blocks on demand
     */
    public record DiskPlan(List<Mode> modes, long demandDisks) implements Message {
        /** Copies the list. @throws IllegalArgumentException for a demand bit beyond the disks */
        public DiskPlan {
            modes = List.copyOf(modes);
            if (modes.size() < 64 && (demandDisks >>> modes.size()) != 0) {
                throw new IllegalArgumentException("demand bits beyond the " + modes.size() + " disks");
            }
        }

        /** A plan without demand fetching. */
        public DiskPlan(List<Mode> modes) {
            this(modes, 0);
        }

        /** @return whether disk {@code index} can fetch missing blocks on demand */
        public boolean demand(int index) {
            return (demandDisks >>> index & 1) != 0;
        }

        @Override
        public FrameType type() {
            return FrameType.DISK_PLAN;
        }

        @Override
        public ByteBuffer write(FrameWriter w) {
            ByteBuffer b = w.begin(FrameType.DISK_PLAN).putShort((short) modes.size());
            for (Mode m : modes) {
                b.put((byte) m.code());
            }
            b.putLong(demandDisks);
            return w.finish();
        }

        /** @throws WireException unless there is one known mode per announced disk */
        public static DiskPlan read(Frame f, Message.Context context) throws WireException {
            int count = f.u16("diskCount");
            if (count != context.disks().size()) {
                throw new WireException(Kind.INCONSISTENT_LENGTH, "DISK_PLAN for " + count + " disks, "
                        + context.disks().size() + " were announced");
            }
            List<Mode> modes = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                modes.add(Mode.of(f.u8("mode")));
            }
            long demand = f.u64("demandDisks");
            f.expectEnd();
            if (count < 64 && (demand >>> count) != 0) {
                throw new WireException(Kind.UNEXPECTED, "DISK_PLAN marks disks beyond the " + count + " announced");
            }
            return new DiskPlan(modes, demand);
        }
    }

    /**
     * DISK_DIGESTS (destination to source: a replica's blocks, to compare) or DISK_VERIFY (source
     * to destination: the source's blocks at the switchover, to verify): one xxHash64 per block.
     *
     * @param type       {@link FrameType#DISK_DIGESTS} or {@link FrameType#DISK_VERIFY}
     * @param disk       the disk's index in SETUP
     * @param firstBlock the first block
     * @param digests    one per block, 1 to {@link #MAX_DIGESTS}; the record owns the array
     */
    public record BlockDigests(FrameType type, int disk, long firstBlock, long[] digests) implements Message {
        /** @throws IllegalArgumentException for a wrong type or count */
        public BlockDigests {
            if (type != FrameType.DISK_DIGESTS && type != FrameType.DISK_VERIFY) {
                throw new IllegalArgumentException("not a digest frame type: " + type);
            }
            if (digests.length < 1 || digests.length > MAX_DIGESTS) {
                throw new IllegalArgumentException("1 to " + MAX_DIGESTS + " digests, got " + digests.length);
            }
        }

        @Override
        public ByteBuffer write(FrameWriter w) {
            ByteBuffer b = w.begin(type).putShort((short) disk).putShort((short) 0).putLong(firstBlock)
                    .putInt(digests.length);
            for (long d : digests) {
                b.putLong(d);
            }
            return w.finish();
        }

        /** @throws WireException for an unknown disk, a run outside it, or a wrong count */
        public static BlockDigests read(Frame f, Message.Context context) throws WireException {
            int index = diskAndReserved(f, context);
            DiskDescriptor d = context.disks().get(index);
            long first = f.u64("firstBlock");
            int count = f.u32In("count", 1, MAX_DIGESTS);
            checkRange(d, first, count, f.type());
            if (f.remaining() != count * 8) {
                throw new WireException(Kind.INCONSISTENT_LENGTH, f.type() + " announces " + count
                        + " digests in " + f.remaining() + " bytes");
            }
            long[] digests = new long[count];
            f.payload().asLongBuffer().get(digests);
            f.payload().position(f.payload().position() + count * 8);
            return new BlockDigests(f.type(), index, first, digests);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof BlockDigests x && x.type == type && x.disk == disk && x.firstBlock == firstBlock
                    && Arrays.equals(x.digests, digests);
        }

        @Override
        public int hashCode() {
            return Objects.hash(type, disk, firstBlock) * 31 + Arrays.hashCode(digests);
        }

        @Override
        public String toString() {
            return type + "[disk " + disk + ", blocks " + firstBlock + "+" + digests.length + "]";
        }
    }

    /**
     * DISK_BLOCKS, as received: a view over the frame, valid until the next receive.
     *
     * @param disk       the disk's index in SETUP
     * @param zero       whether the run is all zero (no payload)
     * @param firstBlock the first block
     * @param blockCount the run's length
     * @param payload    the blocks' bytes (empty for a zero run)
     */
    public record DiskBlocks(int disk, boolean zero, long firstBlock, int blockCount, ByteBuffer payload)
            implements Message {

        @Override
        public FrameType type() {
            return FrameType.DISK_BLOCKS;
        }

        /** Writes a zero run; data runs are written in place by the source, see {@link #beginData}. */
        @Override
        public ByteBuffer write(FrameWriter w) {
            ByteBuffer b = w.begin(FrameType.DISK_BLOCKS).putShort((short) disk).put((byte) (zero ? FLAG_ZERO : 0))
                    .put((byte) 0).putLong(firstBlock).putInt(blockCount);
            if (zero) {
                b.putLong(0);
            } else {
                b.putLong(BlockDigest.of(payload.duplicate()));
                b.put(payload.duplicate());
            }
            return w.finish();
        }

        /**
         * Starts a data run in place: the header, with the digest to be filled by
         * {@link #endData}; the caller reads the blocks into the returned buffer.
         *
         * @return the buffer, positioned where the blocks go
         */
        public static ByteBuffer beginData(FrameWriter w, int disk, long firstBlock, int blockCount) {
            return w.begin(FrameType.DISK_BLOCKS).putShort((short) disk).put((byte) 0).put((byte) 0)
                    .putLong(firstBlock).putInt(blockCount).putLong(0);
        }

        /** Fills the digest of a run begun with {@link #beginData} and finishes the frame. */
        public static ByteBuffer endData(FrameWriter w, ByteBuffer b, int payloadBytes) {
            int payloadStart = b.position() - payloadBytes;
            long digest = BlockDigest.of(b.duplicate().position(payloadStart).limit(b.position()));
            b.putLong(payloadStart - 8, digest);
            return w.finish();
        }

        /**
         * @throws WireException for an unknown disk or flag, a run outside the disk, a payload of the
         *                       wrong length, or a digest that does not match the payload
         */
        public static DiskBlocks read(Frame f, Message.Context context) throws WireException {
            int index = announcedDisk(f, context);
            DiskDescriptor d = context.disks().get(index);
            int flags = f.u8("flags");
            if ((flags & ~FLAG_ZERO) != 0 || f.u8("reserved") != 0) {
                throw new WireException(Kind.UNEXPECTED, "unknown DISK_BLOCKS flags " + flags);
            }
            boolean zero = (flags & FLAG_ZERO) != 0;
            long first = f.u64("firstBlock");
            int count = f.u32In("count", 1, MAX_ZERO_RUN_BLOCKS);
            long digest = f.u64("digest");
            checkRange(d, first, count, FrameType.DISK_BLOCKS);
            ByteBuffer payload = f.payload().slice();
            if (zero) {
                if (payload.remaining() != 0 || digest != 0) {
                    throw new WireException(Kind.INCONSISTENT_LENGTH, "a DISK_BLOCKS zero run with a payload or digest");
                }
            } else {
                if ((long) count * d.blockSizeBytes() != payload.remaining()) {
                    throw new WireException(Kind.INCONSISTENT_LENGTH, "DISK_BLOCKS announces " + count + " blocks of "
                            + d.blockSizeBytes() + " bytes of disk " + d.id() + " in " + payload.remaining()
                            + " bytes");
                }
                long actual = BlockDigest.of(payload.duplicate());
                if (actual != digest) {
                    throw new WireException(Kind.CORRUPT_FRAME, String.format("DISK_BLOCKS digest mismatch for blocks "
                            + "%d+%d of disk %s: computed %016x, frame says %016x", first, count, d.id(), actual,
                            digest));
                }
            }
            f.payload().position(f.payload().limit());
            return new DiskBlocks(index, zero, first, count, payload);
        }
    }

    /** @return the index of the announced disk the frame's {@code disk:u16} names */
    private static int announcedDisk(Frame f, Message.Context context) throws WireException {
        int index = f.u16("disk");
        if (index >= context.disks().size()) {
            throw new WireException(Kind.UNEXPECTED, f.type() + " for disk " + index + ", but "
                    + context.disks().size() + " disks were announced");
        }
        return index;
    }

    /** Reads the {@code disk:u16 reserved:u16} that DISK_DIGESTS, DISK_VERIFY, DISK_MISSING and BLOCK_REQUEST start with. */
    private static int diskAndReserved(Frame f, Message.Context context) throws WireException {
        int index = announcedDisk(f, context);
        if (f.u16("reserved") != 0) {
            throw new WireException(Kind.UNEXPECTED, f.type() + " reserved field is not zero");
        }
        return index;
    }

    private static void checkRange(DiskDescriptor d, long first, long count, FrameType type) throws WireException {
        if (first < 0 || first >= d.blockCount() || count > d.blockCount() - first) {
            throw new WireException(Kind.UNEXPECTED, type + " for blocks [" + first + ", +" + count + ") of disk "
                    + d.id() + ", which has " + d.blockCount() + " blocks");
        }
    }

    /**
     * DISK_SETUP: the opening of a disk sync without a VM (HELLO purpose DISK_SYNC), in place of
     * SETUP: the disks, as SETUP lists them, and whether DISK_VERIFY follows.
     *
     * @param verify whether the source sends a digest of every block after the sync
     * @param disks  the disks
     * @param offers the source logs' generations, one per disk
     */
    public record DiskSetup(boolean verify, List<DiskDescriptor> disks, List<DiskOffer> offers) implements Message {
        /** @throws IllegalArgumentException unless there are 1 to 64 disks with one offer each and unique ids */
        public DiskSetup {
            disks = List.copyOf(disks);
            offers = List.copyOf(offers);
            if (disks.isEmpty() || disks.size() > io.livemig.spi.VmDescriptor.MAX_DISKS || offers.size() != disks.size()
                    || disks.stream().map(DiskDescriptor::id).distinct().count() != disks.size()) {
                throw new IllegalArgumentException("1 to " + io.livemig.spi.VmDescriptor.MAX_DISKS
                        + " disks with unique ids and one offer each, got " + disks + " and " + offers.size() + " offers");
            }
        }

        @Override
        public FrameType type() {
            return FrameType.DISK_SETUP;
        }

        @Override
        public ByteBuffer write(FrameWriter w) {
            ByteBuffer b = w.begin(FrameType.DISK_SETUP).put((byte) (verify ? 1 : 0)).put((byte) 0).putShort((short) 0);
            writeOffers(b, disks, offers);
            return w.finish();
        }

        /** @throws WireException for an unknown flag, a bad disk or generation, or no disk */
        public static DiskSetup read(Frame f) throws WireException {
            int flags = f.u8("flags");
            if ((flags & ~1) != 0 || f.u8("reserved") != 0 || f.u16("reserved2") != 0) {
                throw new WireException(Kind.UNEXPECTED, "unknown DISK_SETUP flags " + flags);
            }
            List<DiskDescriptor> disks = new ArrayList<>();
            List<DiskOffer> offers = new ArrayList<>();
            readOffers(f, disks, offers);
            f.expectEnd();
            try {
                return new DiskSetup((flags & 1) != 0, disks, offers);
            } catch (IllegalArgumentException e) {
                throw new WireException(Kind.INCOMPATIBLE, "bad DISK_SETUP: " + e.getMessage());
            }
        }
    }

    /** Most bitmap words in one DISK_MISSING frame (64 Ki words: 4 Mi blocks). */
    public static final int MAX_MISSING_WORDS = 1 << 16;
    /** Most blocks in one BLOCK_REQUEST. */
    public static final int MAX_REQUEST_BLOCKS = 4096;

    /**
     * DISK_MISSING: a chunk of the bitmap of a disk's blocks the destination will receive after it
     * resumes (post-copy): bit {@code i} of word {@code w} is block {@code 64 * (firstWord + w) + i}.
     * Only for a disk DISK_PLAN marked for demand, in the stop-copy phase.
     *
     * @param disk      the disk's index in SETUP
     * @param firstWord the first word's index
     * @param words     1 to {@link #MAX_MISSING_WORDS} words; the record owns the array
     */
    public record DiskMissing(int disk, long firstWord, long[] words) implements Message {
        @Override
        public FrameType type() {
            return FrameType.DISK_MISSING;
        }

        @Override
        public ByteBuffer write(FrameWriter w) {
            FrameWriter.putLongs(w.begin(FrameType.DISK_MISSING).putShort((short) disk).putShort((short) 0)
                    .putLong(firstWord).putInt(words.length), words);
            return w.finish();
        }

        /** @throws WireException for an unknown disk, a word count out of range, or a bit beyond the disk */
        public static DiskMissing read(Frame f, Message.Context context) throws WireException {
            int index = diskAndReserved(f, context);
            DiskDescriptor d = context.disks().get(index);
            long first = f.u64("firstWord");
            int count = f.u32In("count", 1, MAX_MISSING_WORDS);
            long wordsInDisk = (d.blockCount() + 63) >>> 6;
            if (first < 0 || first >= wordsInDisk || count > wordsInDisk - first) {
                throw new WireException(Kind.UNEXPECTED, "DISK_MISSING words [" + first + ", +" + count + ") of disk "
                        + d.id() + ", which has " + wordsInDisk);
            }
            if (f.remaining() != count * 8) {
                throw new WireException(Kind.INCONSISTENT_LENGTH, "DISK_MISSING announces " + count + " words in "
                        + f.remaining() + " bytes");
            }
            long[] words = new long[count];
            f.u64s("word", words);
            long lastWord = first + count - 1;
            int tail = (int) (d.blockCount() & 63);
            if (lastWord == wordsInDisk - 1 && tail != 0 && (words[count - 1] >>> tail) != 0) {
                throw new WireException(Kind.UNEXPECTED, "DISK_MISSING marks blocks beyond the end of disk " + d.id());
            }
            return new DiskMissing(index, first, words);
        }

        /** Sets this chunk's blocks in {@code missing} (span: the disk's block count). */
        public void addTo(io.livemig.spi.PageSet missing) {
            missing.orWords((int) firstWord, words);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof DiskMissing m && m.disk == disk && m.firstWord == firstWord
                    && Arrays.equals(m.words, words);
        }

        @Override
        public int hashCode() {
            return Objects.hash(disk, firstWord) * 31 + Arrays.hashCode(words);
        }

        @Override
        public String toString() {
            return "DiskMissing[disk " + disk + ", words " + firstWord + "+" + words.length + "]";
        }
    }

    /**
     * BLOCK_REQUEST: blocks of a disk the destination's guest waits for (post-copy).
     *
     * @param disk   the disk's index in SETUP
     * @param blocks 1 to {@link #MAX_REQUEST_BLOCKS} block numbers; the record owns the array
     */
    public record BlockRequest(int disk, long[] blocks) implements Message {
        @Override
        public FrameType type() {
            return FrameType.BLOCK_REQUEST;
        }

        @Override
        public ByteBuffer write(FrameWriter w) {
            ByteBuffer b = w.begin(FrameType.BLOCK_REQUEST).putShort((short) disk).putShort((short) 0)
                    .putInt(blocks.length);
            for (long block : blocks) {
                b.putLong(block);
            }
            return w.finish();
        }

        /** @throws WireException for an unknown disk, a count out of range, or a block not on the disk */
        public static BlockRequest read(Frame f, Message.Context context) throws WireException {
            int index = diskAndReserved(f, context);
            DiskDescriptor d = context.disks().get(index);
            int count = f.u32In("count", 1, MAX_REQUEST_BLOCKS);
            if (f.remaining() != count * 8) {
                throw new WireException(Kind.INCONSISTENT_LENGTH, "BLOCK_REQUEST announces " + count + " blocks in "
                        + f.remaining() + " bytes");
            }
            long[] blocks = new long[count];
            for (int i = 0; i < count; i++) {
                blocks[i] = f.u64("block");
                if (blocks[i] < 0 || blocks[i] >= d.blockCount()) {
                    throw new WireException(Kind.UNEXPECTED, "BLOCK_REQUEST for block " + blocks[i] + " of disk "
                            + d.id() + ", which has " + d.blockCount());
                }
            }
            return new BlockRequest(index, blocks);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof BlockRequest r && r.disk == disk && Arrays.equals(r.blocks, blocks);
        }

        @Override
        public int hashCode() {
            return disk * 31 + Arrays.hashCode(blocks);
        }

        @Override
        public String toString() {
            return "BlockRequest[disk " + disk + ", " + blocks.length + " blocks]";
        }
    }

    /** DISK_FLUSH: make every block sent so far durable, then answer DISK_FLUSHED with the same sequence. */
    public record DiskFlush(long count) implements Message.Count {
        @Override
        public FrameType type() {
            return FrameType.DISK_FLUSH;
        }
    }

    /** DISK_FLUSHED: every block sent before the DISK_FLUSH of this sequence is durable. */
    public record DiskFlushed(long count) implements Message.Count {
        @Override
        public FrameType type() {
            return FrameType.DISK_FLUSHED;
        }
    }
}
