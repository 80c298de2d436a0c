package io.livemig.kvm;

import io.livemig.kvm.internal.Sys;
import io.livemig.spi.DemandPaging;
import io.livemig.spi.PageSet;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A post-copy target whose missing pages are too many to punch inside the downtime gets a fresh
 * memfd instead ({@link RamSwap}): the pages that stay read as they were (served on a fault from
 * the old memory, then refilled), the stale pre-copied versions of missing pages are never seen
 * (their first touch waits for the install), a page never written reads as zero, and once every
 * page is present the old memory is gone: the memfd holds only what stays and what was
 * installed. Reads from the test thread stand in for a vCPU's (the fault is the same). Gated on
 * /dev/kvm and userfaultfd (root).
 */
class KvmRamSwapTest {

    private static final int PAGE = KvmVm.PAGE_BYTES;
    /** More than KvmDemandPaging punches (16 384 pages): the memfd is swapped. */
    private static final int MISSING = 20_000;
    private static final long FIRST_MISSING = 1_000;

    private static int oldRamMappings() throws Exception {
        List<String> maps = Files.readAllLines(Path.of("/proc/self/maps"));
        return (int) maps.stream().filter(l -> l.contains("memfd:livemig-guest-ram")).count();
    }

    /** Waits (5 s at most) until the mappings of guest RAM are back to {@code mappings}: the old memory is freed. */
    private static void awaitOldRamUnmapped(int mappings) throws InterruptedException {
        assertTrue(KvmTestSupport.eventually(Duration.ofSeconds(5), () -> {
            try {
                return oldRamMappings() == mappings;
            } catch (Exception e) {
                return false;
            }
        }), "the old guest RAM was unmapped");
    }

    @Test
    void aSwappedTargetKeepsItsPagesHidesStaleOnesAndFreesTheOldMemory() throws Exception {
        KvmTestSupport.assumeKvm();
        try (MicroVmm vmm = MicroVmm.builder().memoryBytes(128L << 20).build()) {
            KvmGuest target = new KvmGuest(vmm);
            DemandPaging paging = target.demandPaging().orElseThrow();
            MemorySegment ram = vmm.vm().memory();
            // Pre-copy left pages 0..999 (they stay) and the missing pages' old versions (stale).
            for (long page = 0; page < FIRST_MISSING + MISSING; page++) {
                ram.set(JAVA_LONG, page * PAGE, 1_000_000 + page);
            }
            PageSet missing = new PageSet(vmm.vm().pageCount());
            missing.addRange(FIRST_MISSING, MISSING);
            int mappingsBefore = oldRamMappings();
            paging.arm(missing, (page, vcpu) -> { });
            assertEquals(MISSING, paging.missingPages());

            // A page that stays, touched at once (served by the fault thread, or refilled already).
            assertEquals(1_000_007L, ram.get(JAVA_LONG, 7L * PAGE));
            // A page never written: zero, not faulted from anywhere.
            long untouched = FIRST_MISSING + MISSING + 10;
            assertEquals(0L, ram.get(JAVA_LONG, untouched * PAGE));

            // Every missing page arrives, in runs; none of the stale versions shows through.
            ByteBuffer run = ByteBuffer.allocateDirect(DemandPaging.MAX_RUN_PAGES * PAGE).order(ByteOrder.nativeOrder());
            for (long first = FIRST_MISSING; first < FIRST_MISSING + MISSING; first += DemandPaging.MAX_RUN_PAGES) {
                int pages = (int) Math.min(DemandPaging.MAX_RUN_PAGES, FIRST_MISSING + MISSING - first);
                for (int i = 0; i < pages; i++) {
                    run.putLong(i * PAGE, 2_000_000 + first + i);
                }
                paging.installRun(first, pages, run.slice(0, pages * PAGE));
            }
            assertEquals(0, paging.missingPages());
            for (long page = 0; page < FIRST_MISSING + MISSING; page += 97) {
                long expected = page < FIRST_MISSING ? 1_000_000 + page : 2_000_000 + page;
                assertEquals(expected, ram.get(JAVA_LONG, page * PAGE), "page " + page);
            }

            // Ending waits for the refill; the old memory is unmapped (freed) by then.
            paging.disarm();
            awaitOldRamUnmapped(mappingsBefore);
            assertEquals(1_000_999L, ram.get(JAVA_LONG, 999L * PAGE), "refilled");
            long allocatedPages = Sys.allocatedBytes(vmm.vm().memoryFd()) / PAGE;
            // What stays, what was installed, and the one page read as zero: no stale page.
            assertTrue(allocatedPages <= FIRST_MISSING + MISSING + 1,
                    allocatedPages + " pages allocated: the stale versions were freed");
            target.close();
        }
    }

    @Test
    void aTargetPreparedAtTheSwitchoverSwapsBeforeItKnowsTheMissingPagesAndArmsTheSame() throws Exception {
        KvmTestSupport.assumeKvm();
        try (MicroVmm vmm = MicroVmm.builder().memoryBytes(64L << 20).build()) {
            KvmGuest target = new KvmGuest(vmm);
            DemandPaging paging = target.demandPaging().orElseThrow();
            MemorySegment ram = vmm.vm().memory();
            for (long page = 0; page < 2_000; page++) {
                ram.set(JAVA_LONG, page * PAGE, 1_000_000 + page);
            }
            int mappingsBefore = oldRamMappings();
            paging.prepare(); // swapped now: the pages moved to the old memory
            assertEquals(mappingsBefore + 1, oldRamMappings(), "the old memory is mapped beside guest RAM");
            // Few missing pages (they would be punched without the preparation): pages 100..109.
            PageSet missing = new PageSet(vmm.vm().pageCount());
            missing.addRange(100, 10);
            paging.arm(missing, (page, vcpu) -> { });
            assertEquals(10, paging.missingPages());
            assertEquals(1_000_099L, ram.get(JAVA_LONG, 99L * PAGE), "a page that stays");
            ByteBuffer page = ByteBuffer.allocateDirect(PAGE).order(ByteOrder.nativeOrder());
            for (long p = 100; p < 110; p++) {
                page.putLong(0, 3_000_000 + p);
                paging.install(p, page.clear());
            }
            assertEquals(3_000_105L, ram.get(JAVA_LONG, 105L * PAGE), "installed, not the stale version");
            paging.disarm();
            awaitOldRamUnmapped(mappingsBefore);
            assertEquals(1_001_999L, ram.get(JAVA_LONG, 1_999L * PAGE), "refilled");
            target.close();
        }
    }

    @Test
    void aTargetPreparedButNeverArmedFreesTheOldMemoryWhenClosed() throws Exception {
        KvmTestSupport.assumeKvm();
        try (MicroVmm vmm = MicroVmm.builder().memoryBytes(64L << 20).build()) {
            KvmGuest target = new KvmGuest(vmm);
            DemandPaging paging = target.demandPaging().orElseThrow();
            vmm.vm().memory().set(JAVA_LONG, 0, 42);
            int mappingsBefore = oldRamMappings();
            paging.prepare();
            assertEquals(mappingsBefore + 1, oldRamMappings());
            target.close(); // the migration failed before COMMIT: the target is discarded
            // Guest RAM's own mapping goes with the VM; the old memory must not stay behind.
            assertEquals(mappingsBefore - 1, oldRamMappings(), "the old memory went with the target");
        }
    }
}
