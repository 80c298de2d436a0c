package io.livemig.kvm;

import io.livemig.kvm.internal.Sys;
import io.livemig.spi.MemoryLayout;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What {@link VfioDevice} does without a VFIO device, which this machine does not have: it
 * refuses a descriptor that is not one, naming the ioctl and the errno, and leaves the
 * descriptor open (it is the caller's). Its behaviour with a device is not tested here.
 */
class VfioDeviceTest {

    private static final MemoryLayout RAM = MemoryLayout.contiguous(4096, 1 << 20);

    @Test
    void aNonVfioFdIsRefusedNamingTheIoctlAndErrno() {
        int fd = Sys.open("/dev/null");
        try {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new VfioDevice("nic0", fd, RAM));
            assertEquals("fd " + fd + " is not a VFIO device fd", e.getMessage());
            KvmException cause = assertInstanceOf(KvmException.class, e.getCause());
            assertEquals("VFIO_DEVICE_GET_INFO", cause.call());
            assertEquals(25, cause.errno(), "ENOTTY: /dev/null knows no VFIO request");
            assertTrue(cause.getMessage().startsWith("VFIO_DEVICE_GET_INFO failed: "), cause.getMessage());
            // The refusal did not close the caller's descriptor: closing it now succeeds (EBADF would throw).
        } finally {
            Sys.close(fd);
        }
    }

    @Test
    void aClosedFdIsRefusedWithEbadf() {
        int fd = Sys.open("/dev/null");
        Sys.close(fd);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new VfioDevice("gpu0", fd, RAM));
        assertEquals(9, assertInstanceOf(KvmException.class, e.getCause()).errno(), "EBADF");
    }
}
