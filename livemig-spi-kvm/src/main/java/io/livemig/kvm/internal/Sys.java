package io.livemig.kvm.internal;

import io.livemig.kvm.KvmException;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The C library calls the KVM binding needs, through java.lang.foreign: file descriptors,
 * ioctl, memory mappings, and the per-thread signal mask that lets another thread kick a vCPU
 * out of {@code KVM_RUN}. Every call that can fail captures errno and throws a
 * {@link KvmException} naming the call, the errno and its text.
 *
 * <p>Thread-safe: the errno capture buffer is per thread.
 */
public final class Sys {

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final Linker.Option ERRNO = Linker.Option.captureCallState("errno");
    private static final MemoryLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO_VALUE = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final ThreadLocal<MemorySegment> CAPTURED = ThreadLocal.withInitial(
            () -> Arena.global().allocate(CAPTURE));

    public static final int O_RDWR = 2;
    public static final int O_CLOEXEC = 0x80000;
    public static final int PROT_READ = 1;
    public static final int PROT_WRITE = 2;
    /** No access: a reservation of address space. */
    public static final int PROT_NONE = 0;
    public static final int MAP_FIXED = 0x10;
    public static final int MAP_SHARED = 1;
    public static final int MAP_PRIVATE = 2;
    public static final int MAP_ANONYMOUS = 0x20;
    public static final int MAP_NORESERVE = 0x4000;
    public static final int MFD_CLOEXEC = 1;
    public static final int EINTR = 4;
    public static final int EAGAIN = 11;
    public static final int EEXIST = 17;
    public static final int SIG_BLOCK = 0;
    /** glibc's sigset_t. */
    public static final int SIGSET_BYTES = 128;

