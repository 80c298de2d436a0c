package io.livemig.kvm;

import io.livemig.kvm.internal.Sys;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The userfaultfd binding on its own, without KVM: ordinary threads stand in for vCPUs (a load
 * from a missing page blocks the same way inside KVM_RUN). Runs wherever userfaultfd works, so
 * the post-copy binding is exercised on hosts without /dev/kvm too.
 */
class UserfaultfdTest {

    private static final int PAGE = 4096;
    private static final long PATTERN = 0x1234_5678_9abc_def0L;

    private static Userfaultfd openOrSkip() {
        try {
            return Userfaultfd.open();
        } catch (KvmException e) {
            Assumptions.abort("skipped: userfaultfd is unavailable here: " + e.getMessage());
            throw e;
        }
    }

    /** 16 pages of memfd-backed memory registered in missing mode with a fresh userfaultfd. */
    private record Registered(int memfd, MemorySegment ram, Userfaultfd uffd) implements AutoCloseable {
        static Registered create() {
            Userfaultfd uffd = openOrSkip();
            int memfd = Sys.memfd("livemig-uffd-test", 16L * PAGE);
            MemorySegment ram = Sys.mmap(16L * PAGE, Sys.PROT_READ | Sys.PROT_WRITE, Sys.MAP_SHARED, memfd, 0,
                    "test RAM");
            uffd.register(ram);
            return new Registered(memfd, ram, uffd);
        }

        long address(int page) {
            return ram.address() + (long) page * PAGE;
        }

        @Override
        public void close() {
            uffd.close(); // wakes any thread still waiting: its fault is then served normally
            Sys.munmap(ram);
            Sys.close(memfd);
        }
    }

    /** Waits (up to 10 s) for the next fault; serves nothing. */
    private static Userfaultfd.Fault nextFault(Userfaultfd uffd) {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (System.nanoTime() < deadline) {
            Userfaultfd.Fault[] faults = uffd.awaitFaults(100);
            if (faults.length > 0) {
                return faults[0];
            }
        }
        throw new AssertionError("no fault within 10 s");
    }

    @Test
    void aLoadFromAMissingPageBlocksUntilCopyInstallsItAndASecondCopyIsRefused() throws Exception {
        try (Registered r = Registered.create(); Arena arena = Arena.ofConfined()) {
            MemorySegment ram = r.ram();
            Userfaultfd uffd = r.uffd();
            AtomicLong seen = new AtomicLong(-1);
            AtomicInteger readerTid = new AtomicInteger();
            Thread reader = Thread.ofPlatform().name("uffd-reader").start(() -> {
                readerTid.set(Sys.gettid());
                seen.set(ram.get(JAVA_LONG, 3L * PAGE + 8));
            });
            Userfaultfd.Fault fault = nextFault(uffd);
            assertEquals(r.address(3), fault.address() & ~(PAGE - 1L), "the faulting page");
            if ((uffd.features() & Userfaultfd.FEATURE_THREAD_ID) != 0) {
                assertEquals(readerTid.get(), fault.threadId(), "the faulting thread");
            }
            Thread.sleep(50);
            assertTrue(reader.isAlive(), "the reader waits for the page");
            assertEquals(-1, seen.get());

            MemorySegment page = arena.allocate(PAGE, PAGE);
            page.set(JAVA_LONG, 8, PATTERN);
            assertTrue(uffd.copy(r.address(3), page, PAGE));
            reader.join(5000);
            assertEquals(PATTERN, seen.get(), "the reader sees the installed page");

            // A page pushed after the guest already has it (a demand raced the push): EEXIST,
            // reported as false, and the page keeps what was installed first.
            page.set(JAVA_LONG, 8, 42L);
            assertFalse(uffd.copy(r.address(3), page, PAGE));
            assertEquals(PATTERN, ram.get(JAVA_LONG, 3L * PAGE + 8));
        }
    }

