package io.livemig.kvm;

import io.livemig.kvm.internal.Sys;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemorySink;
import io.livemig.spi.MemorySource;
import io.livemig.spi.PageSet;

import java.lang.foreign.MemorySegment;
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

    private final KvmVm vm;
    private final MemoryLayout layout;
    private final LongConsumer vmmWrote;

    /** @param vmmWrote told of every page written through this sink (the VMM's own writes) */
    KvmMemory(KvmVm vm, LongConsumer vmmWrote) {
        this.vm = vm;
        this.layout = vm.layout();
        this.vmmWrote = vmmWrote;
    }

    @Override
    public MemoryLayout layout() {
        return layout;
    }

    private MemorySegment pages(long firstPage, int pageCount) {
        if (!layout.containsRun(firstPage, pageCount)) {
            throw new IndexOutOfBoundsException("pages [" + firstPage + ", +" + pageCount + ") are not inside one "
                    + "region of guest RAM " + layout.regions());
        }
        return vm.memory().asSlice(firstPage * KvmVm.PAGE_BYTES, (long) pageCount * KvmVm.PAGE_BYTES);
    }

    @Override
    public void readPages(long firstPage, int pageCount, ByteBuffer destination) {
        MemorySegment from = pages(firstPage, pageCount);
        int at = destination.position();
        MemorySegment.ofBuffer(destination.duplicate().position(at).limit(at + (int) from.byteSize())).copyFrom(from);
        destination.position(at + (int) from.byteSize());
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
        MemorySegment to = pages(firstPage, pageCount);
        int at = source.position();
        to.copyFrom(MemorySegment.ofBuffer(source.duplicate().position(at).limit(at + (int) to.byteSize())));
        source.position(at + (int) to.byteSize());
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
        pages(firstPage, pageCount);
        vm.discardPages(firstPage, pageCount);
        for (int i = 0; i < pageCount; i++) {
            vmmWrote.accept(firstPage + i);
        }
    }
}