    private static final MethodHandle OPEN = errno("open", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle CLOSE = errno("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle IOCTL_LONG = LINKER.downcallHandle(LIBC.findOrThrow("ioctl"),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG), ERRNO, Linker.Option.firstVariadicArg(2));
    private static final MethodHandle IOCTL_PTR = LINKER.downcallHandle(LIBC.findOrThrow("ioctl"),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), ERRNO, Linker.Option.firstVariadicArg(2));
    private static final MethodHandle MMAP = errno("mmap",
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle MUNMAP = errno("munmap", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle MEMFD_CREATE = errno("memfd_create",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle FTRUNCATE = errno("ftruncate", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle STRERROR = LINKER.downcallHandle(LIBC.findOrThrow("strerror"),
            FunctionDescriptor.of(ADDRESS, JAVA_INT));
    private static final MethodHandle PTHREAD_SELF = LINKER.downcallHandle(LIBC.findOrThrow("pthread_self"),
            FunctionDescriptor.of(JAVA_LONG));
    private static final MethodHandle PTHREAD_KILL = LINKER.downcallHandle(LIBC.findOrThrow("pthread_kill"),
            FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT));
    private static final MethodHandle PTHREAD_SIGMASK = LINKER.downcallHandle(LIBC.findOrThrow("pthread_sigmask"),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle SIGEMPTYSET = LINKER.downcallHandle(LIBC.findOrThrow("sigemptyset"),
            FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle SIGADDSET = LINKER.downcallHandle(LIBC.findOrThrow("sigaddset"),
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SIGDELSET = LINKER.downcallHandle(LIBC.findOrThrow("sigdelset"),
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SIGTIMEDWAIT = errno("sigtimedwait",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
    private static final MethodHandle SIGACTION = errno("sigaction",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MemorySegment GETPID = LIBC.findOrThrow("getpid");
    private static final MethodHandle SYSCALL_1 = LINKER.downcallHandle(LIBC.findOrThrow("syscall"),
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG), ERRNO, Linker.Option.firstVariadicArg(1));
    private static final MethodHandle READ = errno("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle POLL = errno("poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle FALLOCATE = errno("fallocate",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle LSEEK = errno("lseek", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT));
    private static final MethodHandle FSTAT = errno("fstat", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
    /** mremap(2), variadic after flags: the fifth argument, new_address, is read only with MREMAP_FIXED. */
    private static final MethodHandle MREMAP = LINKER.downcallHandle(LIBC.findOrThrow("mremap"),
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS), ERRNO,
            Linker.Option.firstVariadicArg(4));
    private static final MethodHandle MINCORE = errno("mincore", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS));
    private static final MethodHandle DUP3 = errno("dup3", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    /** mremap(2) flags (linux/mman.h). */
    private static final int MREMAP_MAYMOVE = 1;
    private static final int MREMAP_FIXED = 2;
    private static final int MREMAP_DONTUNMAP = 4;
    /** lseek(2) whence: the next offset holding data / the next hole (Linux 3.1+, tmpfs 3.8+). */
    public static final int SEEK_DATA = 3;
    public static final int SEEK_HOLE = 4;
    public static final int ENXIO = 6;
    /** struct stat on x86_64 (asm/stat.h): 144 bytes, st_blocks (512-byte units) at offset 64. */
    private static final long STAT_BYTES = 144;
    private static final long STAT_BLOCKS_OFFSET = 64;
    private static final MethodHandle GETTID = LINKER.downcallHandle(LIBC.findOrThrow("gettid"),
            FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle SIGRTMIN = LINKER.downcallHandle(LIBC.findOrThrow("__libc_current_sigrtmin"),
            FunctionDescriptor.of(JAVA_INT));

    private Sys() {
    }

    private static MethodHandle errno(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(LIBC.findOrThrow(name), fd, ERRNO);
    }

    private static int lastErrno(MemorySegment captured) {
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

    private static KvmException fail(String call, int errno) {
        return new KvmException(call, errno, strerror(errno));
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

    /** open(2) with O_RDWR | O_CLOEXEC. */
    public static int open(String path) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = CAPTURED.get();
            int fd = (int) OPEN.invokeExact(c, a.allocateFrom(path), O_RDWR | O_CLOEXEC);
            if (fd < 0) {
                throw fail("open(" + path + ")", lastErrno(c));
            }
            return fd;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** close(2); errors are ignored but for EBADF, which means a bug. */
    public static void close(int fd) {
        try {
            MemorySegment c = CAPTURED.get();
            int r = (int) CLOSE.invokeExact(c, fd);
            if (r < 0 && lastErrno(c) == 9) {
                throw fail("close(" + fd + ")", 9);
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * ioctl(2) with an integer argument.
     *
     * @param name the request's name, for the error
     * @return the non-negative result
     */
    public static int ioctl(int fd, long request, long arg, String name) {
        int r = ioctlRaw(fd, request, arg);
        if (r < 0) {
            throw fail(name, -r);
        }
        return r;
    }

    /** ioctl(2) with an integer argument; returns the result or {@code -errno}, never throws for errno. */
    public static int ioctlRaw(int fd, long request, long arg) {
        try {
            MemorySegment c = CAPTURED.get();
            int r = (int) IOCTL_LONG.invokeExact(c, fd, request, arg);
            return r < 0 ? -lastErrno(c) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** ioctl(2) with a pointer argument. */
    public static int ioctl(int fd, long request, MemorySegment arg, String name) {
        int r = ioctlRaw(fd, request, arg);
        if (r < 0) {
            throw fail(name, -r);
        }
        return r;
    }

    /** ioctl(2) with a pointer argument; returns the result or {@code -errno}. */
    public static int ioctlRaw(int fd, long request, MemorySegment arg) {
        try {
            MemorySegment c = CAPTURED.get();
            int r = (int) IOCTL_PTR.invokeExact(c, fd, request, arg);
            return r < 0 ? -lastErrno(c) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** mmap(2); the segment has {@code length} bytes and must be {@link #munmap}ped. */
    public static MemorySegment mmap(long length, int prot, int flags, int fd, long offset, String what) {
        try {
            MemorySegment c = CAPTURED.get();
            MemorySegment p = (MemorySegment) MMAP.invokeExact(c, MemorySegment.NULL, length, prot, flags, fd, offset);
            if (p.address() == -1L) {
                throw fail("mmap(" + what + ", " + length + " bytes)", lastErrno(c));
            }
            return p.reinterpret(length);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * mmap(2) with {@code MAP_FIXED} at {@code at}: replaces whatever was mapped there (a part of a
     * reservation this process made, never anything else).
     *
     * @param at the address; the segment returned has {@code length} bytes from it
     */
    public static MemorySegment mmapAt(MemorySegment at, long length, int prot, int flags, int fd, long offset,
                                       String what) {
        try {
            MemorySegment c = CAPTURED.get();
            MemorySegment p = (MemorySegment) MMAP.invokeExact(c, at, length, prot, flags | MAP_FIXED, fd, offset);
            if (p.address() == -1L) {
                throw fail("mmap(" + what + ", " + length + " bytes at 0x" + Long.toHexString(at.address()) + ")",
                        lastErrno(c));
            }
            return p.reinterpret(length);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** munmap(2). */
    public static void munmap(MemorySegment mapping) {
        try {
            MemorySegment c = CAPTURED.get();
            int r = (int) MUNMAP.invokeExact(c, mapping, mapping.byteSize());
            if (r < 0) {
                throw fail("munmap", lastErrno(c));
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** memfd_create(2) and ftruncate(2) to {@code size}: an anonymous file to back guest RAM. */
    public static int memfd(String name, long size) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = CAPTURED.get();
            int fd = (int) MEMFD_CREATE.invokeExact(c, a.allocateFrom(name), MFD_CLOEXEC);
            if (fd < 0) {
                throw fail("memfd_create", lastErrno(c));
            }
            int r = (int) FTRUNCATE.invokeExact(c, fd, size);
            if (r < 0) {
                int e = lastErrno(c);
                close(fd);
                throw fail("ftruncate(memfd, " + size + ")", e);
            }
            return fd;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * The alignment of the address ranges that move whole page tables: an x86-64 page-upper-
     * directory entry maps 1 GiB. When both ends of an {@code mremap} are aligned to it, the kernel
     * moves one entry per GiB instead of one page-table entry per page (each page table's worth
     * followed by a TLB flush, an interrupt to every other CPU running a thread of this process):
     * 0.4 ms instead of 1.5-10 ms for 1 GiB of populated guest RAM, measured here.
     */
    public static final long PAGE_TABLE_ALIGNMENT = 1L << 30;

    /**
     * Reserves address space, inaccessible and backed by nothing, whose start is a multiple of
     * {@code alignment}: the caller maps into it with {@link #mmapAt} or moves a mapping there.
     *
     * @param bytes     the size, a multiple of 4 KiB
     * @param alignment a power of two, at least 4 KiB
     * @param what      what it is for, for the error message
     * @return the reservation, which the caller must {@link #munmap}
     */
    public static MemorySegment reserveAligned(long bytes, long alignment, String what) {
        if (Long.bitCount(alignment) != 1 || alignment < 4096 || bytes <= 0 || bytes % 4096 != 0) {
            throw new IllegalArgumentException("reserve " + bytes + " bytes aligned to " + alignment);
        }
        MemorySegment wide = mmap(bytes + alignment, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0,
                what);
        long start = (wide.address() + alignment - 1) & -alignment;
        long head = start - wide.address();
        long tail = alignment - head;
        if (head > 0) {
            munmap(wide.asSlice(0, head));
        }
        if (tail > 0) {
            munmap(wide.asSlice(head + bytes, tail));
        }
        return MemorySegment.ofAddress(start).reinterpret(bytes);
    }

    /**
     * mremap(2) with {@code MREMAP_MAYMOVE | MREMAP_DONTUNMAP | MREMAP_FIXED} (Linux 5.13+ for
     * shared mappings): moves the pages mapped in {@code mapping} (their page-table entries, not
     * their contents) to {@code at}, replacing the reservation there, and leaves {@code mapping}
     * mapped to the same file with no page present, so that its next access faults. No page is
     * freed or copied; with both addresses aligned to {@link #PAGE_TABLE_ALIGNMENT} the kernel
     * moves whole page tables.
     *
     * @param mapping a shared mapping of this process
     * @param at      a reservation of {@code mapping.byteSize()} bytes this process made
     * @return the moved pages' mapping at {@code at}, which the caller must {@link #munmap}
     */
    public static MemorySegment moveMappedPages(MemorySegment mapping, MemorySegment at) {
        try {
            MemorySegment c = CAPTURED.get();
            MemorySegment p = (MemorySegment) MREMAP.invokeExact(c, mapping, mapping.byteSize(), mapping.byteSize(),
                    MREMAP_MAYMOVE | MREMAP_DONTUNMAP | MREMAP_FIXED, at);
            if (p.address() == -1L) {
                throw fail("mremap(MREMAP_DONTUNMAP, " + mapping.byteSize() + " bytes)", lastErrno(c));
            }
            return p.reinterpret(mapping.byteSize());
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * mremap(2) with {@code MREMAP_MAYMOVE | MREMAP_FIXED}: moves {@code mapping} to {@code at},
     * atomically replacing whatever was mapped there (which the caller owns).
     *
     * @return the mapping at its new address
     */
    public static MemorySegment moveMapping(MemorySegment mapping, MemorySegment at) {
        try {
            MemorySegment c = CAPTURED.get();
            MemorySegment p = (MemorySegment) MREMAP.invokeExact(c, mapping, mapping.byteSize(), mapping.byteSize(),
                    MREMAP_MAYMOVE | MREMAP_FIXED, at);
            if (p.address() == -1L) {
                throw fail("mremap(MREMAP_FIXED, " + mapping.byteSize() + " bytes)", lastErrno(c));
            }
            return p.reinterpret(mapping.byteSize());
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * mincore(2): which pages of {@code range} are resident. For a shared file mapping that is
     * whether the file holds the page (in the page cache), mapped here or not; a hole is not
     * resident. Reads and allocates no page.
     *
     * @param range    page-aligned memory of this process
     * @param residency one byte per page of {@code range}, written by the kernel (bit 0: resident)
     */
    public static void mincore(MemorySegment range, MemorySegment residency) {
        if (residency.byteSize() < (range.byteSize() + 4095) / 4096) {
            throw new IllegalArgumentException("mincore needs a byte per page, got " + residency.byteSize());
        }
        try {
            MemorySegment c = CAPTURED.get();
            if ((int) MINCORE.invokeExact(c, range, range.byteSize(), residency) < 0) {
                throw fail("mincore", lastErrno(c));
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * dup3(2) with {@code O_CLOEXEC}: makes descriptor {@code to} refer to what {@code from} refers
     * to, atomically closing what {@code to} referred to; {@code to} stays close-on-exec.
     */
    public static void dup3(int from, int to) {
        try {
            MemorySegment c = CAPTURED.get();
            if ((int) DUP3.invokeExact(c, from, to, O_CLOEXEC) < 0) {
                throw fail("dup3", lastErrno(c));
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** @return the calling thread's pthread_t */
    public static long pthreadSelf() {
        try {
            return (long) PTHREAD_SELF.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** pthread_kill(3): queues {@code signal} for one thread. */
    public static void pthreadKill(long thread, int signal) {
        try {
            int r = (int) PTHREAD_KILL.invokeExact(thread, signal);
            if (r != 0) {
                throw fail("pthread_kill", r);
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** @return the first real-time signal number glibc leaves to applications */
    public static int sigrtmin() {
        try {
            return (int) SIGRTMIN.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * Blocks {@code signal} in the calling thread.
     *
     * @return the thread's signal mask after the change, without {@code signal}: the mask to run
     *         KVM_RUN with, so that the signal interrupts it and stays pending otherwise
     */
    public static MemorySegment blockSignal(Arena arena, int signal) {
        try {
            MemorySegment set = arena.allocate(SIGSET_BYTES, 8);
            int r = (int) SIGEMPTYSET.invokeExact(set);
            r |= (int) SIGADDSET.invokeExact(set, signal);
            MemorySegment old = arena.allocate(SIGSET_BYTES, 8);
            r |= (int) PTHREAD_SIGMASK.invokeExact(SIG_BLOCK, set, old);
            r |= (int) SIGDELSET.invokeExact(old, signal);
            if (r != 0) {
                throw new KvmException("pthread_sigmask", r, "could not block signal " + signal);
            }
            return old;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * Gives {@code signal} a handler, so that it is not fatal while a vCPU thread unblocks it
     * inside KVM_RUN (a thread-directed signal with the default action kills the whole process
     * the moment it is sent to a thread that does not block it). The handler never runs: the
     * signal is unblocked only inside the kernel, and consumed with sigtimedwait. It is libc's
     * getpid, which is harmless should it ever be called. Leaves an existing handler alone.
     */
    public static void installInertHandler(int signal) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = CAPTURED.get();
            MemorySegment old = a.allocate(152, 8);
            if ((int) SIGACTION.invokeExact(c, signal, MemorySegment.NULL, old) < 0) {
                throw fail("sigaction(" + signal + ")", lastErrno(c));
            }
            if (old.get(JAVA_LONG, 0) != 0) { // not SIG_DFL: someone chose a disposition already
                return;
            }
            MemorySegment act = a.allocate(152, 8);
            act.set(JAVA_LONG, 0, GETPID.address());
            int r = (int) SIGEMPTYSET.invokeExact(act.asSlice(8, SIGSET_BYTES));
            if (r != 0 || (int) SIGACTION.invokeExact(c, signal, act, MemorySegment.NULL) < 0) {
                throw fail("sigaction(" + signal + ")", lastErrno(c));
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Consumes a pending {@code signal} of the calling thread, if any; never waits. */
    public static void drainSignal(Arena arena, int signal) {
        try {
            MemorySegment set = arena.allocate(SIGSET_BYTES, 8);
            int r = (int) SIGEMPTYSET.invokeExact(set);
            r |= (int) SIGADDSET.invokeExact(set, signal);
            MemorySegment zero = arena.allocate(16, 8);
            MemorySegment c = CAPTURED.get();
            while ((int) SIGTIMEDWAIT.invokeExact(c, set, MemorySegment.NULL, zero) == signal) {
                // drained one; a second may have been queued meanwhile (real-time signals queue)
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * userfaultfd(2), through syscall(2) with the number from {@link UserfaultfdAbi#SYSCALL}.
     *
     * @param flags {@link UserfaultfdAbi#CLOEXEC} and {@link UserfaultfdAbi#NONBLOCK}, as wanted
     * @return the new descriptor, which the caller owns and closes
     */
    public static int userfaultfd(int flags) {
        try {
            MemorySegment c = CAPTURED.get();
            long fd = (long) SYSCALL_1.invokeExact(c, UserfaultfdAbi.SYSCALL, (long) flags);
            if (fd < 0) {
                throw fail("userfaultfd", lastErrno(c));
            }
            return (int) fd;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** read(2); returns the byte count, 0 at EOF, or {@code -errno}. */
    public static long read(int fd, MemorySegment into) {
        try {
            MemorySegment c = CAPTURED.get();
            long n = (long) READ.invokeExact(c, fd, into, into.byteSize());
            return n < 0 ? -lastErrno(c) : n;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * poll(2) on one descriptor for input.
     *
     * @param pfd 8 bytes of native memory for the struct pollfd, this call's only
     * @return whether it is readable before {@code timeoutMillis}
     */
    public static boolean pollIn(MemorySegment pfd, int fd, int timeoutMillis) {
        try {
            pfd.set(JAVA_INT, 0, fd);
            pfd.set(ValueLayout.JAVA_SHORT, 4, (short) 1); // POLLIN
            MemorySegment c = CAPTURED.get();
            int r = (int) POLL.invokeExact(c, pfd, 1L, timeoutMillis);
            if (r < 0) {
                int e = lastErrno(c);
                if (e == EINTR) {
                    return false;
                }
                throw fail("poll", e);
            }
            return r > 0 && (pfd.get(ValueLayout.JAVA_SHORT, 6) & 1) != 0;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** fallocate(2) with FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE: drops the range's pages. */
    public static void punchHole(int fd, long offset, long length) {
        try {
            MemorySegment c = CAPTURED.get();
            if ((int) FALLOCATE.invokeExact(c, fd, 0x02 | 0x01, offset, length) < 0) {
                throw fail("fallocate(PUNCH_HOLE)", lastErrno(c));
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * lseek(2) with {@code SEEK_DATA} or {@code SEEK_HOLE}: the first offset at or after
     * {@code offset} that holds data (or starts a hole). Reads and allocates nothing.
     *
     * @return the offset, or -1 for {@code SEEK_DATA} when no data follows (ENXIO)
     */
    public static long seek(int fd, long offset, int whence) {
        try {
            MemorySegment c = CAPTURED.get();
            long r = (long) LSEEK.invokeExact(c, fd, offset, whence);
            if (r < 0) {
                int e = lastErrno(c);
                if (e == ENXIO) {
                    return -1;
                }
                throw fail(whence == SEEK_DATA ? "lseek(SEEK_DATA)" : "lseek(SEEK_HOLE)", e);
            }
            return r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** @return the bytes a file has allocated (fstat(2)'s {@code st_blocks} times 512) */
    public static long allocatedBytes(int fd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = CAPTURED.get();
            MemorySegment st = a.allocate(STAT_BYTES, 8);
            if ((int) FSTAT.invokeExact(c, fd, st) < 0) {
                throw fail("fstat", lastErrno(c));
            }
            return st.get(JAVA_LONG, STAT_BLOCKS_OFFSET) * 512;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** @return the calling thread's kernel thread id */
    public static int gettid() {
        try {
            return (int) GETTID.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** @return a zero-filled native segment of {@code bytes}, 8-aligned, in {@code arena} */
    public static MemorySegment zeroed(Arena arena, long bytes) {
        return arena.allocate(bytes, 8);
    }

    /** The byte layout of little-endian u64 fields in kernel structs. */
    public static final ValueLayout.OfLong U64 = JAVA_LONG.withByteAlignment(1);
}
