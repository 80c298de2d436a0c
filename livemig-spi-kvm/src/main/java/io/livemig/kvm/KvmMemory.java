package io.livemig.kvm;

import io.livemig.kvm.internal.Sys;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemorySink;
import io.livemig.spi.MemorySource;
import io.livemig.spi.PageSet;

import java.lang.foreign.MemorySegment;
import java.nio.BufferOverflowException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.util.Optional;
import java.util.function.LongConsumer;

/**
 * Guest RAM of a {@link KvmVm} as the engines see it: its regions of 4 KiB pages (one per KVM
 * memory slot, page numbers guest-physical, the MMIO hole below 4 GiB not RAM). Reads
 * and writes copy between the guest's mapping and the engine's buffer (one copy, no
 * intermediate). Guest RAM is a memfd whose never-written pages are holes: they cost nothing
 * until touched, {@link #populatedPages()} finds the rest without touching them, and
 * {@link #zeroPages} punches holes rather than writing zeros. Thread-safe: concurrent reads of any pages, as parallel encoders need.
 */
public final class KvmMemory implements MemorySource, MemorySink {

    /** Guest-physical space per {@link #views} buffer (1 GiB, a whole number of pages). */
    private static final int VIEW_SHIFT = 30;

    private final KvmVm vm;
    private final MemoryLayout layout;
    private final LongConsumer vmmWrote;
    /**
     * Guest-physical space as direct buffers of 1 GiB each (the last shorter), made once: reads
     * and writes copy with their absolute bulk methods, which change no buffer's state (so any
     * number of threads may use them at once) and allocate nothing, where a segment per call
     * was most of a migration's garbage (and its garbage collections, which can fall inside the
     * downtime). The mapping's address never changes (a post-copy memfd swap keeps it).
     */
    private final ByteBuffer[] views;

    /** @param vmmWrote told of every page written through this sink (the VMM's own writes) */
    KvmMemory(KvmVm vm, LongConsumer vmmWrote) {
        this.vm = vm;
        this.layout = vm.layout();
        this.vmmWrote = vmmWrote;
        MemorySegment space = vm.memory();
        this.views = new ByteBuffer[(int) ((space.byteSize() + (1L << VIEW_SHIFT) - 1) >>> VIEW_SHIFT)];
        for (int i = 0; i < views.length; i++) {
            long from = (long) i << VIEW_SHIFT;
            views[i] = space.asSlice(from, Math.min(1L << VIEW_SHIFT, space.byteSize() - from)).asByteBuffer();
        }
    }

    @Override
    public MemoryLayout layout() {
        return layout;
    }

    private void checkRun(long firstPage, int pageCount) {
        if (!layout.containsRun(firstPage, pageCount)) {
            throw new IndexOutOfBoundsException("pages [" + firstPage + ", +" + pageCount + ") are not inside one "
                    + "region of guest RAM " + layout.regions());
        }
    }

    @Override
    public void readPages(long firstPage, int pageCount, ByteBuffer destination) {
        checkRun(firstPage, pageCount);
        copy(firstPage * KvmVm.PAGE_BYTES, (long) pageCount * KvmVm.PAGE_BYTES, destination, false);
    }

    /**
     * Copies {@code bytes} between guest-physical address {@code address} and {@code buffer} at
     * its position, which moves past them; into guest RAM if {@code toGuest}.
     */
    private void copy(long address, long runBytes, ByteBuffer buffer, boolean toGuest) {
        if (runBytes > buffer.remaining()) {
            throw toGuest ? new BufferUnderflowException() : new BufferOverflowException();
        }
        int bytes = (int) runBytes;
        int at = buffer.position();
        int done = 0;
        while (done < bytes) {
            long a = address + done;
            ByteBuffer view = views[(int) (a >>> VIEW_SHIFT)];
            int offset = (int) (a & ((1L << VIEW_SHIFT) - 1));
            int n = Math.min(bytes - done, view.capacity() - offset);
            if (toGuest) {
                view.put(offset, buffer, at + done, n);
            } else {
                buffer.put(at + done, view, offset, n);
            }
            done += n;
        }
        buffer.position(at + bytes);
    }

    /**
     * The pages of the memfd that hold data, found with {@code lseek(SEEK_DATA/SEEK_HOLE)}: a page
     * the guest (or the VMM) never wrote is a hole of the memfd, and is neither read nor
     * allocated by this. One pair of system calls per populated run (and per slot), whatever the
     * size of the holes; memfd offsets are translated to guest page frame numbers slot by slot.
     */
    @Override
    public Optional<PageSet> populatedPages() {
        return Optional.of(vm.populatedPages());
    }

    /** {@return the bytes of guest RAM the memfd has allocated (what populating cost)} */
    public long allocatedBytes() {
        return Sys.allocatedBytes(vm.memoryFd());
    }

    @Override
    public void writePages(long firstPage, int pageCount, ByteBuffer source) {
        checkRun(firstPage, pageCount);
        copy(firstPage * KvmVm.PAGE_BYTES, (long) pageCount * KvmVm.PAGE_BYTES, source, true);
        for (int i = 0; i < pageCount; i++) {
            vmmWrote.accept(firstPage + i);
        }
    }

    /**
     * Zeroes by punching a hole in the memfd: the pages read as zero afterwards and give their
     * memory back, where writing zeros would allocate them (a new target's RAM is all holes).
     */
    @Override
    public void zeroPages(long firstPage, int pageCount) {
        checkRun(firstPage, pageCount);
        vm.discardPages(firstPage, pageCount);
        for (int i = 0; i < pageCount; i++) {
            vmmWrote.accept(firstPage + i);
        }
    }
}
