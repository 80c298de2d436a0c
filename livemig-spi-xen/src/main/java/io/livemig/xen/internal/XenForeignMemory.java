package io.livemig.xen.internal;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * libxenforeignmemory (soname {@value #SONAME}): mapping another domain's frames into this
 * process. Each method calls one function and throws a {@link io.livemig.xen.XenException}
 * naming it and errno where it fails. Instance handles for the reason {@link XenCtrl} gives.
 *
 * <p>Buffers: the frame and error arrays are read and written during the call only. A mapping
 * stays valid until {@link #unmap}; it is shared with the guest, so reads see its writes as
 * they happen. Thread-safe.
 */
public final class XenForeignMemory {

    /** The soname of libxenforeignmemory (Xen 4.17 ships version 1.4 under it). */
    public static final String SONAME = "libxenforeignmemory.so.1";

    private final String library;
    // xenforeignmemory_handle *xenforeignmemory_open(struct xentoollog_logger *logger, unsigned open_flags)
    private final MethodHandle open;
    // int xenforeignmemory_close(xenforeignmemory_handle *fmem)
    private final MethodHandle close;
    // void *xenforeignmemory_map(xenforeignmemory_handle *fmem, uint32_t dom, int prot, size_t pages,
    //     const xen_pfn_t arr[], int err[])
    private final MethodHandle map;
    // int xenforeignmemory_unmap(xenforeignmemory_handle *fmem, void *addr, size_t pages)
    private final MethodHandle unmap;

    private XenForeignMemory(String library) {
        SymbolLookup lib = Native.load(library);
        this.library = library;
        open = Native.bind(lib, library, "xenforeignmemory_open", FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT));
        close = Native.bind(lib, library, "xenforeignmemory_close", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        map = Native.bind(lib, library, "xenforeignmemory_map",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS));
        unmap = Native.bind(lib, library, "xenforeignmemory_unmap",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
    }

    /**
     * Loads libxenforeignmemory and binds its functions.
     *
     * @param library a soname or a file path
     * @throws IllegalArgumentException with one line if the library cannot be loaded or lacks a function
     */
    public static XenForeignMemory load(String library) {
        return new XenForeignMemory(library);
    }

    /** @return the library this table was loaded from */
    public String library() {
        return library;
    }

    /**
     * xenforeignmemory_open.
     *
     * @param logger the xentoollog_logger for the library's own messages
     * @return the handle, owned by the caller until {@link #close}
     */
    public MemorySegment open(MemorySegment logger) {
        try {
            MemorySegment c = Native.captured();
            MemorySegment h = (MemorySegment) open.invokeExact(c, logger, 0);
            if (h.equals(MemorySegment.NULL)) {
                throw Native.fail("xenforeignmemory_open", null, c);
            }
            return h;
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** xenforeignmemory_close; errors are ignored (the handle is gone either way). */
    public void close(MemorySegment fmem) {
        try {
            int ignored = (int) close.invokeExact(Native.captured(), fmem);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * xenforeignmemory_map: maps {@code pageCount} frames of {@code domid}, listed in
     * {@code pfns}, contiguously into this process.
     *
     * @param prot      {@link XenAbi#PROT_READ}, optionally with {@link XenAbi#PROT_WRITE}
     * @param pfns      {@code pageCount} xen_pfn_t
     * @param errors    {@code pageCount} ints: 0 where the frame was mapped, a negative errno where
     *                  it was not (a frame the domain does not have); such a page must not be touched
     * @return the mapping, {@code pageCount * 4096} bytes, until {@link #unmap}
     */
    public MemorySegment map(MemorySegment fmem, int domid, int prot, int pageCount, MemorySegment pfns,
                             MemorySegment errors) {
        try {
            MemorySegment c = Native.captured();
            MemorySegment p = (MemorySegment) map.invokeExact(c, fmem, domid, prot, (long) pageCount, pfns, errors);
            if (p.equals(MemorySegment.NULL)) {
                throw Native.fail("xenforeignmemory_map", "domain " + Integer.toUnsignedString(domid) + ", "
                        + pageCount + " pages", c);
            }
            return p.reinterpret((long) pageCount * XenAbi.PAGE_BYTES);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** xenforeignmemory_unmap of a whole mapping {@link #map} returned. */
    public void unmap(MemorySegment fmem, MemorySegment mapping) {
        try {
            MemorySegment c = Native.captured();
            int r = (int) unmap.invokeExact(c, fmem, mapping, mapping.byteSize() / XenAbi.PAGE_BYTES);
            if (r < 0) {
                throw Native.fail("xenforeignmemory_unmap", null, c);
            }
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }
}
