package io.livemig.kvm;

import io.livemig.kvm.internal.Sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A userfaultfd (Linux 4.11+ for shared memory) through java.lang.foreign: register a range of
 * this process's memory in missing mode, read page faults on it, and resolve them by atomically
 * installing a page ({@code UFFDIO_COPY}) or a zero page ({@code UFFDIO_ZEROPAGE}). Faults from
 * the kernel count too: a KVM vCPU that touches a missing guest page blocks inside KVM_RUN
 * until the page is installed.
 *
 * <p>Thread-safety: one thread reads faults; installs may come from any thread. Owns the fd.
 */
public final class Userfaultfd implements AutoCloseable {

    private static final long UFFD_API = 0xAA;
    private static final long API = 3222841919L;
    private static final long REGISTER = 3223366144L;
    private static final long UNREGISTER = 2148575745L;
    private static final long WAKE = 2148575746L;
    private static final long COPY = 3223890435L;
    private static final long ZEROPAGE = 3223366148L;
    private static final long MODE_MISSING = 1;
    /** Faults carry the faulting thread's id. */
    public static final long FEATURE_THREAD_ID = 1 << 8;
    private static final int EVENT_PAGEFAULT = 0x12;
    /** Bytes of one uffd_msg. */
    public static final int MESSAGE_BYTES = 32;

    /** A page fault: the address and, with {@link #FEATURE_THREAD_ID}, the faulting thread. */
    public record Fault(long address, int threadId) {
    }

    private final int fd;
    private final long features;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment messages = arena.allocate(16L * MESSAGE_BYTES, 8);
    private volatile boolean closed;

    private Userfaultfd(int fd, long features) {
        this.fd = fd;
        this.features = features;
    }

    /**
     * Opens a userfaultfd and negotiates the API, asking for {@link #FEATURE_THREAD_ID} if offered.
     *
     * @throws KvmException if userfaultfd is unavailable (kernel, permissions)
     */
    public static Userfaultfd open() {
        int fd = Sys.userfaultfd(0x800); // O_NONBLOCK: reads never block; poll waits
        try (Arena a = Arena.ofConfined()) {
            MemorySegment api = a.allocate(24, 8);
            api.set(JAVA_LONG, 0, UFFD_API);
            Sys.ioctl(fd, API, api, "UFFDIO_API");
            long offered = api.get(JAVA_LONG, 8);
            // The API handshake may be done once per fd: open a second one with the features.
            Sys.close(fd);
            fd = Sys.userfaultfd(0x800);
            api.set(JAVA_LONG, 0, UFFD_API);
            api.set(JAVA_LONG, 8, offered & FEATURE_THREAD_ID);
            Sys.ioctl(fd, API, api, "UFFDIO_API");
            return new Userfaultfd(fd, offered & FEATURE_THREAD_ID);
        } catch (RuntimeException e) {
            Sys.close(fd);
            throw e;
        }
    }

    /** @return the features in effect */
    public long features() {
        return features;
    }

    /** Registers {@code range} (page-aligned) in missing mode. */
    public void register(MemorySegment range) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment reg = a.allocate(32, 8);
            reg.set(JAVA_LONG, 0, range.address());
            reg.set(JAVA_LONG, 8, range.byteSize());
            reg.set(JAVA_LONG, 16, MODE_MISSING);
            Sys.ioctl(fd, REGISTER, reg, "UFFDIO_REGISTER");
        }
    }

    /** Unregisters {@code range}; faults on it are ordinary again. */
    public void unregister(MemorySegment range) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment r = a.allocate(16, 8);
            r.set(JAVA_LONG, 0, range.address());
            r.set(JAVA_LONG, 8, range.byteSize());
            Sys.ioctl(fd, UNREGISTER, r, "UFFDIO_UNREGISTER");
        }
    }

    /**
     * Waits up to {@code timeoutMillis} for faults and returns those pending (at most 16).
     *
     * @return the faults, empty on timeout
     */
    public Fault[] awaitFaults(int timeoutMillis) {
        if (!Sys.pollIn(arena, fd, timeoutMillis)) {
            return new Fault[0];
        }
        long n = Sys.read(fd, messages);
        if (n == -Sys.EAGAIN || n == -Sys.EINTR) {
            return new Fault[0];
        }
        if (n < 0) {
            throw new KvmException("read(userfaultfd)", (int) -n, Sys.strerror((int) -n));
        }
        int count = (int) (n / MESSAGE_BYTES);
        Fault[] faults = new Fault[count];
        int k = 0;
        for (int i = 0; i < count; i++) {
            long at = (long) i * MESSAGE_BYTES;
            if (Byte.toUnsignedInt(messages.get(JAVA_BYTE, at)) == EVENT_PAGEFAULT) {
                faults[k++] = new Fault(messages.get(JAVA_LONG, at + 16), messages.get(JAVA_INT, at + 24));
            }
        }
        return java.util.Arrays.copyOf(faults, k);
    }

    /**
     * Atomically installs {@code length} bytes from {@code source} at {@code address} and wakes
     * the threads waiting there.
     *
     * @return true if installed, false if a page was already there (EEXIST: left unchanged)
     */
    public boolean copy(long address, MemorySegment source, long length) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = a.allocate(40, 8);
            c.set(JAVA_LONG, 0, address);
            c.set(JAVA_LONG, 8, source.address());
            c.set(JAVA_LONG, 16, length);
            c.set(JAVA_LONG, 24, 0L);
            int r = Sys.ioctlRaw(fd, COPY, c);
            if (r == -Sys.EEXIST) {
                wake(address, length);
                return false;
            }
            if (r < 0) {
                throw new KvmException("UFFDIO_COPY", -r, Sys.strerror(-r));
            }
            return true;
        }
    }

    /**
     * Installs zero pages at {@code address} and wakes the threads waiting there.
     *
     * @return true if installed, false if a page was already there
     */
    public boolean zeroPage(long address, long length) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment z = a.allocate(32, 8);
            z.set(JAVA_LONG, 0, address);
            z.set(JAVA_LONG, 8, length);
            z.set(JAVA_LONG, 16, 0L);
            int r = Sys.ioctlRaw(fd, ZEROPAGE, z);
            if (r == -Sys.EEXIST) {
                wake(address, length);
                return false;
            }
            if (r < 0) {
                throw new KvmException("UFFDIO_ZEROPAGE", -r, Sys.strerror(-r));
            }
            return true;
        }
    }

    /** Wakes threads waiting on {@code [address, address + length)}. */
    public void wake(long address, long length) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment r = a.allocate(16, 8);
            r.set(JAVA_LONG, 0, address);
            r.set(JAVA_LONG, 8, length);
            Sys.ioctl(fd, WAKE, r, "UFFDIO_WAKE");
        }
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            Sys.close(fd);
            arena.close();
        }
    }
}
