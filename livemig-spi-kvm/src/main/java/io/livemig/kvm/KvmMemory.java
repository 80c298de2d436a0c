package io.livemig.kvm;

import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemorySink;
import io.livemig.spi.MemorySource;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.function.LongConsumer;

/**
 * Guest RAM of a {@link KvmVm} as the engines see it: one region of 4 KiB pages from 0. Reads
 * and writes copy between the guest's mapping and the engine's buffer (one copy, no
 * intermediate). Thread-safe: concurrent reads of any pages, as parallel encoders need.
 */
public final class KvmMemory implements MemorySource, MemorySink {

    private final KvmVm vm;
    private final MemoryLayout layout;
    private final LongConsumer vmmWrote;

    /** @param vmmWrote told of every page written through this sink (the VMM's own writes) */
    KvmMemory(KvmVm vm, LongConsumer vmmWrote) {
        this.vm = vm;
        this.layout = MemoryLayout.contiguous(KvmVm.PAGE_BYTES, vm.memoryBytes());
        this.vmmWrote = vmmWrote;
    }

    @Override
    public MemoryLayout layout() {
        return layout;
    }

    private MemorySegment pages(long firstPage, int pageCount) {
        if (firstPage < 0 || pageCount < 1 || firstPage + pageCount > vm.pageCount()) {
            throw new IndexOutOfBoundsException("pages [" + firstPage + ", +" + pageCount + ") outside the "
                    + vm.pageCount() + " pages of guest RAM");
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

    @Override
    public void zeroPages(long firstPage, int pageCount) {
        pages(firstPage, pageCount).fill((byte) 0);
        for (int i = 0; i < pageCount; i++) {
            vmmWrote.accept(firstPage + i);
        }
    }
}
