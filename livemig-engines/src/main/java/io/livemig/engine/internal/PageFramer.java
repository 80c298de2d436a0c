package io.livemig.engine.internal;

import io.livemig.compress.PageEncoder;
import io.livemig.compress.PageEncoding;
import io.livemig.compress.ZeroPages;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.FrameWriter;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.spi.MemorySource;

import java.nio.ByteBuffer;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.function.LongUnaryOperator;

/**
 * Builds PAGES frames: reads each page straight into the frame, lets the encoder replace it
 * with its encoding (or marks it zero), and hands every full frame to a {@link FrameOut}. One
 * framer per encoding thread; it owns its encoder (and so its share of the XBZRLE cache) and
 * its frame buffers, and counts what it encoded.
 *
 * <p>A framer has one or two frame buffers. A buffer handed out is not written again until
 * {@link #release} gives it back, so a sender may send it from another thread while the framer
 * fills the other one. Not thread-safe otherwise: one thread appends.
 */
final class PageFramer {

    /** Receives a finished PAGES frame; must eventually {@link #release} the writer. */
    interface FrameOut {
        void frame(ByteBuffer frame, FrameWriter writer, PageFramer from) throws Exception;
    }

    private final MemorySource memory;
    private final int pageSize;
    private final int batchPages;
    private final PageEncoder encoder;
    private final LongUnaryOperator keyOf;
    private final BlockingQueue<FrameWriter> free;

    /**
     * Pages this framer last sent with non-zero content: elsewhere the destination holds zeros
     * (it starts zeroed), so a zero page there need not travel again in pre-copy or stop-copy.
     * (A guest that only reads fresh memory can make KVM log pages dirty that are still zero.)
     */
    private final io.livemig.spi.PageSet nonZeroSent;
    private FrameWriter writer;
    private ByteBuffer batch;
    private int batchCountAt;
    private int batchEntries;

    final long[] pagesByEncoding = new long[256];
    final long[] bytesByEncoding = new long[256];
    long unchangedPages;
    long bytesSaved;

    /**
     * @param encoder null for zero and raw pages only
     * @param keyOf   the encoder's key of a page number
     * @param buffers 1 (the sender sends before the next append) or 2 (double buffering)
     */
    PageFramer(MemorySource memory, int pageSize, int batchPages, int maxFrameBytes, PageEncoder encoder,
               LongUnaryOperator keyOf, int buffers) {
        this.memory = memory;
        this.pageSize = pageSize;
        this.batchPages = batchPages;
        this.encoder = encoder;
        this.keyOf = keyOf;
        this.free = new ArrayBlockingQueue<>(buffers);
        this.nonZeroSent = new io.livemig.spi.PageSet(memory.layout().pageSpan());
        for (int i = 0; i < buffers; i++) {
            free.add(new FrameWriter(maxFrameBytes));
        }
    }

    /** @return whether a frame is open (the next append continues it) */
    boolean hasOpenFrame() {
        return batch != null;
    }

    /**
     * Adds one page to the open frame (opening one first), sending the frame when it is full.
     *
     * @param skipZeroPages leave out zero pages (the destination is known to hold zeros there)
     * @param allowDelta    whether the destination holds the version last sent (not in post-copy);
     *                      then a zero page this framer never sent non-zero is left out too
     * @return whether an entry was added (false for a skipped zero page or an unchanged one)
     */
    boolean append(long page, int round, boolean skipZeroPages, boolean allowDelta, FrameOut out) throws Exception {
        if (batch == null) {
            writer = free.take();
            batch = writer.begin(FrameType.PAGES);
            batch.putInt(round);
            batchCountAt = batch.position();
            batch.putInt(0);
            batchEntries = 0;
        }
        ByteBuffer b = batch;
        int entryAt = b.position();
        b.putLong(page).put((byte) PageEncoding.RAW.wireId()).putInt(pageSize);
        int dataAt = b.position();
        memory.readPages(page, 1, b);
        ByteBuffer raw = writer.nativeView();
        boolean zero = ZeroPages.isZero(raw, dataAt, pageSize);
        if (zero && (skipZeroPages || allowDelta && !nonZeroSent.contains(page))) {
            b.position(entryAt);
            return false;
        }
        if (zero) {
            nonZeroSent.remove(page);
        } else {
            nonZeroSent.add(page);
        }
        PageEncoding encoding;
        int length;
        if (encoder == null) {
            encoding = zero ? PageEncoding.ZERO : PageEncoding.RAW;
            length = zero ? 0 : pageSize;
        } else {
            PageEncoder.Result result = encoder.encode(keyOf.applyAsLong(page), raw, dataAt, zero, allowDelta);
            if (result == PageEncoder.Result.UNCHANGED) {
                unchangedPages++;
                b.position(entryAt);
                return false;
            }
            encoding = Codecs.encodingOf(result);
            length = encoder.lastLength();
        }
        b.put(entryAt + 8, (byte) encoding.wireId()).putInt(entryAt + 9, length);
        b.position(dataAt + length);
        pagesByEncoding[encoding.wireId()]++;
        bytesByEncoding[encoding.wireId()] += length;
        bytesSaved += pageSize - length;
        batchEntries++;
        if (batchEntries == batchPages || writer.payloadRoom() < Wire.PAGE_ENTRY_BYTES + pageSize) {
            flush(out);
        }
        return true;
    }

    /** Hands out the open frame, if it holds any entry. */
    void flush(FrameOut out) throws Exception {
        if (batch == null) {
            return;
        }
        FrameWriter w = writer;
        ByteBuffer b = batch;
        batch = null;
        writer = null;
        if (batchEntries == 0) {
            release(w);
            return;
        }
        b.putInt(batchCountAt, batchEntries);
        out.frame(w.finish(), w, this);
    }

    /** Drops the open frame unsent (the round was abandoned). */
    void discard() {
        if (batch != null) {
            batch = null;
            release(writer);
            writer = null;
        }
    }

    /** Gives a writer handed out by {@link FrameOut} back for reuse. Any thread. */
    void release(FrameWriter w) {
        if (!free.offer(w)) {
            throw new IllegalStateException("a frame buffer was released twice");
        }
    }
}
