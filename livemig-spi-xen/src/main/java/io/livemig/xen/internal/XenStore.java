package io.livemig.xen.internal;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * libxenstore (soname {@value #SONAME}), read-only: the provider uses it for one thing, turning
 * a domain's name into its id, as the toolstack records names under
 * {@code /local/domain/<id>/name}. Each method calls one function and throws a
 * {@link io.livemig.xen.XenException} naming it and errno where it fails.
 *
 * <p>Buffers: xs_directory and xs_read return memory malloc'd by the library, which this class
 * copies and frees with libc's free before it returns. Thread-safe.
 */
public final class XenStore {

    /** The soname of Xen 4.17's libxenstore. */
    public static final String SONAME = "libxenstore.so.4";

    // struct xs_handle *xs_open(unsigned long flags)
    private final MethodHandle open;
    // void xs_close(struct xs_handle *xsh)
    private final MethodHandle close;
    // char **xs_directory(struct xs_handle *h, xs_transaction_t t, const char *path, unsigned int *num)
    private final MethodHandle directory;
    // void *xs_read(struct xs_handle *h, xs_transaction_t t, const char *path, unsigned int *len)
    private final MethodHandle read;

    private XenStore(String library) {
        SymbolLookup lib = Native.load(library);
        open = Native.bind(lib, library, "xs_open", FunctionDescriptor.of(ADDRESS, JAVA_LONG));
        close = Native.bind(lib, library, "xs_close", FunctionDescriptor.ofVoid(ADDRESS));
        directory = Native.bind(lib, library, "xs_directory",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
        read = Native.bind(lib, library, "xs_read", FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
    }

    /**
     * Loads libxenstore and binds its functions.
     *
     * @param library a soname or a file path
     * @throws IllegalArgumentException with one line if the library cannot be loaded or lacks a function
     */
    public static XenStore load(String library) {
        return new XenStore(library);
    }

    /**
     * Finds the domain the toolstack named {@code name}: reads {@code /local/domain}, then each
     * domain's {@code name} entry.
     *
     * @return its id, or empty if no domain has that name
     */
    public Optional<Integer> domainByName(String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment c = Native.captured();
            MemorySegment xsh = (MemorySegment) open.invokeExact(c, 0L);
            if (xsh.equals(MemorySegment.NULL)) {
                throw Native.fail("xs_open", null, c);
            }
            try {
                MemorySegment count = arena.allocate(JAVA_INT);
                List<String> ids = new ArrayList<>();
                MemorySegment list = (MemorySegment) directory.invokeExact(c, xsh, XenAbi.XBT_NULL,
                        arena.allocateFrom("/local/domain"), count);
                if (list.equals(MemorySegment.NULL)) {
                    throw Native.fail("xs_directory", "/local/domain", c);
                }
                int n = count.get(JAVA_INT, 0);
                MemorySegment entries = list.reinterpret((long) n * ADDRESS.byteSize());
                for (int i = 0; i < n; i++) {
                    ids.add(entries.getAtIndex(ADDRESS, i).reinterpret(Integer.MAX_VALUE).getString(0));
                }
                Native.free(list);
                for (String id : ids) {
                    MemorySegment length = arena.allocate(JAVA_INT);
                    MemorySegment value = (MemorySegment) read.invokeExact(c, xsh, XenAbi.XBT_NULL,
                            arena.allocateFrom("/local/domain/" + id + "/name"), length);
                    if (value.equals(MemorySegment.NULL)) {
                        continue; // a domain without a name, or one that went away meanwhile
                    }
                    String domainName = value.reinterpret(length.get(JAVA_INT, 0) + 1L).getString(0);
                    Native.free(value);
                    if (domainName.equals(name)) {
                        return Optional.of(Integer.parseUnsignedInt(id));
                    }
                }
                return Optional.empty();
            } finally {
                close.invokeExact(c, xsh);
            }
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }
}
