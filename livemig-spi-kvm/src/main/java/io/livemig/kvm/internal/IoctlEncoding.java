package io.livemig.kvm.internal;

/**
 * Linux's ioctl request encoding, {@code _IOC(dir, type, nr, size)} from asm-generic/ioctl.h
 * (which x86-64 uses): bits 0-7 the number, 8-15 the type (one per driver: 0xAE for KVM, 0xAA
 * for userfaultfd), 16-29 the argument's size in bytes, 30-31 the direction. The ABI tables
 * ({@link KvmAbi}, {@link UserfaultfdAbi}) build every request number with it, so that no
 * request appears as a literal; their tests compare the results with the C macros.
 */
final class IoctlEncoding {

    private IoctlEncoding() {
    }

    /** {@code _IOC_NONE}: the argument is not a pointer, or no data moves. */
    static final int NONE = 0;
    /** {@code _IOC_WRITE}: userspace writes the argument, the kernel reads it. */
    static final int WRITE = 1;
    /** {@code _IOC_READ}: the kernel writes the argument back. */
    static final int READ = 2;

    /**
     * @param direction {@link #NONE}, {@link #WRITE}, {@link #READ} or {@code READ | WRITE}
     * @param type      the driver's ioctl type, 0-255
     * @param nr        the request's number within the type, 0-255
     * @param sizeBytes the size of the argument struct, below 16 KiB
     * @return the request number, as {@code _IOC} makes it (an unsigned 32-bit value)
     * @throws IllegalArgumentException if a part does not fit its bits
     */
    static long ioc(int direction, int type, int nr, int sizeBytes) {
        if (direction >>> 2 != 0 || type >>> 8 != 0 || nr >>> 8 != 0 || sizeBytes >>> 14 != 0) {
            throw new IllegalArgumentException("_IOC(" + direction + ", " + type + ", " + nr + ", " + sizeBytes
                    + ") does not fit 2/8/8/14 bits");
        }
        return ((long) direction << 30) | ((long) sizeBytes << 16) | ((long) type << 8) | nr;
    }
}
