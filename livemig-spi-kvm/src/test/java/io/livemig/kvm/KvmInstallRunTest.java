package io.livemig.kvm;

import io.livemig.kvm.internal.Sys;
import io.livemig.spi.DemandPaging;
import io.livemig.spi.PageSet;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Runs of contiguous pages installed into a KVM post-copy target at once
 * ({@link DemandPaging#installRun}: one {@code UFFDIO_COPY} per stretch of missing pages): the
 * pages of a run land, a page of it that is present already keeps what it holds and is reported
 * as not installed, whether the provider knew it was present or only the kernel did. The VM is
 * paused and never runs a guest; the test reads installed pages only, so it never blocks on a
 * missing one. Gated on /dev/kvm and userfaultfd (root).
 */
class KvmInstallRunTest {

    private static final int PAGE = KvmVm.PAGE_BYTES;

    /** Fills a run's buffer: page {@code i} of it starts with {@code tag + i} (as guest RAM reads it). */
    private static ByteBuffer run(ByteBuffer buffer, int pages, long tag) {
        for (int i = 0; i < pages; i++) {
            buffer.order(ByteOrder.nativeOrder()).putLong(i * PAGE, tag + i);
        }
        return buffer;
    }

    @Test
    void aRunInstallsItsMissingPagesAndLeavesPresentOnesAsTheyAre() {
        KvmTestSupport.assumeKvm();
        try (MicroVmm vmm = MicroVmm.builder().memoryBytes(16L << 20).build()) {
            KvmGuest target = new KvmGuest(vmm);
            DemandPaging paging = target.demandPaging().orElseThrow();
            MemorySegment ram = vmm.vm().memory();
            PageSet missing = new PageSet(vmm.vm().pageCount());
            missing.addRange(16, 32); // pages 16..47
            paging.arm(missing, (page, vcpu) -> { });

            // Page 20 arrives alone first (a demanded page); the pushed run 16..23 then covers it.
            assertEquals(true, paging.install(20, run(ByteBuffer.allocate(PAGE), 1, 7000)));
            long mask = paging.installRun(16, 8, run(ByteBuffer.allocate(8 * PAGE), 8, 100));
            assertEquals(0xffL & ~(1L << 4), mask, "every page but 20");
            assertEquals(7000L, ram.get(JAVA_LONG, 20L * PAGE), "page 20 keeps what it got first");
            for (int i : new int[] {0, 1, 2, 3, 5, 6, 7}) {
                assertEquals(100L + i, ram.get(JAVA_LONG, (16L + i) * PAGE), "page " + (16 + i));
            }

            // A run from a direct buffer (handed to the kernel without a copy).
            assertEquals(0xffL, paging.installRun(24, 8, run(ByteBuffer.allocateDirect(8 * PAGE), 8, 200)));
            assertEquals(207L, ram.get(JAVA_LONG, 31L * PAGE));

            // Page 40 gets content behind the provider's back (another mapping of the memfd): the
            // kernel refuses it (EEXIST) in the middle of the run, and the copy goes on after it.
            MemorySegment alias = Sys.mmap(48L * PAGE, Sys.PROT_READ | Sys.PROT_WRITE, Sys.MAP_SHARED,
                    vmm.vm().memoryFd(), 0, "test alias");
            try {
                alias.set(JAVA_LONG, 40L * PAGE, 4040L);
            } finally {
                Sys.munmap(alias);
            }
            mask = paging.installRun(36, 8, run(ByteBuffer.allocate(8 * PAGE), 8, 300));
            assertEquals(0xffL & ~(1L << 4), mask, "every page but 40");
            assertEquals(4040L, ram.get(JAVA_LONG, 40L * PAGE), "page 40 keeps what it held");
            assertEquals(303L, ram.get(JAVA_LONG, 39L * PAGE));
            assertEquals(305L, ram.get(JAVA_LONG, 41L * PAGE));
            assertEquals(307L, ram.get(JAVA_LONG, 43L * PAGE));

            // 32 missing: 1 + 7 + 8 + 8 arrived (page 40 counts: it is present).
            assertEquals(32 - 24, paging.missingPages());
            // A run of pages none of which is missing changes nothing.
            assertEquals(0L, paging.installRun(16, 4, ByteBuffer.allocate(4 * PAGE)));
            assertEquals(100L, ram.get(JAVA_LONG, 16L * PAGE));
            assertThrows(IllegalArgumentException.class, () -> paging.installRun(44, 2, ByteBuffer.allocate(PAGE)));
            assertThrows(IllegalArgumentException.class,
                    () -> paging.installRun(0, DemandPaging.MAX_RUN_PAGES + 1,
                            ByteBuffer.allocate((DemandPaging.MAX_RUN_PAGES + 1) * PAGE)));
            assertThrows(IndexOutOfBoundsException.class,
                    () -> paging.installRun(vmm.vm().pageCount() - 1, 2, ByteBuffer.allocate(2 * PAGE)));
            target.close();
        }
    }
}
