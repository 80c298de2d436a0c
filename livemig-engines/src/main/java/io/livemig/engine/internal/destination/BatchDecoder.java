package io.livemig.engine.internal.destination;

import io.livemig.api.ProtocolException.Kind;
import io.livemig.compress.CorruptPageException;
import io.livemig.compress.DedupCodec;
import io.livemig.compress.PageDecoder;
import io.livemig.compress.PageEncoding;
import io.livemig.engine.internal.wire.PageBatchReader;
import io.livemig.engine.internal.wire.WireException;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemorySink;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Decodes a checked PAGES batch into scratch before any of it is applied, so that a batch is all
 * or nothing (docs/protocol.md 2.2): every LZ4 and Zstd entry is decompressed, every XBZRLE delta
 * applied and every dedup reference resolved and its hash checked, each into the scratch slot of
 * its entry. XBZRLE and dedup build on what their base page will hold at that point of the
 * batch: the content of the last earlier entry of the batch for that page if there is one, else
 * guest memory's. If any entry fails, nothing has been written to guest memory. Zero and raw
 * entries need no decoding and take no scratch: for a batch of only those (the hot path of a
 * migration without compression) this class does nothing at all.
 *
 * <p>Scratch is one page per entry of the largest batch SETUP allows ({@code batchPages}, which
 * the destination holds to what fits in one frame as raw pages), made at the first batch that
 * needs it; after that nothing is allocated per batch or per page.
 *
 * <p>The receiving thread only.
 */
final class BatchDecoder {

    private static final long PLAIN = (1L << PageEncoding.ZERO.wireId()) | (1L << PageEncoding.RAW.wireId());

    private final MemorySink sink;
    private final MemoryLayout layout;
    private final int pageSize;
    private final int maxEntries;
    private final PageDecoder decoder;
    private final PageBatchReader.Sink decodeEntry = this::decodeEntry;
    /** One page per entry; made with the first batch that needs decoding, like the arrays below. */
    private ByteBuffer[] slots;
    private long[] pages;
    private PageEncoding[] encodings;
    private int[] payloadAt;
    private LastWriters lastWriters;
    /** The payload of the batch being decoded: entries' offsets index into it. */
    private ByteBuffer payload;
    private boolean postcopy;
    private int entry;

    /**
     * @param sink       the target's memory, read for the base of XBZRLE and dedup entries
     * @param layout     the announced layout
     * @param maxEntries the most entries of a batch (SETUP's {@code batchPages})
     * @param agreed     the encodings agreed in the handshake: their codecs are made now
     */
    BatchDecoder(MemorySink sink, MemoryLayout layout, int maxEntries, Set<PageEncoding> agreed) {
        this.sink = sink;
        this.layout = layout;
        this.pageSize = layout.pageSizeBytes();
        this.maxEntries = maxEntries;
        this.decoder = new PageDecoder(pageSize, agreed);
    }

    /**
     * Decodes every entry of the batch {@code reader} checked last that needs it, in order.
     *
     * @param reader       the reader that checked the batch
     * @param framePayload the batch's frame payload, whose indices the entries' payloads share
     * @param postcopy     whether pages are installed by post-copy, where XBZRLE and dedup are refused
     * @return whether anything was decoded: if so, {@link #page} holds the content of each
     *         entry that is neither zero nor raw
     * @throws WireException if an entry does not decode or refers to a page that is not RAM;
     *                       nothing was written to guest memory
     */
    boolean decode(PageBatchReader reader, ByteBuffer framePayload, boolean postcopy) throws WireException {
        if ((reader.encodings() & ~PLAIN) == 0) {
            return false;
        }
        if (slots == null) {
            allocate();
        }
        this.payload = framePayload;
        this.postcopy = postcopy;
        entry = 0;
        lastWriters.reset();
        reader.forEach(decodeEntry);
        return true;
    }

    /**
     * @param index an entry of the batch decoded last that is neither zero nor raw
     * @return its content: a direct buffer of one page, positioned at 0 with the page remaining
     */
    ByteBuffer page(int index) {
        return slots[index].clear();
    }

    private void allocate() {
        ByteBuffer scratch = ByteBuffer.allocateDirect(Math.multiplyExact(maxEntries, pageSize))
                .order(ByteOrder.nativeOrder());
        slots = new ByteBuffer[maxEntries];
        for (int i = 0; i < maxEntries; i++) {
            slots[i] = scratch.slice(i * pageSize, pageSize).order(ByteOrder.nativeOrder());
        }
        pages = new long[maxEntries];
        encodings = new PageEncoding[maxEntries];
        payloadAt = new int[maxEntries];
        lastWriters = new LastWriters(maxEntries);
    }

