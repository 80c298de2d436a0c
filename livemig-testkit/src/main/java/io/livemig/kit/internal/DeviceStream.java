package io.livemig.kit.internal;

import java.nio.ByteBuffer;

/**
 * The data stream of the kit's stateful device: what its saving states read out and its
 * {@code RESUMING} state writes in. Self-describing records, big-endian:
 *
 * <pre>
 * stream = header chunk* end
 * header = u32 'LMDH'  u32 chunkBytes  u64 stateBytes                        (16 bytes)
 * chunk  = u32 'LMDC'  u32 length      u64 offset      length bytes          (16 + length)
 * end    = u32 'LMDE'  u32 0           u64 chunkRecords u64 fingerprint
 *          u64 writeBytesPerSecond u64 rng u64 writesDone
 *          u64 dmaBytesPerSecond u64 dmaFirstPage u64 dmaPageCount u64 dmaRng u64 dmaWritesDone (88 bytes)
 * </pre>
 *
 * A chunk record carries one whole chunk ({@code offset} a multiple of the chunk size, inside
 * the state, {@code length} the chunk size); a chunk may come several times (written again
 * during pre-copy), the last one wins. The end record counts the chunk records before it and
 * carries the source's content fingerprint ({@link DeviceChunks#fingerprint()}) and the device's
 * activity, which the destination continues.
 *
 * <p>{@link Parser} reassembles records from writes of any segmentation. Not thread-safe.
 */
public final class DeviceStream {

    /** Tag of the header record. */
    public static final int HEADER = 0x4C4D4448;
    /** Tag of a chunk record. */
    public static final int CHUNK = 0x4C4D4443;
    /** Tag of the end record. */
    public static final int END = 0x4C4D4445;
    /** Bytes of the header record, and of every record's prefix. */
    public static final int HEADER_BYTES = 16;
    /** Bytes of the end record. */
    public static final int END_BYTES = 88;

    private DeviceStream() {
    }

    /**
     * The device's activity, carried by the end record so the destination continues it.
     *
     * @param writeBytesPerSecond its chunk writes, bytes per second
     * @param rng                 the chunk writes' generator state (never 0)
     * @param writesDone          chunk writes so far, across migrations
     * @param dmaBytesPerSecond   its guest-memory writes, bytes per second
     * @param dmaFirstPage        the first page it writes
     * @param dmaPageCount        the pages it writes, from the first
     * @param dmaRng              the guest writes' generator state (never 0)
     * @param dmaWritesDone       guest page writes so far, across migrations
     */
    public record Activity(long writeBytesPerSecond, long rng, long writesDone, long dmaBytesPerSecond,
                           long dmaFirstPage, long dmaPageCount, long dmaRng, long dmaWritesDone) {
        /**
         * @throws IllegalArgumentException for negative figures or a zero generator
         */
        public Activity {
            if (writeBytesPerSecond < 0 || writesDone < 0 || dmaBytesPerSecond < 0 || dmaFirstPage < 0
                    || dmaPageCount < 0 || dmaWritesDone < 0 || rng == 0 || dmaRng == 0
                    || (dmaBytesPerSecond > 0 && dmaPageCount == 0)) {
                throw new IllegalArgumentException("malformed device activity " + this);
            }
        }
    }

    /**
     * @param chunkBytes the chunk size
     * @param stateBytes the state size
     * @return the header record, ready to read
     */
    public static ByteBuffer header(int chunkBytes, long stateBytes) {
        return ByteBuffer.allocate(HEADER_BYTES).putInt(HEADER).putInt(chunkBytes).putLong(stateBytes).flip();
    }

    /**
     * @param chunks the content
     * @param chunk  the chunk to carry
     * @param into   a buffer of at least {@code 16 + chunkBytes}, cleared; filled and flipped
     */
    public static void chunk(DeviceChunks chunks, int chunk, ByteBuffer into) {
        into.clear();
        into.putInt(CHUNK).putInt(chunks.chunkBytes()).putLong((long) chunk * chunks.chunkBytes());
        chunks.copyTo(chunk, into);
        into.flip();
    }

    /**
     * @param chunkRecords the chunk records sent before it in this stream
     * @param fingerprint  the content's fingerprint
     * @param a            the activity
     * @return the end record, ready to read
     */
    public static ByteBuffer end(long chunkRecords, long fingerprint, Activity a) {
        return ByteBuffer.allocate(END_BYTES).putInt(END).putInt(0).putLong(chunkRecords).putLong(fingerprint)
                .putLong(a.writeBytesPerSecond()).putLong(a.rng()).putLong(a.writesDone())
                .putLong(a.dmaBytesPerSecond()).putLong(a.dmaFirstPage()).putLong(a.dmaPageCount())
                .putLong(a.dmaRng()).putLong(a.dmaWritesDone()).flip();
    }

