package io.livemig.kvm;

import io.livemig.kvm.internal.KvmAbi;
import io.livemig.kvm.internal.Sys;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.PageSet;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A KVM virtual machine: its file descriptor, its guest RAM, its vCPUs, and KVM's dirty log over
 * that RAM.
 *
 * <p><b>Memory layout</b>, as PC VMMs build it: RAM from guest-physical 0 up to 3 GiB (the
 * start of the 32-bit MMIO hole, where a PC keeps its PCI windows, APIC and firmware), and the
 * rest from 4 GiB up ({@link #layoutFor}). Each range is a KVM memory slot of its own
 * ({@link #slots()}), with its own dirty log. One memfd backs all RAM: slot 0 maps memfd offsets
 * {@code [0, 3 GiB)}, slot 1 the offsets after that, so a page's memfd offset is not its
 * guest-physical address above the hole ({@link #memfdOffset}). {@link #memory()} is a view of
 * guest-physical space: address {@code a} at offset {@code a}, the hole an inaccessible
 * reservation. Memory is allocated lazily: a page costs nothing until written.
 *
 * <p>Dirty logging: {@link #setDirtyLogging} turns {@code KVM_MEM_LOG_DIRTY_PAGES} on or off in
 * every slot; {@link #fetchDirtyLog} returns the pages written since the last call and re-arms
 * them: those vCPUs wrote (KVM's log) and those the VMM wrote on the guest's behalf, which KVM
 * does not see and a device reports with {@link #vmmWrote} (see {@link VmmDirtyPages}). Where the host offers {@code KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2} it is enabled, and a
 * fetch is, per slot, {@code KVM_GET_DIRTY_LOG} followed by {@code KVM_CLEAR_DIRTY_LOG} of exactly
 * the pages it returned (a write between the two lands in a page that will be read after the
 * fetch, so it is not lost); otherwise {@code KVM_GET_DIRTY_LOG} alone, which fetches and
 * re-protects at once. All-zero stretches of a slot's bitmap are skipped a chunk at a time, and
 * the clear covers only the words that held a dirty page.
 *
 * <p>Thread-safety: vCPU creation and dirty-log calls are serialized by this object; guest RAM
 * may be read and written from any thread. Owns the VM fd, the memfd and the mapping, released
 * by {@link #close()} after the vCPUs it created.
 */
public final class KvmVm implements AutoCloseable {

    /** Guest pages are 4 KiB. */
    public static final int PAGE_BYTES = 4096;
    /** Where RAM below 4 GiB ends: the 32-bit MMIO hole spans {@code [3 GiB, 4 GiB)}. */
    public static final long LOW_RAM_END = 3L << 30;
    /** Where RAM beyond {@link #LOW_RAM_END} resumes, above the hole. */
    public static final long HIGH_RAM_BASE = 4L << 30;
    /**
     * The largest guest RAM: 256 GiB. Memory is lazily allocated, so this bounds address space
     * and bookkeeping (a dirty bitmap of 8 MiB, and the engines' page sets of as much), not host
     * memory; the dirtier guest maps guest-physical space up to 512 GiB.
     */
    public static final long MAX_MEMORY_BYTES = 256L << 30;
    private static final long PAGES_PER_WORD = 64;
    /** Bitmap bytes compared with zero at a time before looking at words one by one. */
    private static final int SKIP_CHUNK_BYTES = 4096;
    private static final MemorySegment ZERO_CHUNK = Arena.global().allocate(SKIP_CHUNK_BYTES, 8);

    /**
     * One KVM memory slot: a run of guest-physical pages backed by a run of the memfd.
     *
     * @param slot        the KVM slot number
     * @param firstPage   the first guest page frame number (a multiple of 64)
     * @param pageCount   the pages in the slot, at least 1
     * @param memfdOffset the byte offset in the memfd of the slot's first page
     */
    public record MemorySlot(int slot, long firstPage, long pageCount, long memfdOffset) {

        /** {@return the guest-physical address of the slot's first byte} */
        public long guestPhysicalAddress() {
            return firstPage * PAGE_BYTES;
        }

        /** {@return the slot's size in bytes} */
        public long bytes() {
            return pageCount * PAGE_BYTES;
        }

        /** {@return the page frame number just past the slot} */
        public long endPage() {
            return firstPage + pageCount;
        }
    }

    /** A dirty bitmap word with at least one bit set: its page-set word index and its bits. */
    @FunctionalInterface
    private interface WordSink {
        void accept(int wordIndex, long bits);
    }

    private final Kvm kvm;
    private final int fd;
    private final long memoryBytes;
    private final List<MemorySlot> slots;
    private final MemoryLayout layout;
    private final int memfd;
    private final MemorySegment memory;
    private final boolean manualProtect;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment[] bitmaps;
    private final MemorySegment getLog;
    private final MemorySegment clearLog;
    private final MemorySegment regionArg;
    private final List<KvmVcpu> vcpus = new ArrayList<>();
    /** Pages the VMM wrote (device DMA): lock-free, merged into every fetch of the dirty log. */
    private final VmmDirtyPages vmmDirty;
    private boolean dirtyLogging;
    private boolean closed;

    KvmVm(Kvm kvm, int fd, long memoryBytes) {
        this.kvm = kvm;
        this.fd = fd;
        List<MemorySlot> layoutSlots;
        try {
            layoutSlots = slotsFor(memoryBytes);
        } catch (IllegalArgumentException e) {
            Sys.close(fd);
            throw e;
        }
        this.memoryBytes = memoryBytes;
        this.slots = layoutSlots;
        this.layout = layoutFor(memoryBytes);
        this.vmmDirty = new VmmDirtyPages(layout.pageSpan());
        int mfd = -1;
        MemorySegment mapping = null;
        try {
            // Intel VMX needs these three pages for real-mode emulation; harmless elsewhere. They
            // lie in the MMIO hole, clear of RAM.
            int r = Sys.ioctlRaw(fd, KvmAbi.SET_TSS_ADDR, 0xfffbd000L);
            if (r < 0 && r != -25) {
                throw new KvmException("KVM_SET_TSS_ADDR", -r, Sys.strerror(-r));
            }
            mfd = Sys.memfd("livemig-guest-ram", memoryBytes);
            long spanBytes = layout.pageSpan() * PAGE_BYTES;
            // Reserve guest-physical space, then map each slot's part of the memfd at its address:
            // the hole stays an inaccessible reservation. Aligned so that a post-copy target's
            // memfd swap moves whole page tables (RamSwap).
            mapping = Sys.reserveAligned(spanBytes, Sys.PAGE_TABLE_ALIGNMENT, "guest-physical space");
            for (MemorySlot slot : slots) {
                Sys.mmapAt(mapping.asSlice(slot.guestPhysicalAddress(), slot.bytes()), slot.bytes(),
                        Sys.PROT_READ | Sys.PROT_WRITE, Sys.MAP_SHARED | Sys.MAP_NORESERVE, mfd, slot.memfdOffset(),
                        "guest RAM slot " + slot.slot());
            }
            boolean manual = false;
            if ((kvm.checkExtension(KvmAbi.CAP_MANUAL_DIRTY_LOG_PROTECT2) & KvmAbi.DIRTY_LOG_MANUAL_PROTECT_ENABLE) != 0) {
                MemorySegment cap = arena.allocate(KvmAbi.ENABLE_CAP_BYTES, 8);
                cap.set(JAVA_INT, 0, KvmAbi.CAP_MANUAL_DIRTY_LOG_PROTECT2);
                cap.set(JAVA_LONG, 8, KvmAbi.DIRTY_LOG_MANUAL_PROTECT_ENABLE);
                Sys.ioctl(fd, KvmAbi.ENABLE_CAP, cap, "KVM_ENABLE_CAP(MANUAL_DIRTY_LOG_PROTECT2)");
                manual = true;
            }
            this.manualProtect = manual;
            this.memfd = mfd;
            this.memory = mapping;
            this.bitmaps = new MemorySegment[slots.size()];
            for (int i = 0; i < bitmaps.length; i++) {
                // Whole chunks, so that the zero-skipping scan never reads past the end.
                long words = (slots.get(i).pageCount() + PAGES_PER_WORD - 1) / PAGES_PER_WORD;
                long bytes = (words * 8 + SKIP_CHUNK_BYTES - 1) / SKIP_CHUNK_BYTES * SKIP_CHUNK_BYTES;
                bitmaps[i] = arena.allocate(bytes, 8);
            }
            this.getLog = arena.allocate(KvmAbi.DIRTY_LOG_BYTES, 8);
            this.clearLog = arena.allocate(KvmAbi.CLEAR_DIRTY_LOG_BYTES, 8);
            this.regionArg = arena.allocate(KvmAbi.USERSPACE_MEMORY_REGION_BYTES, 8);
            for (MemorySlot slot : slots) {
                setSlot(slot, 0);
            }
        } catch (RuntimeException e) {
            if (mapping != null) {
                Sys.munmap(mapping);
            }
            if (mfd >= 0) {
                Sys.close(mfd);
            }
            Sys.close(fd);
            arena.close();
            throw e;
        }
    }

    /**
     * The KVM memory slots of a VM with {@code memoryBytes} of RAM: one from 0 if it fits below
     * {@link #LOW_RAM_END}, else that one and a second from {@link #HIGH_RAM_BASE} with the rest.
     *
     * @param memoryBytes guest RAM, a positive multiple of 4 KiB, at most {@link #MAX_MEMORY_BYTES}
     * @return the slots, by address
     * @throws IllegalArgumentException for any other size
     */
    public static List<MemorySlot> slotsFor(long memoryBytes) {
        if (memoryBytes <= 0 || memoryBytes % PAGE_BYTES != 0 || memoryBytes > MAX_MEMORY_BYTES) {
            throw new IllegalArgumentException("guest memory must be a positive multiple of 4 KiB up to "
                    + (MAX_MEMORY_BYTES >> 30) + " GiB, was " + memoryBytes);
        }
        long low = Math.min(memoryBytes, LOW_RAM_END);
        MemorySlot first = new MemorySlot(0, 0, low / PAGE_BYTES, 0);
        if (memoryBytes == low) {
            return List.of(first);
        }
        return List.of(first, new MemorySlot(1, HIGH_RAM_BASE / PAGE_BYTES, (memoryBytes - low) / PAGE_BYTES, low));
    }

    /**
     * {@return the layout the engines see: one region per slot, page numbers guest-physical}
     *
     * @param memoryBytes guest RAM, as {@link #slotsFor} takes it
     */
    public static MemoryLayout layoutFor(long memoryBytes) {
        List<MemoryRegion> regions = new ArrayList<>();
        for (MemorySlot slot : slotsFor(memoryBytes)) {
            regions.add(new MemoryRegion(slot.firstPage(), slot.pageCount()));
        }
        return new MemoryLayout(PAGE_BYTES, regions);
    }

    private void setSlot(MemorySlot slot, int flags) {
        MemorySegment region = regionArg;
        region.set(JAVA_INT, 0, slot.slot());
        region.set(JAVA_INT, 4, flags);
        region.set(JAVA_LONG, 8, slot.guestPhysicalAddress());
        region.set(JAVA_LONG, 16, slot.bytes());
        region.set(JAVA_LONG, 24, memory.address() + slot.guestPhysicalAddress());
        Sys.ioctl(fd, KvmAbi.SET_USER_MEMORY_REGION, region, "KVM_SET_USER_MEMORY_REGION(slot " + slot.slot() + ")");
    }

    /** {@return the KVM device this VM came from} */
    public Kvm kvm() {
        return kvm;
    }

    /**
     * {@return guest-physical space: the byte at guest-physical address {@code a} is at offset
     * {@code a}; the MMIO hole between {@link #LOW_RAM_END} and {@link #HIGH_RAM_BASE} is
     * an inaccessible reservation (touching it crashes the process: check addresses
     * against {@link #layout()}). Valid until {@link #close()}.}
     */
    public MemorySegment memory() {
        return memory;
    }

    /**
     * {@return the memfd backing guest RAM (for another mapping of it, or userfaultfd); owned by
     * this VM. Its offsets are not guest-physical addresses above the hole: see
     * {@link #memfdOffset}.}
     */
    public int memoryFd() {
        return memfd;
    }

    /** {@return guest RAM in bytes, the hole excluded} */
    public long memoryBytes() {
        return memoryBytes;
    }

    /** {@return guest RAM in 4 KiB pages, the hole excluded} */
    public long pageCount() {
        return memoryBytes / PAGE_BYTES;
    }

    /** {@return the page frame number just past the last RAM page: the span a page set needs} */
    public long pageSpan() {
        return layout.pageSpan();
    }

    /** {@return the RAM regions as the engines see them: one per slot, guest-physical page numbers} */
    public MemoryLayout layout() {
        return layout;
    }

    /** {@return the KVM memory slots, by address} */
    public List<MemorySlot> slots() {
        return slots;
    }

    /**
     * {@return the byte offset of that page in the memfd}
     *
     * @param page a guest page frame number of RAM
     * @throws IndexOutOfBoundsException if the page is not RAM (in the hole, or past the end)
     */
    public long memfdOffset(long page) {
        MemorySlot slot = slotOf(page);
        return slot.memfdOffset() + (page - slot.firstPage()) * PAGE_BYTES;
    }

    private MemorySlot slotOf(long page) {
        for (MemorySlot slot : slots) {
            if (page >= slot.firstPage() && page < slot.endPage()) {
                return slot;
            }
        }
        throw new IndexOutOfBoundsException("page " + page + " is not guest RAM (" + layout.regions() + ")");
    }

    /**
     * The pages of guest RAM that hold data, found with {@code lseek(SEEK_DATA/SEEK_HOLE)} on the
     * memfd: a page never written is a hole, and is neither read nor allocated by this. One pair
     * of system calls per populated run (and per slot), whatever the size of the holes; memfd
     * offsets are translated to guest page frame numbers slot by slot.
     *
     * @return a new set of span {@link #pageSpan()}
     */
    public PageSet populatedPages() {
        PageSet populated = new PageSet(pageSpan());
        for (MemorySlot slot : slots) {
            long start = slot.memfdOffset();
            long size = start + slot.bytes();
            long offset = start;
            while (offset < size) {
                long data = Sys.seek(memfd, offset, Sys.SEEK_DATA);
                if (data < 0 || data >= size) {
                    break;
                }
                long hole = Math.min(size, Sys.seek(memfd, data, Sys.SEEK_HOLE));
                long first = (data - start) / PAGE_BYTES;
                long end = (hole - start + PAGE_BYTES - 1) / PAGE_BYTES;
                populated.addRange(slot.firstPage() + first, end - first);
                offset = start + end * PAGE_BYTES;
            }
        }
        return populated;
    }

    /**
     * Drops pages from the memfd (punches holes): they read as zeros afterwards and give their
     * memory back. The run may span slots; pages in the hole between them are skipped.
     *
     * @param firstPage the first guest page frame number
     * @param pageCount the pages, at least 1; the run's first and last pages must be RAM
     * @throws IndexOutOfBoundsException if they are not
     */
    public void discardPages(long firstPage, long pageCount) {
        slotOf(firstPage);
        slotOf(firstPage + pageCount - 1);
        for (MemorySlot slot : slots) {
            long from = Math.max(firstPage, slot.firstPage());
            long to = Math.min(firstPage + pageCount, slot.endPage());
            if (from < to) {
                Sys.punchHole(memfd, slot.memfdOffset() + (from - slot.firstPage()) * PAGE_BYTES,
                        (to - from) * PAGE_BYTES);
            }
        }
    }

    /** {@return whether KVM_CLEAR_DIRTY_LOG (manual dirty-log protection) is in use} */
    public boolean manualDirtyLogProtect() {
        return manualProtect;
    }

    /**
     * Creates vCPU {@code index} with the host's supported CPUID.
     *
     * @param index 0 for the first; each index once
     * @return the vCPU, closed with this VM
     */
    public synchronized KvmVcpu createVcpu(int index) {
        checkOpen();
        KvmVcpu vcpu = new KvmVcpu(this, index, Sys.ioctl(fd, KvmAbi.CREATE_VCPU, index, "KVM_CREATE_VCPU"));
        vcpus.add(vcpu);
        return vcpu;
    }

    /**
     * Turns KVM's dirty logging of guest RAM on or off, in every slot. Turning it on starts with a
     * clean log: the pages the VMM recorded before ({@link #vmmWrote}) are forgotten too.
     *
     * @param on true to start logging, false to stop
     */
    public synchronized void setDirtyLogging(boolean on) {
        checkOpen();
        if (on != dirtyLogging) {
            if (on) {
                vmmDirty.clear();
            }
            for (MemorySlot slot : slots) {
                setSlot(slot, on ? KvmAbi.MEM_LOG_DIRTY_PAGES : 0);
            }
            dirtyLogging = on;
        }
    }

    /**
     * Records that the VMM (not a vCPU) wrote guest RAM in {@code [guestPhysicalAddress, +bytes)}:
     * a device's DMA, which KVM's dirty log does not see. The next {@link #fetchDirtyLog} returns
     * those pages. Call it <em>after</em> the bytes are written, never before: a fetch between
     * the record and the write would hand the engine the page without the write.
     * Lock-free; any thread (a vCPU thread emulating a device, typically).
     *
     * @param bytes at least 0; 0 records nothing
     * @param guestPhysicalAddress the first byte written
     * @throws IndexOutOfBoundsException if the range is not inside guest-physical space
     */
    public void vmmWrote(long guestPhysicalAddress, long bytes) {
        if (bytes == 0) {
            return;
        }
        if (guestPhysicalAddress < 0 || bytes < 0 || guestPhysicalAddress > pageSpan() * PAGE_BYTES - bytes) {
            throw new IndexOutOfBoundsException("[" + guestPhysicalAddress + ", +" + bytes + ") is not guest-physical space");
        }
        long first = guestPhysicalAddress / PAGE_BYTES;
        long end = (guestPhysicalAddress + bytes + PAGE_BYTES - 1) / PAGE_BYTES;
        vmmDirty.mark(first, end - first);
    }

    /**
     * Fetches the pages guest vCPUs wrote since the last fetch (or since logging started), and
     * re-arms them so that the next write to each is logged again; with them, the pages the VMM
     * recorded as written ({@link #vmmWrote}) since the last fetch.
     *
     * @param words receives the bitmap over guest page frame numbers: bit {@code i % 64} of word
     *              {@code i / 64} for page {@code i}; at least {@code ceil(pageSpan / 64)} long.
     *              Every word is overwritten (the hole's with zero).
     * @return the number of dirty pages
     */
    public synchronized long fetchDirtyLog(long[] words) {
        int n = (int) ((pageSpan() + PAGES_PER_WORD - 1) / PAGES_PER_WORD);
        if (words.length < n) {
            throw new IllegalArgumentException("bitmap of " + words.length + " words, need " + n);
        }
        Arrays.fill(words, 0, n, 0L);
        return fetchDirtyLog((index, bits) -> words[index] = bits, (index, bits) -> words[index] |= bits,
                index -> words[index]);
    }

    /**
     * Fetches the pages guest vCPUs (and the VMM) wrote, as {@link #fetchDirtyLog(long[])} does,
     * and adds them to {@code into}, touching only its words that gain a page.
     *
     * @param into a set of span at least {@link #pageSpan()}
     * @return the number of dirty pages
     */
    public synchronized long fetchDirtyLog(PageSet into) {
        if (into.pageSpan() < pageSpan()) {
            throw new IllegalArgumentException("a page set of span " + into.pageSpan() + ", need " + pageSpan());
        }
        return fetchDirtyLog(into::orWord, into::orWord, into::word);
    }

    /**
     * KVM's log of each slot to {@code kvmSink}, then the VMM's pages to {@code vmmSink} (which
     * ORs: they may share words with KVM's). The count adds only the VMM's pages KVM did not
     * report, read back through {@code current}.
     */
    private long fetchDirtyLog(WordSink kvmSink, WordSink vmmSink, java.util.function.IntToLongFunction current) {
        checkOpen();
        if (!dirtyLogging) {
            throw new IllegalStateException("dirty logging is off");
        }
        long count = 0;
        for (int s = 0; s < slots.size(); s++) {
            count += fetchSlot(slots.get(s), bitmaps[s], kvmSink);
        }
        long[] added = {0};
        vmmDirty.drainInto((index, bits) -> {
            added[0] += Long.bitCount(bits & ~current.applyAsLong(index));
            vmmSink.accept(index, bits);
        });
        return count + added[0];
    }

    /** One slot's KVM_GET_DIRTY_LOG, its non-zero words to {@code sink}, and the clear of just those. */
    private long fetchSlot(MemorySlot slot, MemorySegment bitmap, WordSink sink) {
        MemorySegment log = getLog;
        log.set(JAVA_INT, 0, slot.slot());
        log.set(JAVA_LONG, 8, bitmap.address());
        Sys.ioctl(fd, KvmAbi.GET_DIRTY_LOG, log, "KVM_GET_DIRTY_LOG(slot " + slot.slot() + ")");
        int words = (int) ((slot.pageCount() + PAGES_PER_WORD - 1) / PAGES_PER_WORD);
        int base = (int) (slot.firstPage() / PAGES_PER_WORD);
        long count = 0;
        int firstDirty = -1;
        int lastDirty = -1;
        int wordsPerChunk = SKIP_CHUNK_BYTES / 8;
        for (int chunk = 0; chunk < words; chunk += wordsPerChunk) {
            long at = (long) chunk * 8;
            if (MemorySegment.mismatch(bitmap, at, at + SKIP_CHUNK_BYTES, ZERO_CHUNK, 0, SKIP_CHUNK_BYTES) < 0) {
                continue; // 32 768 clean pages
            }
            int end = Math.min(words, chunk + wordsPerChunk);
            for (int i = chunk; i < end; i++) {
                long w = bitmap.getAtIndex(JAVA_LONG, i);
                if (w != 0) {
                    sink.accept(base + i, w);
                    count += Long.bitCount(w);
                    if (firstDirty < 0) {
                        firstDirty = i;
                    }
                    lastDirty = i;
                }
            }
        }
        if (manualProtect && count > 0) {
            // Only the words that held a dirty page: KVM wants a first page that is a multiple of
            // 64, and a count that is too or that ends the slot.
            long firstPage = firstDirty * PAGES_PER_WORD;
            long endPage = Math.min(slot.pageCount(), (lastDirty + 1) * PAGES_PER_WORD);
            MemorySegment clear = clearLog;
            clear.set(JAVA_INT, 0, slot.slot());
            clear.set(JAVA_INT, 4, (int) (endPage - firstPage));
            clear.set(JAVA_LONG, 8, firstPage);
            clear.set(JAVA_LONG, 16, bitmap.address() + (long) firstDirty * 8);
            Sys.ioctl(fd, KvmAbi.CLEAR_DIRTY_LOG, clear, "KVM_CLEAR_DIRTY_LOG(slot " + slot.slot() + ")");
        }
        return count;
    }

    int fd() {
        checkOpen();
        return fd;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the VM is closed");
        }
    }

    /** Closes the vCPUs, the VM, and unmaps guest RAM. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        for (KvmVcpu v : vcpus) {
            v.close();
        }
        closed = true;
        Sys.close(fd);
        Sys.munmap(memory);
        Sys.close(memfd);
        arena.close();
    }
}
