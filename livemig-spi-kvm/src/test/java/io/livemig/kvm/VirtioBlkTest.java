package io.livemig.kvm;

import io.livemig.disk.RawImage;
import io.livemig.spi.DirtyTracker;
import io.livemig.spi.PageSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The virtio-blk device with a driver played by the test (no guest runs): requests reach the
 * image and guest RAM, a malformed request gets IOERR, a broken ring DEVICE_NEEDS_RESET, never a
 * crash, and what the device writes into guest RAM is in the dirty tracker's next collect.
 */
class VirtioBlkTest {

    private static final long DISK_BYTES = 1L << 20;

    private static MicroVmm vmm(Path image) throws Exception {
        KvmTestSupport.assumeKvm();
        return MicroVmm.builder().memoryBytes(16L << 20).disk(RawImage.open(image, "vda", DISK_BYTES)).build();
    }

    private static void fill(MemorySegment ram, long at, int bytes, int seed) {
        for (int i = 0; i < bytes; i++) {
            ram.set(JAVA_BYTE, at + i, (byte) (seed + i * 31));
        }
    }

    @Test
    void aWriteSplitAcrossDescriptorsIsReadBackFromTheImage(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("disk.img");
        try (MicroVmm vmm = vmm(file)) {
            VirtioDriver d = new VirtioDriver(vmm);
            d.init();
            assertEquals(0xF, d.status());
            assertEquals(DISK_BYTES / 512, d.read(VirtioMmio.CONFIG_OFFSET, 8), "capacity in sectors");
            // OUT of 8 KiB at sector 16: the header and the first 100 data bytes in one descriptor,
            // the rest of the data in another, the status alone.
            fill(d.ram(), VirtioDriver.DATA, 8192, 5);
            MemorySegment ram = d.ram();
            long joined = VirtioDriver.DATA - 16 - 4096;
            d.header(VirtioBlk.T_OUT, 16);
            MemorySegment.copy(ram, VirtioDriver.HEADER, ram, joined, 16);
            MemorySegment.copy(ram, VirtioDriver.DATA, ram, joined + 16, 100);
            d.descriptor(0, joined, 116, Virtqueue.DESC_F_NEXT, 5);
            d.descriptor(5, VirtioDriver.DATA + 100, 8092, Virtqueue.DESC_F_NEXT, 9);
            d.descriptor(9, VirtioDriver.STATUS, 1, Virtqueue.DESC_F_WRITE, 0);
            d.submit(0);
            assertEquals(1, d.usedIdx());
            assertEquals(VirtioBlk.S_OK, d.statusByte());
            assertEquals(1, d.lastUsedLength(), "an OUT writes only its status");

            long in = VirtioDriver.DATA + 0x10000;
            d.request(VirtioBlk.T_IN, 16, in, 8192, true);
            d.submit(0);
            assertEquals(VirtioBlk.S_OK, d.statusByte());
            assertEquals(8193, d.lastUsedLength());
            assertEquals(-1, ram.asSlice(in, 8192).mismatch(ram.asSlice(VirtioDriver.DATA, 8192)));

            d.request(VirtioBlk.T_FLUSH, 0, 0, 0, false);
            d.descriptor(0, VirtioDriver.HEADER, 16, Virtqueue.DESC_F_NEXT, 2);
            d.submit(0);
            assertEquals(VirtioBlk.S_OK, d.statusByte());

            d.request(VirtioBlk.T_GET_ID, 0, in, 20, true);
            d.submit(0);
            assertEquals(VirtioBlk.S_OK, d.statusByte());
            byte[] id = ram.asSlice(in, 20).toArray(JAVA_BYTE);
            assertArrayEquals(Arrays.copyOf("vda".getBytes(StandardCharsets.US_ASCII), 20), id);
            VirtioBlk.Counters c = vmm.disk().orElseThrow().counters();
            assertEquals(new VirtioBlk.Counters(4, 0, 8192, 8192, 4), c);
        }
        ByteBuffer onDisk = ByteBuffer.allocate(8192);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ch.read(onDisk, 16 * 512);
        }
        for (int i = 0; i < 8192; i++) {
            assertEquals((byte) (5 + i * 31), onDisk.get(i), "image byte " + i);
        }
    }

    @Test
    void malformedRequestsGetIoerrAndTheQueueGoesOn(@TempDir Path dir) throws Exception {
        try (MicroVmm vmm = vmm(dir.resolve("disk.img"))) {
            VirtioDriver d = new VirtioDriver(vmm);
            d.init();
            long sectors = DISK_BYTES / 512;
            // Data in the MMIO hole, past the end of RAM, overflowing the address space.
            d.request(VirtioBlk.T_IN, 0, 0xC000_0000L, 512, true);
            expect(d, VirtioBlk.S_IOERR);
            d.request(VirtioBlk.T_IN, 0, (16L << 20) - 256, 512, true);
            expect(d, VirtioBlk.S_IOERR);
            d.request(VirtioBlk.T_OUT, 0, -512, 512, false);
            expect(d, VirtioBlk.S_IOERR);
            // Not whole sectors; past the disk's end; a sector number that overflows.
            d.request(VirtioBlk.T_OUT, 0, VirtioDriver.DATA, 100, false);
            expect(d, VirtioBlk.S_IOERR);
            d.request(VirtioBlk.T_IN, sectors - 1, VirtioDriver.DATA, 1024, true);
            expect(d, VirtioBlk.S_IOERR);
            d.request(VirtioBlk.T_IN, Long.MAX_VALUE / 256, VirtioDriver.DATA, 512, true);
            expect(d, VirtioBlk.S_IOERR);
            // A short header; a readable buffer after a writable one; IN data the device would read.
            d.request(VirtioBlk.T_IN, 0, VirtioDriver.DATA, 512, true);
            d.descriptor(0, VirtioDriver.HEADER, 8, Virtqueue.DESC_F_NEXT, 1);
            expect(d, VirtioBlk.S_IOERR);
            d.request(VirtioBlk.T_OUT, 0, VirtioDriver.DATA, 512, true);
            d.descriptor(1, VirtioDriver.DATA, 512, Virtqueue.DESC_F_NEXT | Virtqueue.DESC_F_WRITE, 3);
            d.descriptor(3, VirtioDriver.DATA + 512, 512, Virtqueue.DESC_F_NEXT, 2);
            expect(d, VirtioBlk.S_IOERR);
            d.request(VirtioBlk.T_IN, 0, VirtioDriver.DATA, 512, false);
            expect(d, VirtioBlk.S_IOERR);
            // GET_ID into fewer than 20 bytes; an unknown type.
            d.request(VirtioBlk.T_GET_ID, 0, VirtioDriver.DATA, 19, true);
            expect(d, VirtioBlk.S_IOERR);
            d.request(3, 0, VirtioDriver.DATA, 512, true);
            expect(d, VirtioBlk.S_UNSUPP);
            // The device still serves a good request, and asks for no reset.
            d.request(VirtioBlk.T_IN, sectors - 1, VirtioDriver.DATA, 512, true);
            expect(d, VirtioBlk.S_OK);
            assertEquals(0, d.status() & VirtioMmio.STATUS_NEEDS_RESET);
            assertEquals(11, vmm.disk().orElseThrow().counters().failed());
        }
    }

    private static void expect(VirtioDriver d, int status) {
        int used = d.usedIdx();
        d.submit(0);
        assertEquals(used + 1, d.usedIdx(), "the request was not completed");
        assertEquals(status, d.statusByte());
    }

    @Test
    void aBrokenRingSetsNeedsResetUntilTheDriverResets(@TempDir Path dir) throws Exception {
        try (MicroVmm vmm = vmm(dir.resolve("disk.img"))) {
            VirtioDriver d = new VirtioDriver(vmm);
            Runnable[] breakers = {
                () -> { // a chain that loops
                    d.request(VirtioBlk.T_IN, 0, VirtioDriver.DATA, 512, true);
                    d.descriptor(2, VirtioDriver.STATUS, 1, Virtqueue.DESC_F_WRITE | Virtqueue.DESC_F_NEXT, 0);
                    d.submit(0);
                },
                () -> { // a next past the table
                    d.request(VirtioBlk.T_IN, 0, VirtioDriver.DATA, 512, true);
                    d.descriptor(1, VirtioDriver.DATA, 512, Virtqueue.DESC_F_WRITE | Virtqueue.DESC_F_NEXT, 4000);
                    d.submit(0);
                },
                () -> d.submit(VirtioDriver.QUEUE), // a head past the table
                () -> d.publishAvailIdx(VirtioDriver.QUEUE + 1), // more chains than the queue holds
                () -> { // INDIRECT, not offered
                    d.request(VirtioBlk.T_IN, 0, VirtioDriver.DATA, 512, true);
                    d.descriptor(0, VirtioDriver.HEADER, 16, Virtqueue.DESC_F_NEXT | Virtqueue.DESC_F_INDIRECT, 1);
                    d.submit(0);
                },
                () -> { // no status byte the device could write: readable, or in the hole
                    d.request(VirtioBlk.T_IN, 0, VirtioDriver.DATA, 512, true);
                    d.descriptor(2, VirtioDriver.STATUS, 1, 0, 0);
                    d.submit(0);
                },
                () -> {
                    d.request(VirtioBlk.T_IN, 0, VirtioDriver.DATA, 512, true);
                    d.descriptor(2, 0xFFFF_F000L, 1, Virtqueue.DESC_F_WRITE, 0);
                    d.submit(0);
                },
            };
            for (int i = 0; i < breakers.length; i++) {
                d.init();
                breakers[i].run();
                assertTrue((d.status() & VirtioMmio.STATUS_NEEDS_RESET) != 0, "breaker " + i + " did not set NEEDS_RESET");
                int used = d.usedIdx();
                d.request(VirtioBlk.T_IN, 0, VirtioDriver.DATA, 512, true);
                d.submit(0);
                assertEquals(used, d.usedIdx(), "breaker " + i + ": a device that needs a reset served a request");
            }
            d.init();
            assertEquals(0xF, d.status(), "a reset clears DEVICE_NEEDS_RESET");
            d.request(VirtioBlk.T_IN, 0, VirtioDriver.DATA, 512, true);
            expect(d, VirtioBlk.S_OK);
        }
    }

    @Test
    void aDriverWithoutVersion1OrWithRingsOutsideRamIsRefused(@TempDir Path dir) throws Exception {
        try (MicroVmm vmm = vmm(dir.resolve("disk.img"))) {
            VirtioDriver d = new VirtioDriver(vmm);
            d.init(VirtioBlk.F_FLUSH);
            assertEquals(0, d.status() & VirtioMmio.STATUS_FEATURES_OK, "FEATURES_OK without VIRTIO_F_VERSION_1");
            d.init(VirtioMmio.F_VERSION_1 | 1L);
            assertEquals(0, d.status() & VirtioMmio.STATUS_FEATURES_OK, "FEATURES_OK with a feature not offered");
            d.init();
            d.write(VirtioMmio.REG_STATUS, 0);
            d.write(VirtioMmio.REG_STATUS, 0xB);
            d.write(VirtioMmio.REG_QUEUE_NUM, VirtioDriver.QUEUE);
            d.write(VirtioMmio.REG_QUEUE_DESC_LOW, 0xC000_0000L);
            d.write(VirtioMmio.REG_QUEUE_READY, 1);
            assertEquals(0, d.read(VirtioMmio.REG_QUEUE_READY, 4), "a queue in the MMIO hole was enabled");
            assertTrue((d.status() & VirtioMmio.STATUS_NEEDS_RESET) != 0);
            assertEquals(0, d.read(VirtioMmio.REG_MAGIC, 2), "a 16-bit register read");
            assertEquals(VirtioMmio.MAGIC, d.read(VirtioMmio.REG_MAGIC, 4));
        }
    }

    @Test
    void whatTheDeviceWritesIntoGuestRamIsInTheNextCollect(@TempDir Path dir) throws Exception {
        try (KvmGuest guest = new KvmGuest(vmm(dir.resolve("disk.img")))) {
            VirtioDriver d = new VirtioDriver(guest.vmm());
            d.init();
            DirtyTracker tracker = guest.dirtyTracker().orElseThrow();
            tracker.start();
            tracker.collect();
            long buffer = 0x80000;
            d.request(VirtioBlk.T_IN, 0, buffer, 3 * 4096, true);
            d.submit(0);
            PageSet dirty = tracker.collect();
            for (long page : new long[] {0x80, 0x81, 0x82, VirtioDriver.USED / 4096, VirtioDriver.STATUS / 4096}) {
                assertTrue(dirty.contains(page), "page 0x" + Long.toHexString(page) + " is missing: " + dirty);
            }
            assertFalse(dirty.contains(0x83), "a page the device did not write");
            assertFalse(tracker.collect().contains(0x80), "a page reported twice");
            tracker.stop();
        }
    }

    @Test
    void deviceStateMovesToAnotherVmAndTheQueueContinuesThere(@TempDir Path dir) throws Exception {
        byte[] state;
        MemorySegment rings;
        try (MicroVmm source = vmm(dir.resolve("a.img"))) {
            VirtioDriver d = new VirtioDriver(source);
            d.init();
            for (int i = 0; i < 3; i++) {
                d.request(VirtioBlk.T_IN, i, VirtioDriver.DATA, 512, true);
                d.submit(0);
            }
            state = source.disk().orElseThrow().saveState();
            rings = java.lang.foreign.Arena.ofAuto().allocate(0x4000).copyFrom(
                    source.vm().memory().asSlice(VirtioDriver.DESC, 0x4000));
        }
        try (MicroVmm target = vmm(dir.resolve("b.img"))) {
            target.vm().memory().asSlice(VirtioDriver.DESC, 0x4000).copyFrom(rings);
            VirtioBlk device = target.disk().orElseThrow();
            device.loadState(state);
            assertArrayEquals(state, device.saveState());
            VirtioDriver d = new VirtioDriver(target);
            d.continueFrom(3);
            d.request(VirtioBlk.T_IN, 7, VirtioDriver.DATA, 512, true);
            expect(d, VirtioBlk.S_OK);
            assertEquals(4, d.usedIdx());
            assertEquals(0xF, d.status());
        }
    }

    @Test
    void malformedDeviceStateIsRefusedAndChangesNothing(@TempDir Path dir) throws Exception {
        try (MicroVmm vmm = vmm(dir.resolve("disk.img"))) {
            VirtioDriver d = new VirtioDriver(vmm);
            d.init();
            d.request(VirtioBlk.T_IN, 0, VirtioDriver.DATA, 512, true);
            d.submit(0);
            VirtioBlk device = vmm.disk().orElseThrow();
            byte[] good = device.saveState();
            ByteBuffer b = ByteBuffer.wrap(good).order(ByteOrder.LITTLE_ENDIAN);
            byte[][] bad = {
                new byte[0],
                Arrays.copyOf(good, good.length - 1),
                Arrays.copyOf(good, good.length + 1),
                with(good, 0, 4, 0x12345678),                      // magic
                with(good, 4, 2, 2),                               // version
                with(good, 6, 2, 3),                               // device ID
                with(good, 8, 8, DISK_BYTES * 2),                  // another disk's size
                with(good, 16, 8, b.getLong(16) | 1),              // a feature not offered
                with(good, 32, 4, b.getInt(32) | 0x10),            // an unknown status bit
                with(with(good, 16, 8, 0), 32, 4, 0xF),            // FEATURES_OK without VERSION_1
                with(good, 36, 4, 4),                              // an unknown interrupt bit
                with(good, 48, 2, 3),                              // queue size not a power of two
                with(good, 48, 2, 512),                            // queue size over the maximum
                with(good, 50, 2, 2),                              // queueReady neither 0 nor 1
                with(good, 52, 8, 0xC000_0000L),                   // descriptors in the MMIO hole
                with(good, 52, 8, VirtioDriver.DESC + 8),          // misaligned descriptors
                with(good, 68, 8, (16L << 20) - 8),                // the used ring past the end of RAM
            };
            for (int i = 0; i < bad.length; i++) {
                byte[] state = bad[i];
                IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(
                        IllegalArgumentException.class, () -> device.loadState(state), "case " + i);
                assertTrue(e.getMessage() != null && !e.getMessage().isBlank(), "case " + i);
                assertArrayEquals(good, device.saveState(), "case " + i + " changed the device");
            }
            device.loadState(good);
            assertArrayEquals(good, device.saveState());
        }
    }

    private static byte[] with(byte[] state, int offset, int width, long value) {
        byte[] copy = state.clone();
        ByteBuffer b = ByteBuffer.wrap(copy).order(ByteOrder.LITTLE_ENDIAN);
        switch (width) {
            case 2 -> b.putShort(offset, (short) value);
            case 4 -> b.putInt(offset, (int) value);
            default -> b.putLong(offset, value);
        }
        return copy;
    }
}
