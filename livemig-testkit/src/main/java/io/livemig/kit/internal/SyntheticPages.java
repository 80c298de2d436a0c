package io.livemig.kit.internal;

import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.PageSet;

import java.nio.ByteBuffer;

/**
 * The page contents of a simulated VM, synthesized rather than stored: a page's bytes are a
 * function of {@code (seed, page, version)}. Words 0, 1 and 2 hold the page number, the version
 * and the seed, the rest a cheap pseudo-random sequence. Version 0 is the initial content: the
 * synthesized page for the pages {@link Prefill} chooses, zeros for the rest (on a target, zeros
 * for all). Two more states are not versions: {@link #ZERO} and {@link #FOREIGN}.
 *
 * <p>A target learns the seed from the first synthesized page written into it; anything that is
 * neither zeros nor a synthesized page with a matching header and body is {@link #FOREIGN} and
 * reads back as bytes no source could have sent, so a verification reports the mismatch.
 *
 * <p>Not thread-safe: the simulated VM's lock guards it.
 */
public final class SyntheticPages {

    /** The state of a page of zeros. */
    public static final long ZERO = -1;
    /** The state of a page whose bytes no simulated source wrote. */
    public static final long FOREIGN = -2;

    private final int pageSize;
    private final Prefill prefill;
    private final boolean target;
    /** The seed of the contents: the source's workload seed; a target learns it from the pages. */
    private long seed;
    private boolean seedKnown;

    /**
     * @param pageSize the page size in bytes
     * @param prefill  which pages have content at version 0 (a source's); its seed is the contents' seed
     * @param target   whether this is a target, whose version-0 pages are zeros and which learns the seed
     */
    public SyntheticPages(int pageSize, Prefill prefill, boolean target) {
        this.pageSize = pageSize;
        this.prefill = prefill;
        this.target = target;
        this.seed = prefill.seed();
        this.seedKnown = !target;
    }

    private static long bodySeed(long seed, long page, long version) {
        return Prefill.mix(seed ^ Prefill.mix(page * Prefill.GOLDEN_GAMMA + version));
    }

    /**
     * Writes the content of {@code page} in state {@code version} into {@code out} at {@code at}.
     *
     * @param out a buffer in native byte order, with a page of room at {@code at}
     */
    public void write(long page, long version, ByteBuffer out, int at) {
        if (isZero(page, version)) {
            for (int i = 0; i < pageSize; i += 8) {
                out.putLong(at + i, 0L);
            }
            return;
        }
        if (version == FOREIGN) {
            out.putLong(at, page);
            for (int i = 8; i < pageSize; i += 8) {
                out.putLong(at + i, -1L);
            }
            return;
        }
        out.putLong(at, page);
        out.putLong(at + 8, version);
        out.putLong(at + 16, seed);
        long x = bodySeed(seed, page, version);
        for (int i = 24; i < pageSize; i += 8) {
            out.putLong(at + i, x + i * Prefill.GOLDEN_GAMMA);
        }
    }

    /**
     * @param page    a page
     * @param version its state
     * @return whether its content is all zeros
     */
    public boolean isZero(long page, long version) {
        return version == ZERO || (version == 0 && !target && !prefill.chooses(page));
    }

    /**
     * @param layout  the VM's RAM
     * @param version the state of each page
     * @return a new set of the RAM pages whose content is not all zeros
     */
    public PageSet nonZero(MemoryLayout layout, long[] version) {
        PageSet pages = new PageSet(layout.pageSpan());
        for (MemoryRegion region : layout.regions()) {
            for (long p = region.firstPage(); p < region.firstPage() + region.pageCount(); p++) {
                if (!isZero(p, version[(int) p])) {
                    pages.add(p);
                }
            }
        }
        return pages;
    }

    /** @return the seed of the contents (on a target, the one learnt or adopted; the builder's before) */
    public long seed() {
        return seed;
    }

    /**
     * Takes the seed of the contents from the guest's own state (a replayed or resumed guest
     * synthesizes its writes with it), as if learnt from a page.
     *
     * @param contentSeed the seed
     */
    public void adoptSeed(long contentSeed) {
        seed = contentSeed;
        seedKnown = true;
    }

    /**
     * @param in a buffer in native byte order holding a page at {@code at}
     * @return the state the bytes encode for {@code page}: a version, {@link #ZERO} or {@link #FOREIGN}
     */
    public long recognise(long page, ByteBuffer in, int at) {
        boolean zero = true;
        for (int i = 0; i < pageSize && zero; i += 8) {
            zero = in.getLong(at + i) == 0;
        }
        if (zero) {
            return ZERO;
        }
        long version = in.getLong(at + 8);
        long pageSeed = in.getLong(at + 16);
        if (in.getLong(at) != page || version < 0 || (seedKnown && pageSeed != seed)) {
            return FOREIGN;
        }
        long x = bodySeed(pageSeed, page, version);
        for (int i = 24; i < pageSize; i += 8) {
            if (in.getLong(at + i) != x + i * Prefill.GOLDEN_GAMMA) {
                return FOREIGN;
            }
        }
        seed = pageSeed;
        seedKnown = true;
        return version;
    }
}