    @Test
    void zeroPageAndMultiPageCopyServeWaitersAndOtherPagesStayMissing() throws Exception {
        try (Registered r = Registered.create(); Arena arena = Arena.ofConfined()) {
            MemorySegment ram = r.ram();
            Userfaultfd uffd = r.uffd();
            AtomicLong zero = new AtomicLong(-1);
            Thread z = Thread.ofPlatform().start(() -> zero.set(ram.get(JAVA_LONG, 5L * PAGE + 16)));
            assertEquals(r.address(5), nextFault(uffd).address() & ~(PAGE - 1L));
            assertTrue(uffd.zeroPage(r.address(5), PAGE));
            z.join(5000);
            assertEquals(0, zero.get());

            // Two contiguous pages in one UFFDIO_COPY.
            MemorySegment two = arena.allocate(2L * PAGE, PAGE);
            two.set(JAVA_LONG, 0, 7L);
            two.set(JAVA_LONG, PAGE, 8L);
            assertTrue(uffd.copy(r.address(8), two, 2L * PAGE));
            assertEquals(7L, ram.get(JAVA_LONG, 8L * PAGE));
            assertEquals(8L, ram.get(JAVA_LONG, 9L * PAGE));

            // Page 10 was never installed: a load from it still faults.
            AtomicLong late = new AtomicLong(-1);
            Thread l = Thread.ofPlatform().start(() -> late.set(ram.get(JAVA_LONG, 10L * PAGE)));
            assertEquals(r.address(10), nextFault(uffd).address() & ~(PAGE - 1L));
            assertTrue(uffd.zeroPage(r.address(10), PAGE));
            l.join(5000);
            assertEquals(0, late.get());
        }
    }

    @Test
    void aRunCopyStopsAtAPresentPageAndReportsWhatItInstalled() throws Exception {
        try (Registered r = Registered.create(); Arena arena = Arena.ofConfined()) {
            MemorySegment ram = r.ram();
            Userfaultfd uffd = r.uffd();
            MemorySegment one = arena.allocate(PAGE, PAGE);
            one.set(JAVA_LONG, 0, PATTERN);
            assertEquals(PAGE, uffd.copyRun(r.address(4), one, PAGE));

            // Pages 1..6, page 4 present: the kernel copies 1..3, stops, and says so.
            MemorySegment six = arena.allocate(6L * PAGE, PAGE);
            for (int i = 0; i < 6; i++) {
                six.set(JAVA_LONG, (long) i * PAGE, 100L + i);
            }
            assertEquals(3L * PAGE, uffd.copyRun(r.address(1), six, 6L * PAGE), "copied up to the present page");
            // From the present page: nothing (EEXIST). Past it: the rest, in one call.
            assertEquals(0, uffd.copyRun(r.address(4), six.asSlice(3L * PAGE), 3L * PAGE));
            // The same from an offset into the source, which must hold the whole run.
            assertThrows(IllegalArgumentException.class, () -> uffd.copyRun(r.address(5), six, 5L * PAGE, 2L * PAGE));
            assertThrows(IllegalArgumentException.class, () -> uffd.copyRun(r.address(5), six, -PAGE, PAGE));
            assertEquals(2L * PAGE, uffd.copyRun(r.address(5), six, 4L * PAGE, 2L * PAGE));
            for (int page = 1; page <= 6; page++) {
                long expected = page == 4 ? PATTERN : 100L + page - 1;
                assertEquals(expected, ram.get(JAVA_LONG, (long) page * PAGE), "page " + page);
            }

            // A reader blocked on page 7 is woken by the copy that installs it.
            AtomicLong seen = new AtomicLong(-1);
            Thread reader = Thread.ofPlatform().start(() -> seen.set(ram.get(JAVA_LONG, 7L * PAGE)));
            assertEquals(r.address(7), nextFault(uffd).address() & ~(PAGE - 1L));
            MemorySegment two = arena.allocate(2L * PAGE, PAGE);
            two.set(JAVA_LONG, PAGE, 77L);
            assertEquals(0, uffd.copyRun(r.address(6), two, 2L * PAGE), "page 6 is present: nothing copied");
            assertEquals(PAGE, uffd.copyRun(r.address(7), two.asSlice(PAGE), PAGE));
            reader.join(5000);
            assertEquals(77L, seen.get());
        }
    }
}