    private void decodeEntry(long page, PageEncoding encoding, ByteBuffer entryPayload) throws WireException {
        int i = entry++;
        pages[i] = page;
        encodings[i] = encoding;
        payloadAt[i] = entryPayload.position();
        if (encoding == PageEncoding.ZERO || encoding == PageEncoding.RAW) {
            return;
        }
        ByteBuffer slot = slots[i].clear();
        try {
            switch (encoding) {
                case LZ4, ZSTD -> decoder.decode(page, encoding, entryPayload, slot);
                case XBZRLE -> {
                    refuseInPostcopy(page, encoding);
                    loadBase(i, page, slot);
                    decoder.decode(page, encoding, entryPayload, slot);
                }
                case DEDUP -> {
                    refuseInPostcopy(page, encoding);
                    // The reader checked the length; the page, read as a u64, is checked here.
                    long referenced = DedupCodec.referencedPage(entryPayload, entryPayload.position());
                    if (!layout.contains(referenced)) {
                        throw new WireException(Kind.PAGE_OUT_OF_RANGE, "entry " + i + ": dedup reference from page "
                                + page + " to page " + Long.toUnsignedString(referenced) + ", which is not RAM of the "
                                + "announced layout (" + layout.pageCount() + " pages, span " + layout.pageSpan() + ")");
                    }
                    loadBase(i, referenced, slot);
                    decoder.decode(page, encoding, entryPayload, slot);
                }
                case ZERO, RAW -> throw new IllegalStateException("not decoded: " + encoding);
            }
        } catch (CorruptPageException e) {
            throw new WireException(Kind.INCONSISTENT_LENGTH, "entry " + i + ": undecodable page: " + e.getMessage());
        }
    }

    private void refuseInPostcopy(long page, PageEncoding encoding) {
        if (postcopy) {
            throw new CorruptPageException(page, encoding, encoding.reportName()
                    + " in post-copy: the destination may not hold the content it builds on");
        }
    }

    /** Puts into {@code slot} what {@code page} holds when entry {@code i} is applied. */
    private void loadBase(int i, long page, ByteBuffer slot) {
        int writer = lastWriters.lastBefore(i, page, pages);
        if (writer < 0) {
            sink.readPages(page, 1, slot);
            slot.clear();
            return;
        }
        switch (encodings[writer]) {
            case ZERO -> {
                for (int at = 0; at < pageSize; at += Long.BYTES) {
                    slot.putLong(at, 0);
                }
            }
            case RAW -> slot.put(0, payload, payloadAt[writer], pageSize);
            case XBZRLE, LZ4, ZSTD, DEDUP -> slot.put(0, slots[writer], 0, pageSize);
        }
    }

    /**
     * Which entry of the batch wrote a page last: open addressing over a table of at least twice
     * the batch size, emptied for each batch by a generation stamp instead of a fill. Filled
     * lazily, up to the entry that asks, so a batch without XBZRLE or dedup never touches it.
     * Pages are hashed with a random seed, so that a source cannot choose pages that collide.
     */
    private static final class LastWriters {
        private final long[] keys;
        private final int[] entries;
        private final int[] stamps;
        private final int mask;
        private final long seed = ThreadLocalRandom.current().nextLong();
        private int generation;
        /** Entries {@code [0, indexed)} of the current batch are in the table. */
        private int indexed;

        LastWriters(int maxEntries) {
            int capacity = Integer.highestOneBit(Math.max(1, 2 * maxEntries - 1)) << 1;
            keys = new long[capacity];
            entries = new int[capacity];
            stamps = new int[capacity];
            mask = capacity - 1;
        }

        void reset() {
            if (++generation == 0) {
                Arrays.fill(stamps, 0);
                generation = 1;
            }
            indexed = 0;
        }

        /** @return the last entry before {@code i} that wrote {@code page}, or -1 */
        int lastBefore(int i, long page, long[] pages) {
            for (; indexed < i; indexed++) {
                put(pages[indexed], indexed);
            }
            for (int s = slot(page); stamps[s] == generation; s = (s + 1) & mask) {
                if (keys[s] == page) {
                    return entries[s];
                }
            }
            return -1;
        }

        private void put(long page, int entry) {
            int s = slot(page);
            while (stamps[s] == generation && keys[s] != page) {
                s = (s + 1) & mask;
            }
            stamps[s] = generation;
            keys[s] = page;
            entries[s] = entry;
        }

        /** MurmurHash3's 64-bit finaliser over the seeded page. */
        private int slot(long page) {
            long h = page ^ seed;
            h ^= h >>> 33;
            h *= 0xff51afd7ed558ccdL;
            h ^= h >>> 33;
            h *= 0xc4ceb9fe1a85ec53L;
            h ^= h >>> 33;
            return (int) h & mask;
        }
    }
}
