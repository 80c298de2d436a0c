package io.livemig.xen.internal;

import io.livemig.xen.XenException;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * What the three library tables share: loading a library by soname or path (once per name, for
 * the life of the process, as the dynamic linker does), binding a function with errno captured
 * through {@link Linker.Option#captureCallState}, and turning errno into a {@link XenException}.
 *
 * <p>Thread-safe: the errno capture buffer is per thread.
 */
public final class Native {

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final Linker.Option ERRNO = Linker.Option.captureCallState("errno");
    private static final MemoryLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO_VALUE = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final ThreadLocal<MemorySegment> CAPTURED = ThreadLocal.withInitial(
            () -> Arena.global().allocate(CAPTURE));
    private static final MethodHandle STRERROR = LINKER.downcallHandle(LIBC.findOrThrow("strerror"),
            FunctionDescriptor.of(ADDRESS, JAVA_INT));
    private static final MethodHandle FREE = LINKER.downcallHandle(LIBC.findOrThrow("free"),
            FunctionDescriptor.ofVoid(ADDRESS));
    private static final Map<String, SymbolLookup> LOADED = new ConcurrentHashMap<>();
    private static final Map<String, Object> ONCE = new ConcurrentHashMap<>();

    private Native() {
    }

    /**
     * Loads a library: a soname ({@code libxenctrl.so.4.17}) is found by the dynamic linker's
     * search path, a name with a slash is a file. Loaded libraries stay loaded.
     *
     * @throws IllegalArgumentException with one line naming the library if it cannot be loaded
     */
    static SymbolLookup load(String library) {
        return LOADED.computeIfAbsent(library, name -> {
            try {
                return name.indexOf('/') >= 0 ? SymbolLookup.libraryLookup(Path.of(name), Arena.global())
                        : SymbolLookup.libraryLookup(name, Arena.global());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(name + " cannot be loaded (" + e.getMessage() + ")", e);
            }
        });
    }

    /** @return the value {@code make} gave the first time it was asked for {@code key} */
    @SuppressWarnings("unchecked")
    static <T> T once(String key, java.util.function.Supplier<T> make) {
        return (T) ONCE.computeIfAbsent(key, k -> make.get());
    }

    /**
     * @return a handle for {@code function} of {@code library} whose first parameter is the errno
     *         capture segment ({@link #captured()})
     * @throws IllegalArgumentException if the library does not export the function
     */
    static MethodHandle bind(SymbolLookup lookup, String library, String function, FunctionDescriptor descriptor) {
        MemorySegment symbol = lookup.find(function).orElseThrow(
                () -> new IllegalArgumentException(library + " does not export " + function));
        return LINKER.downcallHandle(symbol, descriptor, ERRNO);
    }

    /** @return this thread's errno capture segment, to pass as a bound handle's first argument */
    static MemorySegment captured() {
        return CAPTURED.get();
    }

    /** @return the errno the last call through {@code captured} left */
    static int errno(MemorySegment captured) {
        return (int) ERRNO_VALUE.get(captured, 0L);
    }

    /** @return errno's text, as strerror gives it */
    public static String strerror(int errno) {
        try {
            MemorySegment s = (MemorySegment) STRERROR.invokeExact(errno);
            return s.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }

    /** @return the exception for {@code function} failing with the errno in {@code captured} */
    static XenException fail(String function, String subject, MemorySegment captured) {
        int errno = errno(captured);
        return new XenException(function, subject, errno, strerror(errno));
    }

    /** Releases memory a library allocated with malloc (xenstore's results). */
    static void free(MemorySegment pointer) {
        try {
            FREE.invokeExact(pointer);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }
}
