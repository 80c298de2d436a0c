package io.livemig.kvm;

import io.livemig.kvm.internal.Sys;
import io.livemig.spi.PageSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/**
 * The fast way for a post-copy target to drop the stale pages of guest RAM (the pre-copied
 * versions of pages still to come): instead of punching them out of the memfd one run at a time
 * inside the downtime (the kernel frees each page, ~0.5 µs, and each punch costs ~5 µs more for
 * the mapping and KVM's MMU notifier: 100-350 ms for 1 GiB measured here), guest RAM gets a
 * fresh, empty memfd at the same address, and the pages that stay are brought back from the old
 * memory after the resume. Inside the downtime it costs a handful of system calls, whatever the
 * size:
 * <ol>
 *   <li>{@code mremap(MREMAP_DONTUNMAP)} moves the mapped pages of guest RAM (page-table entries
 *       only) to a new address, the old memory, leaving guest RAM's mapping of the old memfd
 *       empty;</li>
 *   <li>a fresh memfd is mapped and moved over that empty mapping ({@code mremap(MREMAP_FIXED)}:
 *       the address is never unmapped, so nothing else can land there); KVM's memory slot keeps
 *       its address, and its MMU notifier drops whatever it had mapped;</li>
 *   <li>the VM's memfd number is pointed at the fresh file ({@code dup3}), so that everything that
 *       uses it (hole skipping, allocated size, the VM's close) sees the fresh memory.</li>
 * </ol>
 * Guest RAM, registered with userfaultfd in missing mode, then faults on every page. A missing
 * page waits for the source as before. Any other page is served locally by the fault thread:
 * copied from the old memory if it was there ({@link #serve}), else a zero page. Meanwhile a
 * thread of this object copies every page that stays (resident in the old memory, not missing)
 * in runs, skipping what a fault served first, and then unmaps the old memory, which frees it and
 * the stale pages with it ({@link #startRefill}). Demand paging must not end (close its
 * userfaultfd) before the refill has: {@link #awaitRefilled}.
 *
 * <p>Guest RAM in one slot only (one mapping of the memfd from offset 0).
 *
 * <p>Thread-safety: {@link #serve} and the refill's copies run under the lock given to
 * {@link #swap} (the demand paging's), which also guards {@link #old}: it is unmapped only after
 * being cleared under that lock, so a copy never reads it unmapped. Owns the old memory and the
 * refill thread; {@link #close()} releases both.
 */
