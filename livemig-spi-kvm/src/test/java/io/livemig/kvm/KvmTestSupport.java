package io.livemig.kvm;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Skips a test, with one line, where KVM or binutils are missing; builds the guests once. */
final class KvmTestSupport {

    private static Path dirtier;
    private static Path hello;

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
            dirtier = GuestBuilder.dirtier(Files.createTempDirectory("livemig-test-guest"));
        }
        return Files.readAllBytes(dirtier);
    }

    static synchronized byte[] hello() throws IOException {
        assumeGuests();
        if (hello == null) {
            hello = GuestBuilder.hello(Files.createTempDirectory("livemig-test-guest"));
        }
        return Files.readAllBytes(hello);
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
}
