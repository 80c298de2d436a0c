package io.livemig.kvm;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The guest pages the VMM itself wrote into guest RAM (a device's DMA: the data of a read
 * request, a used ring, a status byte). KVM's dirty log sees only what vCPUs write, so these
 * are recorded here and {@link KvmVm#fetchDirtyLog} adds them to what it returns.
 *
 * <p><b>No page is lost.</b> A writer records a page <em>after</em> it wrote the page's bytes
 * ({@link #mark}); a fetch takes and clears the recorded pages ({@link #drainInto}). A page
 * recorded before the fetch is in it; a page recorded during or after it is in the next one, and
 * the bytes the engine reads after that fetch include the write. Two levels of bits: a leaf
 * bitmap over guest page frame numbers, and a summary with one bit per leaf word, so that a
 * fetch looks only at the leaf words that may hold a page (a 256 GiB guest has 1 Mi leaf words,
 * 16 Ki summary words). Recording sets the leaf bit first and the summary bit second; a fetch
 * clears the summary bit first and the leaf word second, so a leaf bit can outlive its summary
 * bit only until the writer's next step sets the summary again.
 *
 * <p>Thread-safe and lock-free: any number of writers (vCPU threads) and one fetcher at a time.
 */
final class VmmDirtyPages {

    /** A leaf word with at least one page: its index (guest page frame number / 64) and its bits. */
    @FunctionalInterface
    interface WordSink {
        /** @param wordIndex the page frame number / 64 @param bits the pages, bit {@code pfn % 64} */
        void accept(int wordIndex, long bits);
    }

    /** Atomic access to the words of {@code leaf} and {@code summary}, which are only touched through it. */
    private static final VarHandle WORD = MethodHandles.arrayElementVarHandle(long[].class);

    private final long pageSpan;
    private final long[] leaf;
    private final long[] summary;

    /** @param pageSpan the page frame number just past the last page that can be recorded */
    VmmDirtyPages(long pageSpan) {
        if (pageSpan <= 0 || pageSpan > (long) Integer.MAX_VALUE * 64) {
            throw new IllegalArgumentException("page span " + pageSpan);
        }
        this.pageSpan = pageSpan;
        int words = (int) ((pageSpan + 63) / 64);
        this.leaf = new long[words];
        this.summary = new long[(words + 63) / 64];
    }

    /**
     * Records the pages of {@code [firstPage, firstPage + pageCount)}; call after writing them.
     *
     * @throws IndexOutOfBoundsException if the run is not inside the page span
     */
    void mark(long firstPage, long pageCount) {
        if (firstPage < 0 || pageCount < 0 || firstPage > pageSpan - pageCount) {
            throw new IndexOutOfBoundsException("pages [" + firstPage + ", +" + pageCount + ") of a span of " + pageSpan);
        }
        long end = firstPage + pageCount;
        long page = firstPage;
        while (page < end) {
            int word = (int) (page >>> 6);
            int from = (int) (page & 63);
            int to = (int) Math.min(64, end - ((long) word << 6));
            long bits = (to == 64 ? -1L : (1L << to) - 1) & (-1L << from);
            // Always the atomic OR, never a read-then-skip: the OR publishes the page's bytes,
            // written before this call, to the fetch that takes the bit.
            WORD.getAndBitwiseOr(leaf, word, bits);
            WORD.getAndBitwiseOr(summary, word >>> 6, 1L << (word & 63));
            page = ((long) word + 1) << 6;
        }
    }

    /**
     * Takes and clears every recorded page, handing each non-zero leaf word to {@code sink}.
     *
     * @return the number of pages handed over
     */
    long drainInto(WordSink sink) {
        long count = 0;
        for (int s = 0; s < summary.length; s++) {
            if ((long) WORD.getOpaque(summary, s) == 0) {
                continue;
            }
            long words = (long) WORD.getAndSet(summary, s, 0L);
            while (words != 0) {
                int word = (s << 6) + Long.numberOfTrailingZeros(words);
                words &= words - 1;
                long bits = (long) WORD.getAndSet(leaf, word, 0L);
                if (bits != 0) {
                    sink.accept(word, bits);
                    count += Long.bitCount(bits);
                }
            }
        }
        return count;
    }

    /** Forgets every recorded page (dirty logging starts afresh). */
    void clear() {
        drainInto((word, bits) -> { });
    }
}