final class RamSwap implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(RamSwap.class);
    /** Pages the refill copies per hold of the lock (1 MiB): installs and faults wait behind at most this. */
    private static final int REFILL_RUN_PAGES = 256;
    /** How long {@link #close()} waits for the refill to stop (it checks between runs). */
    private static final long CLOSE_WAIT_MILLIS = 2000;

    private final MemorySegment ram;
    /** The demand paging's lock. */
    private final Object lock;
    /** The pages still to come, as arm gave them; null until then (a swap made ahead of the arming). */
    private volatile PageSet missingAtArm;
    private final long pageCount;
    private final Arena arena = Arena.ofShared();
    /** One byte for {@link #serve}'s mincore; used under the lock. */
    private final MemorySegment oneResidency = arena.allocate(1);
    /** The old memory, or null once unmapped. Guarded by the lock. */
    private MemorySegment old;
    private Thread refill;
    private volatile boolean stop;
    /** The refill copied every page that stays. */
    private volatile boolean refilled;

    private RamSwap(MemorySegment ram, Object lock, MemorySegment old, long pageCount) {
        this.ram = ram;
        this.lock = lock;
        this.old = old;
        this.pageCount = pageCount;
    }

    /**
     * Says which pages are still to come: they are neither served from the old memory nor
     * refilled. Call once, before guest RAM is registered with userfaultfd and the refill starts.
     *
     * @param missing the pages still to come; copied
     */
    void missing(PageSet missing) {
        missingAtArm = missing.copy();
    }

    /**
     * Swaps guest RAM's memfd for a fresh one, as the class comment says. Call while no vCPU runs
     * and nothing reads or writes guest RAM, before registering it with userfaultfd.
     *
     * The pages still to come need not be known yet: {@link #missing} says which they are, before
     * the refill starts.
     *
     * @param vm      the VM, its RAM in one slot
     * @param ram     its guest RAM mapping
     * @param lock    the demand paging's lock: serving faults, installing and refilling take turns
     * @return the swap, which owns the old memory until it is closed
     * @throws KvmException if a system call fails (before the fresh memfd is in place, guest RAM is
     *                      as it was; after, it is the fresh memfd, and the old memory is released)
     */
    static RamSwap swap(KvmVm vm, MemorySegment ram, Object lock) {
        // Every page of the mapping moves to `old`; ram stays mapped, to the old memfd, empty.
        MemorySegment old = moveMappedPages(ram, "old guest RAM");
        int fresh;
        try {
            fresh = Sys.memfd("livemig-guest-ram", ram.byteSize());
        } catch (RuntimeException e) {
            Sys.munmap(old);
            throw e;
        }
        try {
            MemorySegment mapped = Sys.mmap(ram.byteSize(), Sys.PROT_READ | Sys.PROT_WRITE,
                    Sys.MAP_SHARED | Sys.MAP_NORESERVE, fresh, 0, "guest RAM");
            Sys.moveMapping(mapped, ram);
            Sys.dup3(fresh, vm.memoryFd());
        } catch (RuntimeException e) {
            Sys.munmap(old);
            throw e;
        } finally {
            Sys.close(fresh); // the VM's own number refers to the file now (or the swap failed)
        }
        return new RamSwap(ram, lock, old, ram.byteSize() / KvmVm.PAGE_BYTES);
    }

    /**
     * Moves the pages mapped in {@code mapping} to a reservation aligned as it is (up to
     * {@link Sys#PAGE_TABLE_ALIGNMENT}), so that the kernel moves whole page tables where it can.
     */
    private static MemorySegment moveMappedPages(MemorySegment mapping, String what) {
        long alignment = Math.min(Long.lowestOneBit(mapping.address()), Sys.PAGE_TABLE_ALIGNMENT);
        MemorySegment at = Sys.reserveAligned(mapping.byteSize(), alignment, what);
        try {
            return Sys.moveMappedPages(mapping, at);
        } catch (RuntimeException e) {
            Sys.munmap(at);
            throw e;
        }
    }

    /**
     * A dry run, on two pages of scratch memory, of every system call a swap, a refill, a fault
     * and an install make: the first call through each of them links its native stub and loads
     * classes (~30 ms in all, measured inside the downtime before this). Call once a target may
     * switch to post-copy, outside the downtime. Leaves nothing behind.
     *
     * @throws KvmException if a call fails (userfaultfd unavailable: post-copy would fail anyway)
     */
    static void rehearse() {
        long bytes = 2L * KvmVm.PAGE_BYTES;
        int memfd = Sys.memfd("livemig-rehearsal", bytes);
        MemorySegment mapping = null;
        MemorySegment moved = null;
        try (Arena call = Arena.ofConfined(); Userfaultfd uffd = Userfaultfd.open()) {
            mapping = Sys.mmap(bytes, Sys.PROT_READ | Sys.PROT_WRITE, Sys.MAP_SHARED | Sys.MAP_NORESERVE, memfd, 0,
                    "rehearsal");
            mapping.set(JAVA_BYTE, 0, (byte) 1);
            moved = moveMappedPages(mapping, "rehearsal");
            int fresh = Sys.memfd("livemig-rehearsal", bytes);
            try {
                MemorySegment freshMapping = Sys.mmap(bytes, Sys.PROT_READ | Sys.PROT_WRITE,
                        Sys.MAP_SHARED | Sys.MAP_NORESERVE, fresh, 0, "rehearsal");
                Sys.moveMapping(freshMapping, mapping);
                Sys.dup3(fresh, memfd);
            } finally {
                Sys.close(fresh);
            }
            MemorySegment residency = call.allocate(2);
            Sys.mincore(moved, residency);
            uffd.register(mapping);
            uffd.copyRun(mapping.address(), moved, KvmVm.PAGE_BYTES);
            uffd.copyRun(mapping.address(), moved, KvmVm.PAGE_BYTES); // present: EEXIST and a wake
            uffd.zeroPage(mapping.address() + KvmVm.PAGE_BYTES, KvmVm.PAGE_BYTES);
            new PageSet(64).copy().cardinality();
        } finally {
            if (moved != null) {
                Sys.munmap(moved);
            }
            if (mapping != null) {
                Sys.munmap(mapping);
            }
            Sys.close(memfd);
        }
    }

    /**
     * Called by the fault thread, with the lock held, for a fault on a page that is not missing:
     * installs it from the old memory if that held it.
     *
     * @return true if served (or present already), false if the caller should install a zero page
     */
    boolean serve(Userfaultfd uffd, long page) {
        if (old == null || missingAtArm.contains(page)) {
            return false; // refilled already (so never written), or installed from the source
        }
        MemorySegment from = old.asSlice(page * KvmVm.PAGE_BYTES, KvmVm.PAGE_BYTES);
        // mincore of one page of the old memory into oneResidency: whether the old memfd holds it.
        Sys.mincore(from, oneResidency);
        if ((oneResidency.get(JAVA_BYTE, 0) & 1) == 0) {
            return false;
        }
        uffd.copyRun(ram.address() + page * KvmVm.PAGE_BYTES, from, KvmVm.PAGE_BYTES);
        return true;
    }

    /**
     * Starts copying every page that stays into guest RAM, then unmapping the old memory.
     *
     * @param thread an unstarted thread that calls {@link #refill} (made ahead by the caller: a
     *               thread and its lambda cost a few milliseconds to make the first time, and this
     *               is called inside the downtime)
     */
    void startRefill(Thread thread) {
        refill = thread;
        thread.start();
    }

    /**
     * The refill, on the thread given to {@link #startRefill}.
     *
     * @param uffd the userfaultfd guest RAM is registered with; the lock is held for each run copied
     */
    void refill(Userfaultfd uffd) {
        long copiedPages = 0;
        long start = System.nanoTime();
        try (Arena call = Arena.ofConfined()) {
            MemorySegment residency = call.allocate(pageCount);
            MemorySegment from;
            synchronized (lock) {
                from = old;
            }
            if (from == null) {
                return;
            }
            // Which pages the old memfd holds; the old mapping stays mapped until this thread
            // unmaps it below (close() waits for this thread first).
            Sys.mincore(from, residency);
            long page = 0;
            while (page < pageCount && !stop) {
                if ((residency.get(JAVA_BYTE, page) & 1) == 0 || missingAtArm.contains(page)) {
                    page++;
                    continue;
                }
                long end = page + 1;
                while (end < pageCount && end - page < REFILL_RUN_PAGES && (residency.get(JAVA_BYTE, end) & 1) != 0
                        && !missingAtArm.contains(end)) {
                    end++;
                }
                synchronized (lock) {
                    copiedPages += copyRun(uffd, from, page, end);
                }
                page = end;
            }
            if (!stop) {
                unmapOld();
                refilled = true;
                LOG.debug("refilled {} pages of guest RAM from its old memory in {} ms", copiedPages,
                        (System.nanoTime() - start) / 1_000_000);
            }
        } catch (RuntimeException e) {
            LOG.error("refilling guest RAM from its old memory failed; demand paging stays armed", e);
        }
    }

    /** Copies {@code [first, end)} from the old memory, going on past pages present already. */
    private long copyRun(Userfaultfd uffd, MemorySegment from, long first, long end) {
        long copied = 0;
        long page = first;
        while (page < end) {
            long bytes = uffd.copyRun(ram.address() + page * KvmVm.PAGE_BYTES,
                    from.asSlice(page * KvmVm.PAGE_BYTES), (end - page) * KvmVm.PAGE_BYTES);
            copied += bytes / KvmVm.PAGE_BYTES;
            page += bytes / KvmVm.PAGE_BYTES + (page + bytes / KvmVm.PAGE_BYTES < end ? 1 : 0);
        }
        return copied;
    }

    private void unmapOld() {
        MemorySegment mapping;
        synchronized (lock) {
            mapping = old;
            old = null;
        }
        if (mapping != null) {
            Sys.munmap(mapping); // frees the old memfd: this was its last reference
        }
    }

    /**
     * Waits for the refill to end.
     *
     * @return whether every page that stays is in guest RAM (demand paging may end)
     */
    boolean awaitRefilled(long timeoutMillis) {
        Thread t = refill;
        if (t != null) {
            try {
                t.join(timeoutMillis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        return refilled;
    }

    /**
     * Stops the refill, waits for it (bounded), and unmaps the old memory if it is still mapped.
     * Call without holding the lock. Idempotent; does not throw.
     */
    @Override
    public void close() {
        stop = true;
        awaitRefilled(CLOSE_WAIT_MILLIS);
        Thread t = refill;
        if (t != null && t.isAlive()) {
            LOG.warn("the guest RAM refill has not stopped after {} ms; the old guest RAM stays mapped",
                    CLOSE_WAIT_MILLIS);
            return;
        }
        try {
            unmapOld();
        } catch (RuntimeException e) {
            LOG.warn("unmapping the old guest RAM", e);
        }
        synchronized (lock) {
            if (arena.scope().isAlive()) {
                arena.close();
            }
        }
    }
}
