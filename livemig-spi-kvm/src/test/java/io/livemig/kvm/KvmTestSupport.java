package io.livemig.kvm;

import io.livemig.disk.RawImage;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.function.BooleanSupplier;

import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Skips a test, with one line, where KVM or binutils are missing; builds the guests once. */
final class KvmTestSupport {

    private static byte[] dirtier;
    private static byte[] hello;

    private KvmTestSupport() {
    }

    static void assumeKvm() {
        Kvm.unavailableReason().ifPresent(reason -> Assumptions.abort("skipped: " + reason));
    }

    static void assumeGuests() {
        assumeKvm();
        GuestBuilder.unavailableReason().ifPresent(reason -> Assumptions.abort("skipped: " + reason));
    }

    static synchronized byte[] dirtier() throws IOException {
        assumeGuests();
        if (dirtier == null) {
            dirtier = GuestBuilder.dirtierImage();
        }
        return dirtier.clone();
    }

    static synchronized byte[] hello() throws IOException {
        assumeGuests();
        if (hello == null) {
            hello = GuestBuilder.helloImage();
        }
        return hello.clone();
    }

    /** @return whether {@code condition} became true within {@code timeout} */
    static boolean eventually(Duration timeout, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (condition.getAsBoolean()) {
                return true;
            }
            Thread.sleep(10);
        }
        return condition.getAsBoolean();
    }

    /** A running dirtier in a 64 MiB VM: 32 MiB working set, whole-page random writes at {@code bytesPerSecond}. */
    static MicroVmm runningDirtier(long bytesPerSecond) throws IOException {
        assumeGuests();
        MicroVmm vmm = MicroVmm.builder().memoryBytes(64L << 20).build();
        vmm.loadMultiboot(dirtier());
        new DirtierParams(4L << 20, 32L << 20, 4096, true, bytesPerSecond, 100, 300, 7)
                .writeTo(vmm.vm().memory(), vmm.vcpus().get(0).tscKhz());
        vmm.start();
        vmm.resume();
        return vmm;
    }

    /** @return the number of "check ok" lines and whether any check failed */
    static int checksPassed(MicroVmm vmm) {
        String console = vmm.consoleTail();
        if (console.contains("FAILED")) {
            throw new AssertionError("the guest's self-check failed:\n" + console);
        }
        int n = 0;
        for (int i = console.indexOf("check ok"); i >= 0; i = console.indexOf("check ok", i + 1)) {
            n++;
        }
        return n;
    }

    /**
     * Every page the guest did not write since resume holds what the source held at pause (the
     * source has stayed paused since). KVM's dirty log on the destination says which it wrote.
     */
    static void assertUnwrittenPagesMatch(KvmGuest source, KvmGuest destination) {
        KvmVm dst = destination.vmm().vm();
        destination.vmm().pause();
        long[] written = new long[(int) (dst.pageCount() / 64)];
        dst.fetchDirtyLog(written);
        MemorySegment a = source.vmm().vm().memory();
        MemorySegment b = dst.memory();
        long compared = 0;
        for (long page = 0; page < dst.pageCount(); page++) {
            if ((written[(int) (page / 64)] & (1L << page)) != 0) {
                continue;
            }
            long at = page * KvmVm.PAGE_BYTES;
            long mismatch = a.asSlice(at, KvmVm.PAGE_BYTES).mismatch(b.asSlice(at, KvmVm.PAGE_BYTES));
            assertEquals(-1, mismatch, "page " + page + " differs from the source's at byte " + mismatch);
            compared++;
        }
        // The working set is half of RAM; the guest writes (and on some hosts, by reading, dirties) all of it.
        assertTrue(compared > dst.pageCount() / 4, "only " + compared + " pages were left unwritten to compare");
        destination.vmm().resume();
    }

    static void assertGuestContinues(KvmGuest source, KvmGuest destination) throws InterruptedException {
        int before = checksPassed(source.vmm());
        MicroVmm d = destination.vmm();
        assertTrue(eventually(Duration.ofSeconds(10), () -> checksPassed(d) >= 2),
                "destination console: " + d.consoleTail());
        assertTrue(d.consoleTail().contains("check ok " + (before + 1)),
                "the guest's counters did not continue from " + before + ": " + d.consoleTail());
    }

    /**
     * A running dirtier in disk mode: a 64 MiB VM with a new image of {@code diskBytes} as its
     * virtio disk, written at {@code diskBytesPerSecond}; 16 MiB of RAM written at 20 MB/s after
     * the disk area; checks every 300 ms.
     */
    static MicroVmm runningDiskDirtier(Path image, long diskBytes, long diskBytesPerSecond) throws IOException {
        return runningDiskDirtier(image, diskBytes, diskBytesPerSecond, 64L << 20, 300);
    }

    static MicroVmm runningDiskDirtier(Path image, long diskBytes, long diskBytesPerSecond, long memoryBytes,
                                       long checkMillis) throws IOException {
        assumeGuests();
        byte[] guest = dirtier();
        MicroVmm vmm = MicroVmm.builder().memoryBytes(memoryBytes).disk(RawImage.open(image, "vda", diskBytes)).build();
        try {
            vmm.loadMultiboot(guest);
            new DirtierParams(DirtierParams.diskAreaEnd(diskBytes), 16L << 20, 4096, true, 20L << 20, 100, checkMillis, 7)
                    .withDisk(new DirtierParams.Disk(VirtioBlk.MMIO_BASE, diskBytes, diskBytesPerSecond))
                    .writeTo(vmm.vm(), vmm.vcpus().get(0).tscKhz());
            vmm.start();
            vmm.resume();
            return vmm;
        } catch (RuntimeException e) {
            vmm.close();
            throw e;
        }
    }

    /** @return the number of "disk ok" lines; throws if the guest reported any failure */
    static int diskChecksPassed(MicroVmm vmm) {
        String console = vmm.consoleTail();
        if (console.contains("FAILED")) {
            throw new AssertionError("the guest's self-check failed:\n" + console);
        }
        int n = 0;
        for (int i = console.indexOf("disk ok"); i >= 0; i = console.indexOf("disk ok", i + 1)) {
            n++;
        }
        return n;
    }

    /** @return the serial the guest's table (in its RAM) records for {@code block}, 0 for never written */
    static long guestSerialOf(MicroVmm vmm, long block) {
        return vmm.vm().memory().get(JAVA_LONG_UNALIGNED, DirtierParams.DISK_AREA_BASE + 0x102000 + block * 8);
    }

    /**
     * Every block of {@code image} is what the paused guest's table says: 256 pairs (block,
     * serial) for a block it wrote, zeros for one it did not. One block may be ahead of the
     * table: the write the guest was pausing in, which the device completed and the guest has
     * not recorded yet; it then holds the pairs of the next serial, one past the table's highest.
     *
     * @return the number of blocks written
     */
    static long assertImageMatchesGuestTable(MicroVmm vmm, Path image) throws IOException {
        long written = 0;
        long highest = 0;
        long aheadBlock = -1;
        long aheadSerial = 0;
        ByteBuffer b = ByteBuffer.allocateDirect(4096).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel ch = FileChannel.open(image, StandardOpenOption.READ)) {
            long blocks = ch.size() / 4096;
            for (long block = 0; block < blocks; block++) {
                b.clear();
                while (b.hasRemaining() && ch.read(b, block * 4096 + b.position()) > 0) {
                    // read the whole block
                }
                long serial = guestSerialOf(vmm, block);
                highest = Math.max(highest, serial);
                if (serial != 0) {
                    written++;
                }
                if (!holds(b, block, serial)) {
                    long found = b.getLong(8);
                    assertTrue(aheadBlock < 0 && found != 0 && holds(b, block, found), "block " + block
                            + " holds (" + b.getLong(0) + ", " + found + ")..., the guest's table says serial " + serial
                            + (aheadBlock < 0 ? "" : "; block " + aheadBlock + " was ahead already"));
                    aheadBlock = block;
                    aheadSerial = found;
                }
            }
        }
        if (aheadBlock >= 0) {
            assertEquals(highest + 1, aheadSerial, "block " + aheadBlock + " is ahead of the table by more than the "
                    + "one write in flight");
        }
        return written;
    }

    /** Whether the block in {@code b} is 256 pairs (block, serial), or zeros for serial 0. */
    private static boolean holds(ByteBuffer b, long block, long serial) {
        for (int q = 0; q < 512; q++) {
            long expected = serial == 0 ? 0 : (q % 2 == 0 ? block : serial);
            if (b.getLong(q * 8) != expected) {
                return false;
            }
        }
        return true;
    }

    /** The replay test guest's image, assembled once per JVM. */
    private static byte[] replayGuest;

    /**
     * Assembles replay-guest.S (test resources: reads port 0xEC, stores each reading, sleeps
     * through port 0xED) once, with the host's binutils.
     */
    static synchronized byte[] replayGuestImage() throws IOException {
        if (replayGuest == null) {
            try (var source = KvmTestSupport.class.getResourceAsStream("replay-guest.S")) {
                replayGuest = GuestBuilder.multibootImage(new String(source.readAllBytes(),
                        java.nio.charset.StandardCharsets.UTF_8));
            }
        }
        return replayGuest;
    }
}
