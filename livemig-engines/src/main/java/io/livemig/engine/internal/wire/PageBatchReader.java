package io.livemig.engine.internal.wire;

import io.livemig.api.ProtocolException.Kind;
import io.livemig.compress.PageEncoding;
import io.livemig.spi.MemoryLayout;

import java.nio.ByteBuffer;

/**
 * Checks a PAGES frame completely before any of it is applied: the entry count against the
 * bytes present and the batch size announced in SETUP, every page number against the announced
 * layout, every encoding against the agreed set, every payload length against its encoding and
 * the page size, and the payloads' total against the frame's size. Only a batch that passes all
 * of this reaches a sink, so a malformed frame never writes a byte, inside the layout or out of it.
 *
 * <p>A receiver that must also know that every entry decodes before it applies any (docs/protocol.md
 * 2.2: a batch is all or nothing) calls {@link #check} once, then {@link #forEach} twice: once
 * to decode into scratch, once to apply. {@link #read} does both steps for a sink that cannot
 * fail.
 *
 * <p>Layout of the payload (docs/protocol.md): {@code round u32, count u32} then {@code count}
 * entries of {@code page u64, encoding u8, length u32, payload[length]}.
 *
 * <p>Not thread-safe: it remembers the batch it checked last.
 */
public final class PageBatchReader {

    /** Receives the entries of a checked batch, in order. */
    public interface Sink {
        /**
         * @param page     a RAM page of the layout
         * @param encoding the entry's encoding
         * @param payload  exactly the entry's payload (position..limit), a view into the frame
         * @throws WireException if the sink refuses the entry (the walk stops there)
         */
        void page(long page, PageEncoding encoding, ByteBuffer payload) throws WireException;
    }

    private final MemoryLayout layout;
    private final int pageSize;
    private final long allowedEncodings;
    private final int maxEntries;
    /** The payload of the batch checked last, positioned at its start; null before the first. */
    private ByteBuffer payload;
    private ByteBuffer view;
    private int entriesStart;
    private int count;
    private long encodings;

    /**
     * A reader that takes batches of up to {@link Wire#MAX_BATCH_PAGES} entries.
     *
     * @param layout           the layout announced in SETUP
     * @param allowedEncodings bit {@code n} set if the encoding with wire id {@code n} was agreed
     */
    public PageBatchReader(MemoryLayout layout, long allowedEncodings) {
        this(layout, allowedEncodings, Wire.MAX_BATCH_PAGES);
    }

    /**
     * @param layout           the layout announced in SETUP
     * @param allowedEncodings bit {@code n} set if the encoding with wire id {@code n} was agreed
     * @param maxEntries       the most entries a batch may hold: SETUP's {@code batchPages}
     */
    public PageBatchReader(MemoryLayout layout, long allowedEncodings, int maxEntries) {
        if (maxEntries < 1) {
            throw new IllegalArgumentException("maxEntries must be positive, was " + maxEntries);
        }
        this.layout = layout;
        this.pageSize = layout.pageSizeBytes();
        this.allowedEncodings = allowedEncodings;
        this.maxEntries = maxEntries;
    }

    /**
     * Checks the whole batch, then hands every entry to {@code sink}.
     *
     * @param frame a PAGES frame, positioned at its payload's start
     * @param sink  where the checked entries go
     * @return the batch's round number
     * @throws WireException if anything is malformed (nothing was passed to {@code sink} then), or
     *                       if the sink refused an entry
     */
    public int read(Frame frame, Sink sink) throws WireException {
        int round = check(frame);
        forEach(sink);
        return round;
    }

    /**
     * Checks the whole batch and remembers it for {@link #forEach}; touches nothing else.
     *
     * @param frame a PAGES frame, positioned at its payload's start; left so positioned
     * @return the batch's round number
     * @throws WireException if anything is malformed
     */
    public int check(Frame frame) throws WireException {
        payload = null;
        ByteBuffer p = frame.payload();
        int start = p.position();
        long round = frame.u32("round");
        long entries = frame.u32("count");
        if (entries == 0) {
            throw new WireException(Kind.INCONSISTENT_LENGTH, "PAGES frame with no entry");
        }
        if (entries > (long) p.remaining() / Wire.PAGE_ENTRY_BYTES) {
            throw new WireException(Kind.INCONSISTENT_LENGTH, "PAGES frame announces " + entries
                    + " entries but holds " + p.remaining() + " bytes");
        }
        if (entries > maxEntries) {
            throw new WireException(Kind.INCONSISTENT_LENGTH, "PAGES frame of " + entries
                    + " entries, but SETUP announced batches of at most " + maxEntries + " (batchPages)");
        }
        int firstEntry = p.position();
        long seen = 0;
        for (long i = 0; i < entries; i++) {
            long page = frame.u64("page");
            int code = frame.u8("encoding");
            long length = frame.u32("length");
            PageEncoding encoding = PageEncoding.fromWireId(code);
            if (encoding == null || (allowedEncodings & (1L << code)) == 0) {
                throw new WireException(Kind.UNEXPECTED, "entry " + i + ": encoding " + code
                        + (encoding == null ? " is unknown" : " (" + encoding.reportName() + ") was not agreed"));
            }
            if (!layout.contains(page)) {
                throw new WireException(Kind.PAGE_OUT_OF_RANGE, "entry " + i + ": page " + page
                        + " is outside the announced layout (" + layout.pageCount() + " pages, span "
                        + layout.pageSpan() + ")");
            }
            checkLength(i, encoding, length);
            if (length > p.remaining()) {
                throw new WireException(Kind.TRUNCATED, "entry " + i + ": payload of " + length + " bytes but only "
                        + p.remaining() + " left in the frame");
            }
            seen |= 1L << code;
            p.position(p.position() + (int) length);
        }
        frame.expectEnd();
        p.position(start);
        payload = p;
        view = p.duplicate();
        entriesStart = firstEntry;
        count = (int) entries;
        encodings = seen;
        return (int) round;
    }

    /** @return the number of entries of the batch checked last */
    public int count() {
        return count;
    }

    /** @return bit {@code n} set if an entry of the batch checked last has the encoding of wire id {@code n} */
    public long encodings() {
        return encodings;
    }

    /**
     * Hands every entry of the batch {@link #check} accepted last to {@code sink}, in order. May be
     * called again for the same batch, as long as its frame is still valid.
     *
     * @throws WireException        if the sink refused an entry
     * @throws IllegalStateException if no batch passed {@link #check} since the last failure
     */
    public void forEach(Sink sink) throws WireException {
        if (payload == null) {
            throw new IllegalStateException("no checked batch");
        }
        int at = entriesStart;
        for (int i = 0; i < count; i++) {
            long page = payload.getLong(at);
            PageEncoding encoding = PageEncoding.fromWireId(payload.get(at + 8) & 0xFF);
            int length = payload.getInt(at + 9);
            at += Wire.PAGE_ENTRY_BYTES;
            view.limit(at + length).position(at);
            sink.page(page, encoding, view);
            at += length;
        }
    }

    private void checkLength(long i, PageEncoding encoding, long length) throws WireException {
        if (!encoding.acceptsPayloadLength(length, pageSize)) {
            throw new WireException(Kind.INCONSISTENT_LENGTH, "entry " + i + ": " + encoding.reportName()
                    + " payload of " + length + " bytes is impossible for " + pageSize + "-byte pages");
        }
    }
}
