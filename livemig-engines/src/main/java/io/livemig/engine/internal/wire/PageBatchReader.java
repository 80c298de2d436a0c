package io.livemig.engine.internal.wire;

import io.livemig.api.ProtocolException.Kind;
import io.livemig.compress.PageEncoding;
import io.livemig.spi.MemoryLayout;

import java.nio.ByteBuffer;

/**
 * Checks a PAGES frame completely before any of it is applied: the entry count against the
 * bytes present, every page number against the announced layout, every encoding against the
 * agreed set, every payload length against its encoding and the page size, and the payloads'
 * total against the frame's size. Only a batch that passes all of this reaches the sink, so a
 * malformed frame never writes a byte, inside the layout or out of it.
 *
 * <p>Layout of the payload (docs/protocol.md): {@code round u32, count u32} then {@code count}
 * entries of {@code page u64, encoding u8, length u32, payload[length]}.
 */
public final class PageBatchReader {

    /** Receives the entries of a checked batch, in order. */
    public interface Sink {
        /**
         * @param page     a RAM page of the layout
         * @param encoding the entry's encoding
         * @param payload  exactly the entry's payload (position..limit), a view into the frame
         */
        void page(long page, PageEncoding encoding, ByteBuffer payload);
    }

    private final MemoryLayout layout;
    private final int pageSize;
    private final long allowedEncodings;

    /**
     * @param layout           the layout announced in SETUP
     * @param allowedEncodings bit {@code n} set if the encoding with wire id {@code n} was agreed
     */
    public PageBatchReader(MemoryLayout layout, long allowedEncodings) {
        this.layout = layout;
        this.pageSize = layout.pageSizeBytes();
        this.allowedEncodings = allowedEncodings;
    }

    /**
     * Checks the whole batch, then hands every entry to {@code sink}.
     *
     * @param frame a PAGES frame, positioned at its payload's start
     * @param sink  where the checked entries go
     * @return the batch's round number
     * @throws WireException if anything is malformed; nothing was passed to {@code sink} then
     */
    public int read(Frame frame, Sink sink) throws WireException {
        ByteBuffer p = frame.payload();
        int start = p.position();
        long round = frame.u32("round");
        long count = frame.u32("count");
        if (count == 0) {
            throw new WireException(Kind.INCONSISTENT_LENGTH, "PAGES frame with no entry");
        }
        if (count > (long) p.remaining() / Wire.PAGE_ENTRY_BYTES) {
            throw new WireException(Kind.INCONSISTENT_LENGTH, "PAGES frame announces " + count + " entries but holds "
                    + p.remaining() + " bytes");
        }
        int entriesStart = p.position();
        // Pass 1: check everything, touch nothing.
        for (long i = 0; i < count; i++) {
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
            p.position(p.position() + (int) length);
        }
        frame.expectEnd();
        // Pass 2: apply.
        p.position(entriesStart);
        ByteBuffer view = p.duplicate();
        for (long i = 0; i < count; i++) {
            long page = p.getLong();
            PageEncoding encoding = PageEncoding.fromWireId(p.get() & 0xFF);
            int length = p.getInt();
            int at = p.position();
            view.limit(at + length).position(at);
            sink.page(page, encoding, view);
            p.position(at + length);
        }
        p.position(start);
        return (int) round;
    }

    private void checkLength(long i, PageEncoding encoding, long length) throws WireException {
        if (!encoding.acceptsPayloadLength(length, pageSize)) {
            throw new WireException(Kind.INCONSISTENT_LENGTH, "entry " + i + ": " + encoding.reportName()
                    + " payload of " + length + " bytes is impossible for " + pageSize + "-byte pages");
        }
    }
}