    /** What a parsed stream delivers, record by record. */
    public interface Sink {
        /**
         * A chunk record, checked against the shape.
         *
         * @param chunk the chunk index
         * @param bytes the chunk's bytes, from the position; valid during the call only
         */
        void chunk(int chunk, ByteBuffer bytes);

        /**
         * The end record.
         *
         * @param chunkRecords the chunk records the source counted
         * @param fingerprint  the source's content fingerprint
         * @param activity     the source's activity
         */
        void end(long chunkRecords, long fingerprint, Activity activity);
    }

    /**
     * Reassembles the stream written into a resuming device and checks every record's framing.
     * Not thread-safe.
     */
    public static final class Parser {
        private final int chunkBytes;
        private final long stateBytes;
        private final Sink sink;
        private final ByteBuffer record;
        private boolean headerSeen;
        private boolean endSeen;
        private long chunkRecords;

        /**
         * @param chunkBytes the resuming device's chunk size
         * @param stateBytes the resuming device's state size
         * @param sink       where records go
         */
        public Parser(int chunkBytes, long stateBytes, Sink sink) {
            this.chunkBytes = chunkBytes;
            this.stateBytes = stateBytes;
            this.sink = sink;
            this.record = ByteBuffer.allocate(Math.max(END_BYTES, HEADER_BYTES + chunkBytes));
        }

        /** @return whether the end record arrived */
        public boolean ended() {
            return endSeen;
        }

        /** @return the chunk records applied so far */
        public long chunkRecords() {
            return chunkRecords;
        }

        /** @return whether a record is partly received */
        public boolean midRecord() {
            return record.position() > 0;
        }

        /**
         * Consumes every byte of {@code in}, delivering each record completed.
         *
         * @param in the next bytes of the stream
         * @throws IllegalArgumentException at the first malformed record (it is not delivered;
         *                                  those before it were)
         */
        public void feed(ByteBuffer in) {
            while (in.hasRemaining()) {
                if (endSeen) {
                    throw new IllegalArgumentException(in.remaining() + " bytes after the end record");
                }
                int want = record.position() < HEADER_BYTES ? HEADER_BYTES : recordBytes();
                int n = Math.min(want - record.position(), in.remaining());
                record.put(record.position(), in, in.position(), n);
                record.position(record.position() + n);
                in.position(in.position() + n);
                if (record.position() == HEADER_BYTES) {
                    want = recordBytes();
                }
                if (record.position() == want) {
                    deliver();
                    record.clear();
                }
            }
        }

        /** The whole record's size, from its prefix; checks the prefix. */
        private int recordBytes() {
            int tag = record.getInt(0);
            int length = record.getInt(4);
            long value = record.getLong(8);
            return switch (tag) {
                case HEADER -> {
                    if (headerSeen) {
                        throw new IllegalArgumentException("a second header record");
                    }
                    if (length != chunkBytes || value != stateBytes) {
                        throw new IllegalArgumentException("the stream is for a device of " + value + " bytes in chunks of "
                                + length + ", this one has " + stateBytes + " in chunks of " + chunkBytes);
                    }
                    yield HEADER_BYTES;
                }
                case CHUNK -> {
                    requireHeader();
                    if (length != chunkBytes || value < 0 || value % chunkBytes != 0 || value >= stateBytes) {
                        throw new IllegalArgumentException("chunk record at offset " + value + " of " + length
                                + " bytes: not one whole chunk of " + chunkBytes + " in a state of " + stateBytes);
                    }
                    yield HEADER_BYTES + chunkBytes;
                }
                case END -> {
                    requireHeader();
                    if (length != 0) {
                        throw new IllegalArgumentException("end record with reserved word " + length);
                    }
                    yield END_BYTES;
                }
                default -> throw new IllegalArgumentException("unknown record tag 0x" + Integer.toHexString(tag));
            };
        }

        private void requireHeader() {
            if (!headerSeen) {
                throw new IllegalArgumentException("a record before the header");
            }
        }

        private void deliver() {
            switch (record.getInt(0)) {
                case HEADER -> headerSeen = true;
                case CHUNK -> {
                    chunkRecords++;
                    sink.chunk((int) (record.getLong(8) / chunkBytes), record.slice(HEADER_BYTES, chunkBytes));
                }
                default -> {
                    ByteBuffer b = record.duplicate().position(8);
                    long count = b.getLong();
                    long fingerprint = b.getLong();
                    Activity a = new Activity(b.getLong(), b.getLong(), b.getLong(), b.getLong(), b.getLong(),
                            b.getLong(), b.getLong(), b.getLong());
                    endSeen = true;
                    sink.end(count, fingerprint, a);
                }
            }
        }
    }
}
