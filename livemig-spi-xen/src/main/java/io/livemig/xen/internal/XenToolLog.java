package io.livemig.xen.internal;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * libxentoollog (soname {@value #SONAME}): the logger the Xen libraries write their own messages
 * to. Given none, libxenctrl and libxenforeignmemory print every error to stderr themselves,
 * which would say twice what the provider's exceptions already say (function, errno). The
 * provider hands them {@link #quietLogger()} instead: a stderr logger that lets only
 * {@code XTL_CRITICAL} messages through.
 *
 * <p>The logger is made once per library and never destroyed (the handles that use it may live
 * as long as the process). Thread-safe.
 */
public final class XenToolLog {

    /** The soname of libxentoollog. */
    public static final String SONAME = "libxentoollog.so.1";

    /** xentoollog.h: enum xentoollog_level's XTL_CRITICAL. */
    public static final int XTL_CRITICAL = 9;

    private final MemorySegment logger;

    private XenToolLog(String library) {
        SymbolLookup lib = Native.load(library);
        // xentoollog_logger_stdiostream *xtl_createlogger_stdiostream(FILE *f, xentoollog_level min_level, unsigned flags)
        MethodHandle create = Native.bind(lib, library, "xtl_createlogger_stdiostream",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT, JAVA_INT));
        // glibc's "FILE *stderr" is a variable: read the pointer it holds.
        MemorySegment stderr = Linker.nativeLinker().defaultLookup().findOrThrow("stderr").reinterpret(ADDRESS.byteSize())
                .get(ADDRESS, 0);
        try {
            MemorySegment c = Native.captured();
            MemorySegment l = (MemorySegment) create.invokeExact(c, stderr, XTL_CRITICAL, 0);
            if (l.equals(MemorySegment.NULL)) {
                throw Native.fail("xtl_createlogger_stdiostream", null, c);
            }
            this.logger = l;
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * Loads libxentoollog and makes its quiet logger, once per library.
     *
     * @param library a soname or a file path
     * @throws IllegalArgumentException with one line if the library cannot be loaded or lacks a function
     */
    public static XenToolLog load(String library) {
        return Native.once(library + "#xentoollog", () -> new XenToolLog(library));
    }

    /** @return a {@code xentoollog_logger *} for the libraries' open functions, valid for the life of the process */
    public MemorySegment quietLogger() {
        return logger;
    }
}
