package io.livemig.kvm;

import io.livemig.spi.DirtyTracker;
import io.livemig.spi.PageSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;

import static io.livemig.kvm.KvmTestSupport.eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The dirtier's disk mode on the micro-VMM's virtio-blk device: the guest drives the device from
 * ring 3, its own whole-disk check passes, the image holds exactly the self-describing blocks the
 * guest's table says it wrote, and what the device wrote into guest RAM reaches the dirty log.
 */
class KvmDiskGuestTest {

    private static final long DISK_BYTES = 16L << 20;

    @Test
    void theGuestWritesItsDiskAndItsWholeDiskCheckPasses(@TempDir Path dir) throws Exception {
        try (MicroVmm vmm = KvmTestSupport.runningDiskDirtier(dir.resolve("disk.img"), DISK_BYTES, 4L << 20)) {
            assertTrue(eventually(Duration.ofSeconds(20), () -> KvmTestSupport.diskChecksPassed(vmm) >= 2),
                    vmm.consoleTail());
            vmm.pause();
            VirtioBlk.Counters c = vmm.disk().orElseThrow().counters();
            assertTrue(c.bytesWritten() > 0 && c.bytesRead() >= 2 * DISK_BYTES, c.toString());
            assertEquals(0, c.failed(), c.toString());
        }
    }

    @Test
    void theImageHoldsTheBlocksTheGuestsTableRecords(@TempDir Path dir) throws Exception {
        Path image = dir.resolve("disk.img");
        long written;
        try (MicroVmm vmm = KvmTestSupport.runningDiskDirtier(image, DISK_BYTES, 4L << 20)) {
            assertTrue(eventually(Duration.ofSeconds(20), () -> KvmTestSupport.diskChecksPassed(vmm) >= 1),
                    vmm.consoleTail());
            vmm.pause();
            written = KvmTestSupport.assertImageMatchesGuestTable(vmm, image);
        }
        assertTrue(written > 10, "the guest wrote only " + written + " blocks");
    }

    @Test
    void whatTheDeviceWritesIntoGuestRamIsInTheNextCollect(@TempDir Path dir) throws Exception {
        try (MicroVmm vmm = KvmTestSupport.runningDiskDirtier(dir.resolve("disk.img"), DISK_BYTES, 0);
             KvmGuest guest = new KvmGuest(vmm)) {
            assertTrue(eventually(Duration.ofSeconds(20), () -> KvmTestSupport.diskChecksPassed(vmm) >= 1),
                    vmm.consoleTail());
            DirtyTracker tracker = guest.dirtyTracker().orElseThrow();
            tracker.start();
            // A disk check reads the disk into the read buffer: IN requests, written by the VMM.
            int before = KvmTestSupport.diskChecksPassed(vmm);
            assertTrue(eventually(Duration.ofSeconds(20), () -> KvmTestSupport.diskChecksPassed(vmm) > before),
                    vmm.consoleTail());
            vmm.pause();
            PageSet dirty = tracker.collect();
            long readBuffer = (DirtierParams.DISK_AREA_BASE + 0x2000) / KvmVm.PAGE_BYTES;
            long used = (DirtierParams.DISK_AREA_BASE + 0x200) / KvmVm.PAGE_BYTES;
            for (long page = readBuffer; page < readBuffer + 256; page++) {
                assertTrue(dirty.contains(page), "read-buffer page " + page + " is missing from the collect");
            }
            assertTrue(dirty.contains(used), "the used ring's page is missing from the collect");
            // Nothing runs while paused: the next collect is empty of the device's pages.
            assertFalse(tracker.collect().contains(readBuffer));
            tracker.stop();
        }
    }
}
