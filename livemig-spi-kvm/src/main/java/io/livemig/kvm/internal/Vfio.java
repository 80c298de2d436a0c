package io.livemig.kvm.internal;

import io.livemig.kvm.KvmException;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The C library calls the VFIO binding makes, through java.lang.foreign: ioctl(2) on a device
 * or data fd, and read(2) and write(2) on a migration data fd. Each returns the result or
 * {@code -errno} (captured with {@link Linker.Option#captureCallState}), so that the caller
 * decides which errno is an answer (ENOMSG in pre-copy, ENOTTY for a missing feature) and which
 * a failure, which it reports with {@link #fail}. The request numbers and structs are
 * {@link VfioAbi}'s.
 *
 * <p>Thread-safe: the errno capture buffer is per thread.
 */
public final class Vfio {

    private static final Linker LINKER = Linker.nativeLinker();
    private static final Linker.Option ERRNO = Linker.Option.captureCallState("errno");
    private static final MemoryLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO_VALUE = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final ThreadLocal<MemorySegment> CAPTURED = ThreadLocal.withInitial(
            () -> Arena.global().allocate(CAPTURE));

    private static final MethodHandle IOCTL = LINKER.downcallHandle(LINKER.defaultLookup().findOrThrow("ioctl"),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), ERRNO, Linker.Option.firstVariadicArg(2));
    private static final MethodHandle READ = LINKER.downcallHandle(LINKER.defaultLookup().findOrThrow("read"),
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG), ERRNO);
    private static final MethodHandle WRITE = LINKER.downcallHandle(LINKER.defaultLookup().findOrThrow("write"),
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG), ERRNO);

    /** {@code EINTR}: interrupted by a signal; the call is repeated. */
    public static final int EINTR = 4;
    /** {@code EBADF}: not an open descriptor. */
    public static final int EBADF = 9;
    /** {@code EAGAIN}: nothing now (a non-blocking data fd). */
    public static final int EAGAIN = 11;
    /** {@code EINVAL}: the request or its argument is invalid here. */
    public static final int EINVAL = 22;
    /** {@code ENOTTY}: the fd does not know the request (not VFIO, or the feature is absent). */
    public static final int ENOTTY = 25;
    /** {@code ENOMSG}: a pre-copy data fd's temporary end of stream. */
    public static final int ENOMSG = 42;

    private Vfio() {
    }

    private static int errno() {
        return (int) ERRNO_VALUE.get(CAPTURED.get(), 0L);
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }

    /**
     * ioctl(2) with a pointer argument, repeated on EINTR.
     *
     * @param fd      the descriptor
     * @param request the request number, from {@link VfioAbi}
     * @param arg     the argument, in native memory
     * @return the non-negative result, or {@code -errno}
     */
    public static int ioctl(int fd, long request, MemorySegment arg) {
        try {
            while (true) {
                int r = (int) IOCTL.invokeExact(CAPTURED.get(), fd, request, arg);
                if (r >= 0) {
                    return r;
                }
                int e = errno();
                if (e != EINTR) {
                    return -e;
                }
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * read(2) into all of {@code into}, repeated on EINTR.
     *
     * @param fd   the descriptor
     * @param into native memory
     * @return the bytes read, 0 at the end of the stream, or {@code -errno}
     */
    public static long read(int fd, MemorySegment into) {
        try {
            while (true) {
                long n = (long) READ.invokeExact(CAPTURED.get(), fd, into, into.byteSize());
                if (n >= 0) {
                    return n;
                }
                int e = errno();
                if (e != EINTR) {
                    return -e;
                }
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * write(2) of all of {@code from}, once (the caller loops over short writes), repeated on
     * EINTR.
     *
     * @param fd   the descriptor
     * @param from native memory
     * @return the bytes written, or {@code -errno}
     */
    public static long write(int fd, MemorySegment from) {
        try {
            while (true) {
                long n = (long) WRITE.invokeExact(CAPTURED.get(), fd, from, from.byteSize());
                if (n >= 0) {
                    return n;
                }
                int e = errno();
                if (e != EINTR) {
                    return -e;
                }
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@return an exception naming the failed call, the errno and its text}
     *
     * @param call  the call, for example {@code VFIO_DEVICE_FEATURE(SET MIG_DEVICE_STATE)}
     * @param errno the errno it left
     */
    public static KvmException fail(String call, int errno) {
        return new KvmException(call, errno, Sys.strerror(errno));
    }

    /**
     * close(2).
     *
     * @param fd the descriptor, which the caller owns
     */
    public static void close(int fd) {
        Sys.close(fd);
    }
}
