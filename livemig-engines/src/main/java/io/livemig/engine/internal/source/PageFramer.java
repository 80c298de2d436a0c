package io.livemig.engine.internal.source;

import io.livemig.compress.PageEncoder;
import io.livemig.compress.PageEncoding;
import io.livemig.compress.ZeroPages;
import io.livemig.engine.internal.MigrationCounters;
import io.livemig.engine.internal.wire.PageBatchWriter;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.spi.MemorySource;
import io.livemig.spi.PageSet;

import java.nio.ByteBuffer;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.function.LongUnaryOperator;

/**
 * Builds PAGES frames: reads each page straight into the frame, lets the encoder replace it with
 * its encoding (or marks it zero), and hands out every full frame. One framer per encoding
 * thread; it owns its encoder (and so its share of the XBZRLE cache), its frame buffers and its
 * {@link MigrationCounters}.
 *
 * <p>A framer has one or two {@link PageBatchWriter}s. A full frame is taken with
 * {@link #takeFull()} or {@link #flush()}; its writer is not written again until
 * {@link #release} gives it back, so that a sender may send it from another thread while the
 * framer fills the other one. Not thread-safe otherwise: one thread appends.
 */
final class PageFramer {

    private final MemorySource memory;
    private final int pageSize;
    private final int batchPages;
    private final PageEncoder encoder;
    private final LongUnaryOperator keyOf;
    private final BlockingQueue<PageBatchWriter> free;
    private final MigrationCounters counters = new MigrationCounters();

    /**
     * Pages this framer last sent with non-zero content: elsewhere the destination holds zeros
     * (it starts zeroed), so a zero page there need not travel again in pre-copy or stop-copy.
     * (A guest that only reads fresh memory can make KVM log pages dirty that are still zero.)
     */
    private final PageSet nonZeroSent;
    /** The hashes of pages sent in small rounds: a page sent again unchanged is left out. */
    private final SentHashes sentHashes;
    /** Whether this round's pages are hashed as they are sent ({@link #hashRound}). */
    private boolean hashing;
    private PageBatchWriter open;
    private PageBatchWriter full;

    /**
     * @param encoder null for zero and raw pages only
     * @param keyOf   the encoder's key of a page number
     * @param buffers 1 (the frame is sent before the next append) or 2 (double buffering)
     */
    PageFramer(MemorySource memory, int pageSize, int batchPages, int maxFrameBytes, PageEncoder encoder,
               LongUnaryOperator keyOf, int buffers) {
        this.memory = memory;
        this.pageSize = pageSize;
        this.batchPages = batchPages;
        this.encoder = encoder;
        this.keyOf = keyOf;
        this.free = new ArrayBlockingQueue<>(buffers);
        this.nonZeroSent = new PageSet(memory.layout().pageSpan());
        this.sentHashes = new SentHashes(memory.layout().pageSpan());
        // A frame of a full batch of raw pages, not the frame limit (16 MiB, ~9 ms to allocate on
        // a virtualised host): encoded pages are no larger, and a frame that fills up is sent.
        long batchFrameBytes = Wire.MIN_FRAME_BYTES + Wire.PAGES_HEADER_BYTES
                + (long) batchPages * (Wire.PAGE_ENTRY_BYTES + pageSize);
        int frameBytes = (int) Math.min(maxFrameBytes, batchFrameBytes);
        for (int i = 0; i < buffers; i++) {
            free.add(new PageBatchWriter(frameBytes));
        }
    }

    /** @return what this framer encoded */
    MigrationCounters counters() {
        return counters;
    }

    /**
     * Says whether the next round's pages are hashed as they are sent, so that a later round
     * leaves out those sent again unchanged ({@link SentHashes}): for rounds of at most
     * {@value SentHashes#SMALL_ROUND_PAGES} pages. Set before the round's first append.
     */
    void hashRound(boolean on) {
        this.hashing = on;
    }

    /** @return whether a frame is open (the next append continues it) */
    boolean hasOpenFrame() {
        return open != null;
    }

    /**
     * Adds one page to the open frame (opening one first, which may wait for a writer to be
     * released). When the frame is full afterwards, {@link #takeFull()} returns it.
     *
     * @param skipZeroPages leave out zero pages (the destination is known to hold zeros there)
     * @param allowDelta    whether the destination holds the version last sent (not in post-copy);
     *                      then a zero page this framer never sent non-zero is left out too
     * @return whether an entry was added (false for a skipped zero page or an unchanged one)
     * @throws InterruptedException if interrupted while waiting for a writer
     */
    boolean append(long page, int round, boolean skipZeroPages, boolean allowDelta) throws InterruptedException {
        if (open == null) {
            open = free.take();
            open.begin(round);
        }
        PageBatchWriter w = open;
        ByteBuffer frame = w.openEntry(page, pageSize);
        int at = w.payloadOffset();
        memory.readPages(page, 1, frame);
        ByteBuffer raw = w.nativeView();
        boolean zero = ZeroPages.isZero(raw, at, pageSize);
        if (zero && (skipZeroPages || allowDelta && !nonZeroSent.contains(page))) {
            w.dropEntry();
            return false;
        }
        if (zero) {
            nonZeroSent.remove(page);
            sentHashes.forget(page);
        } else {
            nonZeroSent.add(page);
            // Not in post-copy, where the destination may not hold what was sent before.
            if (!allowDelta || !hashing) {
                sentHashes.forget(page);
            } else if (sentHashes.sameAsSent(page, raw, at, pageSize)) {
                counters.unchangedPage();
                w.dropEntry();
                return false;
            }
        }
        PageEncoding encoding;
        int length;
        if (encoder == null) {
            encoding = zero ? PageEncoding.ZERO : PageEncoding.RAW;
            length = zero ? 0 : pageSize;
        } else {
            length = encoder.encode(keyOf.applyAsLong(page), raw, at, zero, allowDelta, round == 0);
            if (length == PageEncoder.UNCHANGED) {
                counters.unchangedPage();
                w.dropEntry();
                return false;
            }
            encoding = encoder.lastEncoding();
        }
        w.commitEntry(encoding, length);
        counters.page(encoding, length);
        counters.round(round);
        if (w.entries() == batchPages || !w.fits(pageSize)) {
            full = close();
        }
        return true;
    }

    /** @return the frame the last append filled, or null; release its writer once it is sent */
    PageBatchWriter takeFull() {
        PageBatchWriter f = full;
        full = null;
        return f;
    }

    /** @return the open frame finished, if it holds any entry, else null; release its writer once sent */
    PageBatchWriter flush() {
        return open == null ? null : close();
    }

    private PageBatchWriter close() {
        PageBatchWriter w = open;
        open = null;
        if (w.entries() == 0) {
            w.discard();
            release(w);
            return null;
        }
        w.finish();
        return w;
    }

    /** Drops the open frame unsent (the round was abandoned, or the link replaced). */
    void discard() {
        // The dropped frames' pages were hashed as sent: no hash can be trusted any more.
        sentHashes.clear();
        if (open != null) {
            open.discard();
            release(open);
            open = null;
        }
        if (full != null) {
            release(full);
            full = null;
        }
    }

    /** Gives a writer handed out by {@link #takeFull()} or {@link #flush()} back for reuse. Any thread. */
    void release(PageBatchWriter w) {
        if (!free.offer(w)) {
            throw new IllegalStateException("a frame buffer was released twice");
        }
    }
}
