package io.livemig.xen;

import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.MemorySink;
import io.livemig.spi.MemorySource;
import io.livemig.xen.internal.XenAbi;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A domain's guest-physical memory through foreign mappings (libxenforeignmemory), as the
 * engines read it on the source and write it on the target.
 *
 * <p><b>Mappings.</b> The guest frame space is mapped in batches of {@value #CHUNK_PAGES} frames
 * (4 MiB), one xenforeignmemory_map call each, when the handle is made, and kept until
 * {@link #close()}, as QEMU's map cache keeps guest memory mapped in dom0: a page read is then a
 * copy from a mapping, with no call into Xen. A batch in which no frame is RAM is unmapped at
 * once. Frames Xen refuses to map (the per-frame error array) are holes in the
 * {@link MemoryLayout}, and are never touched: on a real host touching one faults.
 *
 * <p><b>Safety.</b> The mappings' segments belong to a shared {@link Arena} closed before they
 * are unmapped, so a read racing {@link #close()} fails with an exception instead of touching an
 * unmapped address.
 *
 * <p>Thread-safe: concurrent reads and writes of any pages, as parallel encoders and decoders
 * need. Owned by its {@link XenDomain}.
 */
final class XenMemory implements MemorySource, MemorySink, AutoCloseable {

    /** Frames per xenforeignmemory_map call: 4 MiB. */
    static final int CHUNK_PAGES = 1024;

    private final XenHost host;
    private final MemoryLayout layout;
    private final MemorySegment[] chunks;
    private final List<MemorySegment> raw = new ArrayList<>();
    private final Arena arena = Arena.ofShared();
    private boolean closed;

    private XenMemory(XenHost host, MemoryLayout layout, MemorySegment[] chunks, List<MemorySegment> raw) {
        this.host = host;
        this.layout = layout;
        this.chunks = chunks;
        this.raw.addAll(raw);
        for (int i = 0; i < chunks.length; i++) {
            if (chunks[i] != null) {
                chunks[i] = chunks[i].reinterpret(arena, null);
            }
        }
    }

    /**
     * Maps a running domain's frames {@code [0, maxGpfn]} read-only and derives its layout from
     * which frames Xen mapped: runs of mapped frames are regions, the rest holes.
     *
     * @throws XenException if a mapping call fails as a whole
     * @throws IllegalStateException if the domain has no RAM at all
     */
    static XenMemory probe(XenHost host, int domid, long maxGpfn) {
        long span = maxGpfn + 1;
        int chunkCount = (int) ((span + CHUNK_PAGES - 1) / CHUNK_PAGES);
        MemorySegment[] chunks = new MemorySegment[chunkCount];
        List<MemorySegment> raw = new ArrayList<>();
        List<MemoryRegion> regions = new ArrayList<>();
        long runStart = -1;
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment pfns = scratch.allocate(JAVA_LONG, CHUNK_PAGES);
            MemorySegment errors = scratch.allocate(JAVA_INT, CHUNK_PAGES);
            for (int c = 0; c < chunkCount; c++) {
                long first = (long) c * CHUNK_PAGES;
                int n = (int) Math.min(CHUNK_PAGES, span - first);
                MemorySegment mapping = mapChunk(host, domid, XenAbi.PROT_READ, first, n, pfns, errors);
                boolean any = false;
                for (int i = 0; i < n; i++) {
                    boolean ram = errors.getAtIndex(JAVA_INT, i) == 0;
                    any |= ram;
                    if (ram && runStart < 0) {
                        runStart = first + i;
                    } else if (!ram && runStart >= 0) {
                        regions.add(new MemoryRegion(runStart, first + i - runStart));
                        runStart = -1;
                    }
                }
                if (any) {
                    chunks[c] = mapping;
                    raw.add(mapping);
                } else {
                    host.foreignMemory().unmap(host.fmem(), mapping);
                }
            }
        } catch (RuntimeException e) {
            for (MemorySegment m : raw) {
                host.foreignMemory().unmap(host.fmem(), m);
            }
            throw e;
        }
        if (runStart >= 0) {
            regions.add(new MemoryRegion(runStart, span - runStart));
        }
        if (regions.isEmpty()) {
            throw new IllegalStateException("domain " + domid + " has no mappable RAM in frames [0, " + span + ")");
        }
        return new XenMemory(host, new MemoryLayout(XenAbi.PAGE_BYTES, regions), chunks, raw);
    }

    /**
     * Maps every frame of {@code layout} of a domain whose memory was populated, read-write.
     *
     * @throws XenException if a mapping call fails, or Xen refuses a frame of the layout
     */
    static XenMemory mapPopulated(XenHost host, int domid, MemoryLayout layout) {
        long span = layout.pageSpan();
        int chunkCount = (int) ((span + CHUNK_PAGES - 1) / CHUNK_PAGES);
        MemorySegment[] chunks = new MemorySegment[chunkCount];
        List<MemorySegment> raw = new ArrayList<>();
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment pfns = scratch.allocate(JAVA_LONG, CHUNK_PAGES);
            MemorySegment errors = scratch.allocate(JAVA_INT, CHUNK_PAGES);
            for (int c = 0; c < chunkCount; c++) {
                long first = (long) c * CHUNK_PAGES;
                int n = (int) Math.min(CHUNK_PAGES, span - first);
                boolean any = false;
                for (int i = 0; i < n && !any; i++) {
                    any = layout.contains(first + i);
                }
                if (!any) {
                    continue;
                }
                MemorySegment mapping = mapChunk(host, domid, XenAbi.PROT_READ | XenAbi.PROT_WRITE, first, n, pfns,
                        errors);
                raw.add(mapping);
                chunks[c] = mapping;
                for (int i = 0; i < n; i++) {
                    int error = errors.getAtIndex(JAVA_INT, i);
                    if (error != 0 && layout.contains(first + i)) {
                        throw new XenException("xenforeignmemory_map", "domain " + domid + ", frame " + (first + i),
                                -error, io.livemig.xen.internal.Native.strerror(-error));
                    }
                }
            }
        } catch (RuntimeException e) {
            for (MemorySegment m : raw) {
                host.foreignMemory().unmap(host.fmem(), m);
            }
            throw e;
        }
        return new XenMemory(host, layout, chunks, raw);
    }

    private static MemorySegment mapChunk(XenHost host, int domid, int prot, long first, int n, MemorySegment pfns,
                                          MemorySegment errors) {
        for (int i = 0; i < n; i++) {
            pfns.setAtIndex(JAVA_LONG, i, first + i);
            errors.setAtIndex(JAVA_INT, i, 0);
        }
        return host.foreignMemory().map(host.fmem(), domid, prot, n, pfns, errors);
    }

    @Override
    public MemoryLayout layout() {
        return layout;
    }

    private void check(long firstPage, int pageCount) {
        if (!layout.containsRun(firstPage, pageCount)) {
            throw new IndexOutOfBoundsException("pages [" + firstPage + ", +" + pageCount
                    + ") are not inside one RAM region of " + layout.regions());
        }
    }

    @Override
    public void readPages(long firstPage, int pageCount, ByteBuffer destination) {
        check(firstPage, pageCount);
        long bytes = (long) pageCount * XenAbi.PAGE_BYTES;
        int at = destination.position();
        MemorySegment to = MemorySegment.ofBuffer(destination.duplicate().position(at).limit(
                Math.addExact(at, (int) bytes)));
        copy(firstPage, pageCount, to, true);
        destination.position(at + (int) bytes);
    }

    @Override
    public void writePages(long firstPage, int pageCount, ByteBuffer source) {
        check(firstPage, pageCount);
        long bytes = (long) pageCount * XenAbi.PAGE_BYTES;
        int at = source.position();
        MemorySegment from = MemorySegment.ofBuffer(source.duplicate().position(at).limit(Math.addExact(at, (int) bytes)));
        copy(firstPage, pageCount, from, false);
        source.position(at + (int) bytes);
    }

    @Override
    public void zeroPages(long firstPage, int pageCount) {
        check(firstPage, pageCount);
        long page = firstPage;
        long end = firstPage + pageCount;
        while (page < end) {
            int chunk = (int) (page / CHUNK_PAGES);
            long inChunk = Math.min(end, (long) (chunk + 1) * CHUNK_PAGES) - page;
            chunks[chunk].asSlice((page % CHUNK_PAGES) * XenAbi.PAGE_BYTES, inChunk * XenAbi.PAGE_BYTES).fill((byte) 0);
            page += inChunk;
        }
    }

    /** Copies a run between guest memory and {@code buffer}, chunk by chunk; the run lies in one region. */
    private void copy(long firstPage, int pageCount, MemorySegment buffer, boolean fromGuest) {
        long page = firstPage;
        long end = firstPage + pageCount;
        long offset = 0;
        while (page < end) {
            int chunk = (int) (page / CHUNK_PAGES);
            long bytes = (Math.min(end, (long) (chunk + 1) * CHUNK_PAGES) - page) * XenAbi.PAGE_BYTES;
            long guestOffset = (page % CHUNK_PAGES) * XenAbi.PAGE_BYTES;
            if (fromGuest) {
                MemorySegment.copy(chunks[chunk], guestOffset, buffer, offset, bytes);
            } else {
                MemorySegment.copy(buffer, offset, chunks[chunk], guestOffset, bytes);
            }
            offset += bytes;
            page += bytes / XenAbi.PAGE_BYTES;
        }
    }

    /** Closes the segments, then unmaps every mapping. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        arena.close();
        RuntimeException failure = null;
        for (MemorySegment m : raw) {
            try {
                host.foreignMemory().unmap(host.fmem(), m);
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }
}
