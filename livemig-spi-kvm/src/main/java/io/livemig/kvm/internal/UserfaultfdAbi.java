package io.livemig.kvm.internal;

import static io.livemig.kvm.internal.IoctlEncoding.READ;
import static io.livemig.kvm.internal.IoctlEncoding.WRITE;

/**
 * The userfaultfd ABI this binding uses (x86-64): the system call and its flags, and from
 * linux/userfaultfd.h the API version, the ioctl numbers, the feature, mode and event values,
 * struct sizes and the offsets of the fields {@code Userfaultfd} reads or writes. Fields the
 * kernel writes back but the binding never reads (the {@code ioctls} masks, {@code zeropage})
 * have no offset here. {@code UserfaultfdAbiTest} compiles a C program against
 * the installed headers and compares every value here with the compiler's, the way
 * {@code KvmAbiTest} checks {@link KvmAbi}.
 *
 * <p>A sibling of {@link KvmAbi} rather than a section of it: the values come from another
 * header with its own ioctl type (0xAA, not KVMIO), and userfaultfd does not need KVM (it
 * serves any registered memory, and its test runs on hosts without /dev/kvm), so each table
 * reads as the one header it mirrors and names no constant of the other. What makes them one
 * table is shared: the {@code _IOC} encoding ({@link IoctlEncoding}) and the C-compiler check.
 * Names drop the header's prefixes ({@code UFFDIO_}, {@code UFFD_}), as KvmAbi drops
 * {@code KVM_}; each entry names its C counterpart.
 */
public final class UserfaultfdAbi {

    private UserfaultfdAbi() {
    }

    /** UFFDIO: the ioctl type of every userfaultfd request. */
    private static final int UFFDIO = 0xAA;

    private static long ioc(int dir, int nr, int size) {
        return IoctlEncoding.ioc(dir, UFFDIO, nr, size);
    }

    // userfaultfd(2): asm/unistd_64.h for the number; the flags are fcntl.h's, which the
    // kernel accepts as UFFD_CLOEXEC and UFFD_NONBLOCK.
    /** {@code __NR_userfaultfd}: the system call number on x86-64. */
    public static final long SYSCALL = 323;
    /** {@code O_CLOEXEC}: the descriptor is closed in a child process's exec. */
    public static final int CLOEXEC = 0x80000;
    /** {@code O_NONBLOCK}: read(2) fails with EAGAIN instead of waiting for a message. */
    public static final int NONBLOCK = 0x800;

    // The API handshake, modes, events (linux/userfaultfd.h).
    /** {@code UFFD_API}: the API version {@code UFFDIO_API} asks for. */
    public static final long API_VERSION = 0xAA;
    /** {@code UFFD_FEATURE_THREAD_ID}: page faults carry the faulting thread's id. */
    public static final long FEATURE_THREAD_ID = 1L << 8;
    /** {@code UFFDIO_REGISTER_MODE_MISSING}: fault on pages that are not present. */
    public static final long REGISTER_MODE_MISSING = 1L << 0;
    /** {@code UFFD_EVENT_PAGEFAULT}: {@code uffd_msg.event} of a page fault. */
    public static final int EVENT_PAGEFAULT = 0x12;

    // Struct sizes in bytes (linux/userfaultfd.h).
    /** {@code struct uffdio_api}. */
    public static final int API_BYTES = 24;
    /** {@code struct uffdio_range}. */
    public static final int RANGE_BYTES = 16;
    /** {@code struct uffdio_register}. */
    public static final int REGISTER_BYTES = 32;
    /** {@code struct uffdio_copy}. */
    public static final int COPY_BYTES = 40;
    /** {@code struct uffdio_zeropage}. */
    public static final int ZEROPAGE_BYTES = 32;
    /** {@code struct uffd_msg} (packed): what one read(2) of the fd returns per event. */
    public static final int MSG_BYTES = 32;

    // ioctls (linux/userfaultfd.h): _IOWR/_IOR(UFFDIO, _UFFDIO_*, struct ...). UNREGISTER and
    // WAKE are _IOR although the kernel only reads their uffdio_range: the header says so.
    /** {@code UFFDIO_API}. */
    public static final long API = ioc(READ | WRITE, 0x3f, API_BYTES);
    /** {@code UFFDIO_REGISTER}. */
    public static final long REGISTER = ioc(READ | WRITE, 0x00, REGISTER_BYTES);
    /** {@code UFFDIO_UNREGISTER}. */
    public static final long UNREGISTER = ioc(READ, 0x01, RANGE_BYTES);
    /** {@code UFFDIO_WAKE}. */
    public static final long WAKE = ioc(READ, 0x02, RANGE_BYTES);
    /** {@code UFFDIO_COPY}. */
    public static final long COPY = ioc(READ | WRITE, 0x03, COPY_BYTES);
    /** {@code UFFDIO_ZEROPAGE}. */
    public static final long ZEROPAGE = ioc(READ | WRITE, 0x04, ZEROPAGE_BYTES);

    // Field offsets in bytes; every field is a __u64 unless said otherwise.
    /** {@code uffdio_api.api}. */
    public static final int API_API = 0;
    /** {@code uffdio_api.features}: asked for on the way in, offered on the way out. */
    public static final int API_FEATURES = 8;
    /** {@code uffdio_range.start}. */
    public static final int RANGE_START = 0;
    /** {@code uffdio_range.len}. */
    public static final int RANGE_LEN = 8;
    /** {@code uffdio_register.range}, a {@code struct uffdio_range}. */
    public static final int REGISTER_RANGE = 0;
    /** {@code uffdio_register.mode}. */
    public static final int REGISTER_MODE = 16;
    /** {@code uffdio_copy.dst}. */
    public static final int COPY_DST = 0;
    /** {@code uffdio_copy.src}. */
    public static final int COPY_SRC = 8;
    /** {@code uffdio_copy.len}. */
    public static final int COPY_LEN = 16;
    /** {@code uffdio_copy.mode}. */
    public static final int COPY_MODE = 24;
    /** {@code uffdio_copy.copy}, a {@code __s64} the kernel writes back: the bytes copied, or -errno. */
    public static final int COPY_COPY = 32;
    /** {@code uffdio_zeropage.range}, a {@code struct uffdio_range}. */
    public static final int ZEROPAGE_RANGE = 0;
    /** {@code uffdio_zeropage.mode}. */
    public static final int ZEROPAGE_MODE = 16;
    /** {@code uffd_msg.event}, a {@code __u8}. */
    public static final int MSG_EVENT = 0;
    /** {@code uffd_msg.arg.pagefault.address}. */
    public static final int MSG_PAGEFAULT_ADDRESS = 16;
    /** {@code uffd_msg.arg.pagefault.feat.ptid}, a {@code __u32}. */
    public static final int MSG_PAGEFAULT_PTID = 24;
}
