package io.livemig.spi;

import java.nio.ByteBuffer;

/**
 * Post-copy support on a migration target: the target's vCPUs run before all of memory has
 * arrived, and a vCPU that touches a missing page blocks until the page is installed. KVM
 * implements it with userfaultfd (register guest RAM in missing mode, install with
 * {@code UFFDIO_COPY}); the in-memory kit with a per-page presence bitmap.
 *
 * <p><b>Protocol.</b> The engine calls {@link #arm} once, before the target resumes, with the
 * pages that will arrive later; every other page is present already. It then installs pages as
 * they arrive, pushed or demanded, one by one or in runs of contiguous pages, and calls {@link #disarm()} once every page is present (or
 * the target is closed). A page is installed at most once: a second install of a present page
 * changes nothing and returns false, because the guest may have written to it since.
 *
 * <p><b>Threading.</b> {@code install} is called by the engine's receiving thread while vCPU
 * threads run and fault; the {@link FaultListener} is called on the faulting vCPU's thread (or
 * the provider's fault-handling thread) and must not block.
 */
public interface DemandPaging {

    /** Told about every first touch of a missing page. */
    @FunctionalInterface
    interface FaultListener {
        /**
         * Hears of the first touch of a missing page.
         *
         * @param page the missing page a vCPU touched
         * @param vcpu the vCPU's index, or -1 if unknown
         */
        void onFault(long page, int vcpu);
    }

    /**
     * Called at most once, before {@link #arm}, when the switchover to post-copy has begun and
     * before the missing pages are known: from this call until {@code arm}, the target stays
     * paused and nothing writes its memory. A provider does here whatever part of arming does not
     * depend on which pages are missing, so that it overlaps the rest of the switchover (the
     * source's last collect of its dirty log, its state) instead of adding to it. The default
     * does nothing.
     *
     * @throws IllegalStateException if already prepared or armed, or the target runs
     */
    default void prepare() {
    }

    /**
     * Marks {@code missing} as not yet present. Called once, while the target is paused.
     *
     * @param missing  the pages that will arrive later; span {@code layout().pageSpan()}; copied
     * @param listener told about each first touch of a missing page
     * @throws IllegalStateException if already armed or the target runs
     */
    void arm(PageSet missing, FaultListener listener);

    /**
     * Installs one page and wakes the vCPUs blocked on it.
     *
     * @param page    the page
     * @param content exactly one page of bytes (position..limit); not retained
     * @return true if installed, false if the page was already present (left unchanged)
     * @throws IndexOutOfBoundsException if the page is not RAM
     */
    boolean install(long page, ByteBuffer content);

    /** The most pages one {@link #installRun} takes: its result holds one bit per page. */
    int MAX_RUN_PAGES = 64;

    /**
     * Installs {@code pageCount} contiguous pages, {@code firstPage} first, and wakes the vCPUs
     * blocked on any of them. Each page is treated as {@link #install} treats it: a page of the
     * run that is present already is left unchanged (the guest may have written to it), and the
     * others are installed. A provider that can place several pages at once (KVM: one
     * {@code UFFDIO_COPY} per stretch of missing pages) overrides this; the default installs page
     * by page through {@link #install}, which is correct for every provider, only slower.
     *
     * <p>Which pages end up installed is exactly what the result says, whatever the order in which
     * the provider placed them; a vCPU never sees a page of the run half written.
     *
     * @param firstPage the run's first page
     * @param pageCount the run's length, 1 to {@link #MAX_RUN_PAGES}
     * @param content   exactly {@code pageCount} pages of bytes (position..limit), page
     *                  {@code firstPage + i} at {@code position + i * pageSize}; read during the
     *                  call only, its position and limit unchanged. A direct buffer may save the
     *                  provider a copy.
     * @return a mask: bit {@code i} is set if page {@code firstPage + i} was installed by this
     *         call, clear if it was already present
     * @throws IllegalArgumentException  if {@code pageCount} is out of range or {@code content} is
     *                                   not {@code pageCount} whole pages
     * @throws IndexOutOfBoundsException if a page of the run is not RAM
     */
    default long installRun(long firstPage, int pageCount, ByteBuffer content) {
        if (pageCount < 1 || pageCount > MAX_RUN_PAGES || content.remaining() % pageCount != 0) {
            throw new IllegalArgumentException("a run of 1 to " + MAX_RUN_PAGES + " pages, got " + pageCount
                    + " pages in " + content.remaining() + " bytes");
        }
        int pageBytes = content.remaining() / pageCount;
        long installed = 0;
        for (int i = 0; i < pageCount; i++) {
            int from = content.position() + i * pageBytes;
            if (install(firstPage + i, content.slice(from, pageBytes))) {
                installed |= 1L << i;
            }
        }
        return installed;
    }

    /**
     * Installs a zero page; see {@link #install}.
     *
     * @param page the missing page to fill with zeros
     * @return true if installed, false if already present
     */
    boolean installZero(long page);

    /** {@return how many pages are still missing} */
    long missingPages();

    /**
     * Ends demand paging. Every page should be present; vCPUs blocked on a page that never came
     * stay blocked until the target closes. Idempotent.
     */
    void disarm();

    /** {@return nanoseconds each vCPU has spent blocked on missing pages so far, indexed by vCPU} */
    long[] blockedNanosPerVcpu();
}
