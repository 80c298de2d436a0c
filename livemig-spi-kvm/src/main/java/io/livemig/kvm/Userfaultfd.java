package io.livemig.kvm;

import io.livemig.kvm.internal.Sys;
import io.livemig.kvm.internal.UserfaultfdAbi;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import static io.livemig.kvm.internal.UserfaultfdAbi.API;
import static io.livemig.kvm.internal.UserfaultfdAbi.API_API;
import static io.livemig.kvm.internal.UserfaultfdAbi.API_BYTES;
import static io.livemig.kvm.internal.UserfaultfdAbi.API_FEATURES;
import static io.livemig.kvm.internal.UserfaultfdAbi.API_VERSION;
import static io.livemig.kvm.internal.UserfaultfdAbi.CLOEXEC;
import static io.livemig.kvm.internal.UserfaultfdAbi.COPY;
import static io.livemig.kvm.internal.UserfaultfdAbi.COPY_BYTES;
import static io.livemig.kvm.internal.UserfaultfdAbi.COPY_COPY;
import static io.livemig.kvm.internal.UserfaultfdAbi.COPY_DST;
import static io.livemig.kvm.internal.UserfaultfdAbi.COPY_LEN;
import static io.livemig.kvm.internal.UserfaultfdAbi.COPY_MODE;
import static io.livemig.kvm.internal.UserfaultfdAbi.COPY_SRC;
import static io.livemig.kvm.internal.UserfaultfdAbi.EVENT_PAGEFAULT;
import static io.livemig.kvm.internal.UserfaultfdAbi.MSG_BYTES;
import static io.livemig.kvm.internal.UserfaultfdAbi.MSG_EVENT;
import static io.livemig.kvm.internal.UserfaultfdAbi.MSG_PAGEFAULT_ADDRESS;
import static io.livemig.kvm.internal.UserfaultfdAbi.MSG_PAGEFAULT_PTID;
import static io.livemig.kvm.internal.UserfaultfdAbi.NONBLOCK;
import static io.livemig.kvm.internal.UserfaultfdAbi.RANGE_BYTES;
import static io.livemig.kvm.internal.UserfaultfdAbi.RANGE_LEN;
import static io.livemig.kvm.internal.UserfaultfdAbi.RANGE_START;
import static io.livemig.kvm.internal.UserfaultfdAbi.REGISTER;
import static io.livemig.kvm.internal.UserfaultfdAbi.REGISTER_BYTES;
import static io.livemig.kvm.internal.UserfaultfdAbi.REGISTER_MODE;
import static io.livemig.kvm.internal.UserfaultfdAbi.REGISTER_MODE_MISSING;
import static io.livemig.kvm.internal.UserfaultfdAbi.REGISTER_RANGE;
import static io.livemig.kvm.internal.UserfaultfdAbi.UNREGISTER;
import static io.livemig.kvm.internal.UserfaultfdAbi.WAKE;
import static io.livemig.kvm.internal.UserfaultfdAbi.ZEROPAGE;
import static io.livemig.kvm.internal.UserfaultfdAbi.ZEROPAGE_BYTES;
import static io.livemig.kvm.internal.UserfaultfdAbi.ZEROPAGE_MODE;
import static io.livemig.kvm.internal.UserfaultfdAbi.ZEROPAGE_RANGE;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A userfaultfd (Linux 4.11+ for shared memory) through java.lang.foreign: register a range of
 * this process's memory in missing mode, read page faults on it, and resolve them by atomically
 * installing a page ({@code UFFDIO_COPY}) or a zero page ({@code UFFDIO_ZEROPAGE}). Faults from
 * the kernel count too: a KVM vCPU that touches a missing guest page blocks inside KVM_RUN
 * until the page is installed. Every number, size and offset comes from {@link UserfaultfdAbi},
 * which its test checks against linux/userfaultfd.h.
 *
 * <p>Native memory: the set-up ioctls' argument structs live in a confined arena of that one
 * call (the kernel keeps no pointer to them). The per-page calls (copy, zero page, wake, poll),
 * tens of thousands a second in post-copy, reuse a struct of the calling thread's, made in this
 * object's arena on the thread's first call: a confined arena per call was most of the
 * destination's garbage. That arena also holds the read buffer for fault messages; both are
 * freed by {@link #close()}. Memory passed by address (a registered range, a copy's source) is
 * the caller's, borrowed for the call.
 *
 * <p>Thread-safety: one thread reads faults; installs may come from any thread. Owns the fd;
 * {@link #close()} must not race {@link #awaitFaults}: stop and join the reading thread first.
 */
public final class Userfaultfd implements AutoCloseable {

    /** Faults carry the faulting thread's id: a bit of {@link #features()} ({@code UFFD_FEATURE_THREAD_ID}). */
    public static final long FEATURE_THREAD_ID = UserfaultfdAbi.FEATURE_THREAD_ID;

    /** The most fault messages one {@link #awaitFaults} reads. */
    private static final int MESSAGES_PER_READ = 16;
    /** A thread's argument struct: room for the largest a per-page call passes (uffdio_copy). */
    private static final long SCRATCH_BYTES = Math.max(Math.max(COPY_BYTES, ZEROPAGE_BYTES), Math.max(RANGE_BYTES, 8));

    /**
     * A page fault: the address and, with {@link #FEATURE_THREAD_ID}, the faulting thread.
     *
     * @param address the faulting address
     * @param threadId the faulting thread's id, or 0 without {@link #FEATURE_THREAD_ID}
     */
    public record Fault(long address, int threadId) {
    }

    private final int fd;
    private final long features;
    /** Holds {@link #messages} from open to close. Shared: the reading thread is not the opening one. */
    private final Arena arena = Arena.ofShared();
    /** read(2)'s buffer for uffd_msg records; used by the one reading thread only. */
    private final MemorySegment messages = arena.allocate((long) MESSAGES_PER_READ * MSG_BYTES, 8);
    /**
     * Each calling thread's argument struct for the per-page calls, made in {@link #arena} on the
     * thread's first call. A call fills every field the kernel reads before the ioctl and reads
     * what it writes back before the next, so one struct per thread serves them all.
     */
    private final ThreadLocal<MemorySegment> scratch = ThreadLocal.withInitial(() -> arena.allocate(SCRATCH_BYTES, 8));
    private volatile boolean closed;

    private Userfaultfd(int fd, long features) {
        this.fd = fd;
        this.features = features;
    }

    /**
     * Opens a userfaultfd and negotiates the API, asking for {@link #FEATURE_THREAD_ID} if offered.
     *
     * @return the open fd, which the caller owns and closes
     * @throws KvmException if userfaultfd is unavailable (kernel, permissions)
     */
    public static Userfaultfd open() {
        // A new descriptor, ours until the constructor takes it. CLOEXEC keeps it from child
        // processes; NONBLOCK makes read(2) fail with EAGAIN rather than wait (poll(2) waits).
        int fd = Sys.userfaultfd(CLOEXEC | NONBLOCK);
        try (Arena call = Arena.ofConfined()) {
            // uffdio_api, in this call's arena until the try ends; allocate zeroes it, so the
            // first handshake asks for no feature. The kernel reads api and features and writes
            // back features (those it offers) and ioctls (unused).
            MemorySegment api = call.allocate(API_BYTES, 8);
            api.set(JAVA_LONG, API_API, API_VERSION);
            Sys.ioctl(fd, API, api, "UFFDIO_API");
            long wanted = api.get(JAVA_LONG, API_FEATURES) & FEATURE_THREAD_ID;
            // The handshake may be done once per fd: open a second one and ask it for the features.
            Sys.close(fd);
            fd = -1; // closed: the catch below must not close the number again (it may be reused)
            fd = Sys.userfaultfd(CLOEXEC | NONBLOCK);
            // The same struct again: api and features set, ioctls as the kernel left it (it
            // ignores the field on the way in and overwrites it on the way out).
            api.set(JAVA_LONG, API_API, API_VERSION);
            api.set(JAVA_LONG, API_FEATURES, wanted);
            Sys.ioctl(fd, API, api, "UFFDIO_API");
            return new Userfaultfd(fd, wanted);
        } catch (RuntimeException e) {
            if (fd >= 0) {
                Sys.close(fd);
            }
            throw e;
        }
    }

    /** {@return the features in effect, a mask of {@code UFFD_FEATURE_*} bits} */
    public long features() {
        return features;
    }

    /**
     * Registers {@code range} (page-aligned) in missing mode.
     *
     * @param range memory of this process; only its address and size reach the kernel, so the
     *              caller keeps it mapped while it is registered
     */
    public void register(MemorySegment range) {
        try (Arena call = Arena.ofConfined()) {
            // uffdio_register, in this call's arena. The kernel reads range and mode and writes
            // back ioctls (the requests the range allows; unused).
            MemorySegment reg = call.allocate(REGISTER_BYTES, 8);
            writeRange(reg, REGISTER_RANGE, range.address(), range.byteSize());
            reg.set(JAVA_LONG, REGISTER_MODE, REGISTER_MODE_MISSING);
            Sys.ioctl(fd, REGISTER, reg, "UFFDIO_REGISTER");
        }
    }

    /**
     * Unregisters {@code range}; faults on it are ordinary again.
     *
     * @param range a range registered before
     */
    public void unregister(MemorySegment range) {
        try (Arena call = Arena.ofConfined()) {
            // uffdio_range, in this call's arena; the kernel only reads it.
            MemorySegment r = call.allocate(RANGE_BYTES, 8);
            writeRange(r, 0, range.address(), range.byteSize());
            Sys.ioctl(fd, UNREGISTER, r, "UFFDIO_UNREGISTER");
        }
    }

    /**
     * Waits up to {@code timeoutMillis} for faults and returns those pending (at most 16).
     * Call from one thread at a time.
     *
     * @param timeoutMillis the longest wait in milliseconds; 0 for none, negative for no limit
     * @return the faults, empty on timeout
     */
    public Fault[] awaitFaults(int timeoutMillis) {
        // The pollfd in this thread's struct; the kernel writes back revents.
        if (!Sys.pollIn(scratch.get(), fd, timeoutMillis)) {
            return new Fault[0];
        }
        // Into messages (this object's arena, alive until close, which does not run meanwhile):
        // the kernel writes whole uffd_msg records, never more than the buffer's size. They are
        // decoded before this returns; the next read overwrites them.
        long n = Sys.read(fd, messages);
        if (n == -Sys.EAGAIN || n == -Sys.EINTR) {
            return new Fault[0];
        }
        if (n < 0) {
            throw new KvmException("read(userfaultfd)", (int) -n, Sys.strerror((int) -n));
        }
        int count = (int) (n / MSG_BYTES);
        Fault[] faults = new Fault[count];
        int k = 0;
        for (int i = 0; i < count; i++) {
            long at = (long) i * MSG_BYTES;
            if (Byte.toUnsignedInt(messages.get(JAVA_BYTE, at + MSG_EVENT)) == EVENT_PAGEFAULT) {
                faults[k++] = new Fault(messages.get(JAVA_LONG, at + MSG_PAGEFAULT_ADDRESS),
                        messages.get(JAVA_INT, at + MSG_PAGEFAULT_PTID));
            }
        }
        return Arrays.copyOf(faults, k);
    }

    /**
     * Atomically installs {@code length} bytes from {@code source} at {@code address} and wakes
     * the threads waiting there.
     *
     * @param source native memory of at least {@code length} bytes, read by the kernel during
     *               the call only; the caller keeps it alive until this returns
     * @param address the first byte to install, page-aligned
     * @param length bytes to install, whole pages
     * @return true if installed, false if a page was already there (EEXIST: left unchanged)
     * @throws IllegalArgumentException if {@code source} is not native or shorter than {@code length}
     */
    public boolean copy(long address, MemorySegment source, long length) {
        // Only source's address reaches the kernel: a heap segment has none it could read, and a
        // short one would let it read past the end.
        if (!source.isNative() || length > source.byteSize()) {
            throw new IllegalArgumentException("UFFDIO_COPY of " + length + " bytes needs a native source at least"
                    + " that long, got " + source);
        }
        // uffdio_copy, in this thread's struct (mode 0: wake the waiters). The kernel reads dst,
        // src, len and mode, copies len bytes from src, and writes back copy (the bytes copied
        // or -errno; unused: the return value says the same).
        MemorySegment c = scratch.get();
        c.set(JAVA_LONG, COPY_DST, address);
        c.set(JAVA_LONG, COPY_SRC, source.address());
        c.set(JAVA_LONG, COPY_LEN, length);
        c.set(JAVA_LONG, COPY_MODE, 0L);
        c.set(JAVA_LONG, COPY_COPY, 0L);
        return installed(Sys.ioctlRaw(fd, COPY, c), "UFFDIO_COPY", address, length);
    }

    /**
     * Atomically installs the pages of {@code [address, address + length)} from {@code source},
     * from the first page on, up to the first page that is present already, and wakes the
     * threads waiting on the pages it installed. One {@code UFFDIO_COPY} for the whole run when no
     * page of it is present; when one is, the kernel copies the pages before it, reports how many
     * bytes in {@code uffdio_copy.copy} and fails with {@code EAGAIN}, and this returns that count.
     * A run whose first page is present installs nothing ({@code EEXIST}): that page's waiters are
     * woken (it may have been installed by another thread a moment ago) and 0 returned. The caller
     * goes on past the present page, if it wants the rest.
     *
     * @param address the run's first byte, page-aligned, in a registered range
     * @param source  native memory of at least {@code length} bytes, read by the kernel during
     *                the call only; the caller keeps it alive until this returns
     * @param length  the run's bytes, a positive multiple of the page size
     * @return the bytes installed from {@code address} on: {@code length} if the whole run was,
     *         else the offset of the first page that was already present (left unchanged)
     * @throws IllegalArgumentException if {@code source} is not native or shorter than {@code length}
     * @throws KvmException             for any other failure of the ioctl
     */
    public long copyRun(long address, MemorySegment source, long length) {
        return copyRun(address, source, 0, length);
    }

    /**
     * As {@link #copyRun(long, MemorySegment, long)}, from {@code sourceOffset} bytes into
     * {@code source} (no slice of it made per call).
     *
     * @param address      the run's first byte, page-aligned, in a registered range
     * @param source       native memory holding the run from {@code sourceOffset}, read by the
     *                     kernel during the call only; the caller keeps it alive until this returns
     * @param sourceOffset where the run starts in {@code source}
     * @param length       the run's bytes, a positive multiple of the page size
     * @return the bytes installed from {@code address} on, as {@link #copyRun(long, MemorySegment, long)} says
     * @throws IllegalArgumentException if {@code source} is not native or the run leaves it
     * @throws KvmException             for any other failure of the ioctl
     */
    public long copyRun(long address, MemorySegment source, long sourceOffset, long length) {
        if (!source.isNative() || sourceOffset < 0 || length > source.byteSize() - sourceOffset) {
            throw new IllegalArgumentException("UFFDIO_COPY of " + length + " bytes from offset " + sourceOffset
                    + " needs a native source that long, got " + source);
        }
        // uffdio_copy, in this thread's struct (mode 0: wake the waiters of what was copied). The
        // kernel reads dst, src, len and mode, copies from src, and writes back copy: the bytes
        // copied (a partial copy fails with EAGAIN) or -errno.
        MemorySegment c = scratch.get();
        long from = source.address() + sourceOffset;
        long done = 0;
        while (done < length) {
            c.set(JAVA_LONG, COPY_DST, address + done);
            c.set(JAVA_LONG, COPY_SRC, from + done);
            c.set(JAVA_LONG, COPY_LEN, length - done);
            c.set(JAVA_LONG, COPY_MODE, 0L);
            c.set(JAVA_LONG, COPY_COPY, 0L);
            int r = Sys.ioctlRaw(fd, COPY, c);
            long copied = c.get(JAVA_LONG, COPY_COPY);
            if (r == 0) {
                return length;
            }
            if (r == -Sys.EAGAIN && copied > 0) {
                done += copied; // stopped at a present page, or interrupted: go on from there
            } else if (r == -Sys.EEXIST) {
                wake(address + done, KvmVm.PAGE_BYTES);
                return done;
            } else if (r != -Sys.EAGAIN) {
                throw new KvmException("UFFDIO_COPY", -r, Sys.strerror(-r));
            }
            // EAGAIN with nothing copied: the address space was changing (mmap_changing); retry.
        }
        return done;
    }

    /**
     * Installs zero pages at {@code address} and wakes the threads waiting there.
     *
     * @param address the first byte, page-aligned
     * @param length bytes, whole pages
     * @return true if installed, false if a page was already there
     */
    public boolean zeroPage(long address, long length) {
        // uffdio_zeropage, in this thread's struct (mode 0: wake the waiters). The kernel reads
        // range and mode and writes back zeropage (the bytes zeroed or -errno; unused).
        MemorySegment z = scratch.get();
        writeRange(z, ZEROPAGE_RANGE, address, length);
        z.set(JAVA_LONG, ZEROPAGE_MODE, 0L);
        return installed(Sys.ioctlRaw(fd, ZEROPAGE, z), "UFFDIO_ZEROPAGE", address, length);
    }

    /**
     * The outcome of an install of {@code [address, address + length)}: true if the ioctl
     * returned 0; false if a page was there already (EEXIST), after waking that range's waiters
     * (another thread may have installed it a moment ago).
     *
     * @throws KvmException for any other failure
     */
    private boolean installed(int result, String call, long address, long length) {
        if (result == -Sys.EEXIST) {
            wake(address, length);
            return false;
        }
        if (result < 0) {
            throw new KvmException(call, -result, Sys.strerror(-result));
        }
        return true;
    }

    /**
     * Wakes threads waiting on {@code [address, address + length)}.
     *
     * @param address the first byte, page-aligned
     * @param length bytes, whole pages
     */
    public void wake(long address, long length) {
        // uffdio_range, in this thread's struct; the kernel only reads it.
        MemorySegment r = scratch.get();
        writeRange(r, 0, address, length);
        Sys.ioctl(fd, WAKE, r, "UFFDIO_WAKE");
    }

    /** Writes a uffdio_range at {@code offset} of {@code struct}. */
    private static void writeRange(MemorySegment struct, long offset, long start, long lengthBytes) {
        struct.set(JAVA_LONG, offset + RANGE_START, start);
        struct.set(JAVA_LONG, offset + RANGE_LEN, lengthBytes);
    }

    /**
     * Closes the fd, which wakes every thread waiting on a registered page (its fault is then
     * served as if the range were not registered), and frees the read buffer. Idempotent.
     */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            Sys.close(fd);
            arena.close();
        }
    }
}
