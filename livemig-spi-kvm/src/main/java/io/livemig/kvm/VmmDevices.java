package io.livemig.kvm;

import io.livemig.kvm.internal.KvmAbi;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * What the {@link MicroVmm}'s guest reaches through port I/O and MMIO exits: the console
 * ({@value MicroVmm#CONSOLE_PORT}), the clock ({@value MicroVmm#CLOCK_PORT}), the sleep port
 * ({@value MicroVmm#SLEEP_PORT}) and the virtio block device, if any. Each exit is handled on the
 * vCPU thread that took it; the answer to an input is left in the vCPU's {@code kvm_run} area,
 * where KVM hands it to the guest on the next KVM_RUN.
 *
 * <p>The console tail and byte count are read from any thread; the rest is the vCPU thread's.
 */
final class VmmDevices {

    private static final Logger LOG = LoggerFactory.getLogger(VmmDevices.class);
    private static final int CONSOLE_KEEP_BYTES = 64 << 10;
    /** The longest sleep one write to the sleep port asks for. */
    static final long MAX_SLEEP_MICROS = 100_000;

    private final KvmVm vm;
    /** The disk, or null. */
    private final VirtioBlk disk;
    private final OutputStream consoleOut;
    private final StringBuilder consoleTail = new StringBuilder();
    private final AtomicLong consoleBytes = new AtomicLong();
    private final Set<Integer> loggedPorts = ConcurrentHashMap.newKeySet();
    /** The vCPU thread's: nanoseconds the guest asked to sleep at its last exit, 0 for none. */
    private long sleepNanos;

    VmmDevices(KvmVm vm, VirtioBlk disk, OutputStream consoleOut) {
        this.vm = vm;
        this.disk = disk;
        this.consoleOut = consoleOut;
    }

    /** Handles an MMIO exit: the disk's registers, or all ones for reads and nothing for writes elsewhere. */
    void mmio(MemorySegment run) {
        long address = run.get(JAVA_LONG, KvmAbi.RUN_MMIO_PHYS_ADDR);
        int width = run.get(JAVA_INT, KvmAbi.RUN_MMIO_LEN);
        boolean isWrite = run.get(JAVA_BYTE, KvmAbi.RUN_MMIO_IS_WRITE) != 0;
        if (width < 1 || width > 8) {
            throw new IllegalStateException("KVM reported an MMIO access of " + width + " bytes");
        }
        MemorySegment data = run.asSlice(KvmAbi.RUN_MMIO_DATA, 8);
        if (disk != null && disk.claims(address)) {
            disk.mmio(address, data, width, isWrite);
            return;
        }
        if (!isWrite) {
            data.fill((byte) 0xFF);
        }
        logOnce(-1, "MMIO at 0x" + Long.toHexString(address) + " (no device there; reads return all ones)");
    }

    /** Handles a port I/O exit. */
    void io(MemorySegment run) {
        int direction = run.get(JAVA_BYTE, KvmAbi.RUN_IO_DIRECTION);
        int size = run.get(JAVA_BYTE, KvmAbi.RUN_IO_SIZE);
        int port = Short.toUnsignedInt(run.get(JAVA_SHORT, KvmAbi.RUN_IO_PORT));
        int count = run.get(JAVA_INT, KvmAbi.RUN_IO_COUNT);
        long offset = run.get(JAVA_LONG, KvmAbi.RUN_IO_DATA_OFFSET);
        long bytes = (long) size * count;
        if (bytes <= 0 || offset < 0 || offset + bytes > run.byteSize()) {
            throw new IllegalStateException("KVM reported port I/O outside kvm_run");
        }
        MemorySegment data = run.asSlice(offset, bytes);
        boolean in = direction == KvmAbi.IO_IN;
        if (!in && port == MicroVmm.CONSOLE_PORT) {
            console(data.toArray(JAVA_BYTE));
        } else if (in && port == MicroVmm.CLOCK_PORT) {
            data.fill((byte) 0);
            // Each element reads the clock anew; the low bytes of the microseconds, little-endian.
            for (long at = 0; at < bytes; at += size) {
                long micros = KvmClock.readClockNanos(vm) / 1000;
                for (int b = 0; b < size && b < 4; b++) {
                    data.set(JAVA_BYTE, at + b, (byte) (micros >>> (8 * b)));
                }
            }
        } else if (!in && port == MicroVmm.SLEEP_PORT) {
            long micros = size >= 4 ? Integer.toUnsignedLong(data.get(JAVA_INT_UNALIGNED, bytes - size))
                    : size == 2 ? Short.toUnsignedInt(data.get(JAVA_SHORT, bytes - size))
                    : Byte.toUnsignedInt(data.get(JAVA_BYTE, bytes - 1));
            sleepNanos = Math.min(micros, MAX_SLEEP_MICROS) * 1000;
        } else if (in) {
            data.fill((byte) 0xFF);
            logOnce(port, "read of I/O port 0x" + Integer.toHexString(port) + " (no device; all ones)");
        } else {
            logOnce(port, "write to I/O port 0x" + Integer.toHexString(port) + " ignored (no device)");
        }
    }

    /** {@return the sleep the guest asked for at the exit just handled, in nanoseconds (0 for none), and forgets it} */
    long takeSleepNanos() {
        long s = sleepNanos;
        sleepNanos = 0;
        return s;
    }

    private void logOnce(int port, String message) {
        if (loggedPorts.add(port)) {
            LOG.info("{} (logged once)", message);
        }
    }

    private void console(byte[] bytes) {
        consoleBytes.addAndGet(bytes.length);
        synchronized (consoleTail) {
            consoleTail.append(new String(bytes, StandardCharsets.ISO_8859_1));
            if (consoleTail.length() > CONSOLE_KEEP_BYTES) {
                consoleTail.delete(0, consoleTail.length() - CONSOLE_KEEP_BYTES / 2);
            }
        }
        if (consoleOut != null) {
            try {
                consoleOut.write(bytes);
                if (bytes[bytes.length - 1] == '\n') {
                    consoleOut.flush();
                }
            } catch (IOException e) {
                logOnce(-2, "console output failed: " + e.getMessage());
            }
        }
    }

    /** {@return bytes the guest wrote to the console so far} */
    long consoleBytes() {
        return consoleBytes.get();
    }

    /** {@return the last (up to 64 KiB of) console output} */
    String consoleTail() {
        synchronized (consoleTail) {
            return consoleTail.toString();
        }
    }

    /** Closes the console stream, if any. */
    void closeConsole() {
        if (consoleOut != null) {
            try {
                consoleOut.close();
            } catch (IOException e) {
                LOG.debug("closing the console", e);
            }
        }
    }
}
