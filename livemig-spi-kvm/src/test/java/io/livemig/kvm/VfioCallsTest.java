package io.livemig.kvm;

import io.livemig.kvm.internal.Sys;
import io.livemig.kvm.internal.Vfio;
import io.livemig.kvm.internal.VfioAbi;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The binding's system calls ({@link Vfio}) on the character devices every host has, since no
 * VFIO device is available: results come back as counts, end of stream as 0, and failures as
 * {@code -errno}, which is how {@link VfioDevice} tells ENOMSG and ENOTTY from failures.
 */
class VfioCallsTest {

    @Test
    void readWriteAndIoctlReturnCountsOrMinusErrno() {
        int zero = Sys.open("/dev/zero");
        int nul = Sys.open("/dev/null");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(4096, 8);
            buf.fill((byte) 7);
            assertEquals(4096, Vfio.read(zero, buf), "read fills the segment");
            assertEquals(0, buf.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 4095));
            assertEquals(0, Vfio.read(nul, buf), "0 at the end of a stream");
            assertEquals(4096, Vfio.write(nul, buf), "write takes the whole segment");
            MemorySegment f = VfioAbi.feature(a, VfioAbi.DEVICE_FEATURE_GET, VfioAbi.DEVICE_FEATURE_MIGRATION,
                    VfioAbi.MIGRATION_BYTES);
            assertEquals(-Vfio.ENOTTY, Vfio.ioctl(nul, VfioAbi.DEVICE_FEATURE, f), "a request /dev/null does not know");
        } finally {
            Sys.close(zero);
            Sys.close(nul);
        }
        try (Arena a = Arena.ofConfined()) {
            assertEquals(-Vfio.EBADF, Vfio.read(nul, a.allocate(8)), "a closed fd");
        }
    }
}
