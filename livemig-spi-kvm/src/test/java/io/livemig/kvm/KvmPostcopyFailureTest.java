package io.livemig.kvm;

import io.livemig.spi.DemandPaging;
import io.livemig.spi.PageSet;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

import static io.livemig.kvm.KvmTestSupport.eventually;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Post-copy failing at a KVM destination: a vCPU is blocked in KVM_RUN on a page that will never
 * come, and the engine gives up on the target the way {@code DestinationMigration} does after a
 * failed post-copy (pause, close, then its post-copy receiver disarms demand paging), or with
 * demand paging disarmed first. Nothing may throw, the vCPU thread must end, the userfaultfd, the
 * memfd and the guest RAM mapping must be released, and all of it well within a few seconds.
 * Gated on /dev/kvm and binutils (the dirtier guest is assembled here), like the other KVM tests.
 */
class KvmPostcopyFailureTest {

    private static final long RAM_BYTES = 64L << 20;
    private static final long WORKING_SET_BASE = 4L << 20;
    private static final long WORKING_SET_BYTES = 32L << 20;
    /** The whole tear-down must take less than this. */
    private static final Duration TEAR_DOWN_LIMIT = Duration.ofSeconds(2);

    /** A target whose guest ran into a missing page and waits for it, with what the test checks. */
    private record BlockedTarget(KvmGuest target, DemandPaging paging, int vcpuThreadId, long faultedPage) {

        /**
         * @return whether the vCPU's kernel thread still exists; a joined Java thread's kernel
         *         thread may take a moment more to exit, so callers poll for its end
         */
        boolean vcpuThreadAlive() {
            return Files.exists(Path.of("/proc/self/task/" + vcpuThreadId));
        }
    }

    /** What this process holds of KVM guests: descriptors and mappings, counted by kind. */
    private record Held(int userfaultfds, int guestRamFds, int vmFds, int guestRamMappings) {

        static Held now() throws IOException {
            int uffd = 0;
            int memfd = 0;
            int vm = 0;
            try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
                for (Path fd : fds.toList()) {
                    String target;
                    try {
                        target = Files.readSymbolicLink(fd).toString();
                    } catch (IOException gone) {
                        continue; // the directory's own descriptor, closed by now
                    }
                    uffd += target.contains("[userfaultfd]") ? 1 : 0;
                    memfd += target.contains("memfd:livemig-guest-ram") ? 1 : 0;
                    vm += target.contains("kvm-vm") ? 1 : 0;
                }
            }
            List<String> maps = Files.readAllLines(Path.of("/proc/self/maps"));
            int mappings = (int) maps.stream().filter(l -> l.contains("memfd:livemig-guest-ram")).count();
            return new Held(uffd, memfd, vm, mappings);
        }
    }

    /**
     * A dirtier guest in a target whose working set is all missing: its first write there
     * faults, and nobody installs the page.
     */
    private static BlockedTarget blockedTarget() throws Exception {
        MicroVmm vmm = MicroVmm.builder().memoryBytes(RAM_BYTES).build();
        vmm.loadMultiboot(KvmTestSupport.dirtier());
        new DirtierParams(WORKING_SET_BASE, WORKING_SET_BYTES, 4096, true, 40L << 20, 100, 300, 7)
                .writeTo(vmm.vm().memory(), vmm.vcpus().get(0).tscKhz());
        KvmGuest target = new KvmGuest(vmm);
        DemandPaging paging = target.demandPaging().orElseThrow();
        PageSet missing = new PageSet(vmm.vm().pageCount());
        missing.addRange(WORKING_SET_BASE / KvmVm.PAGE_BYTES, WORKING_SET_BYTES / KvmVm.PAGE_BYTES);
        CountDownLatch faulted = new CountDownLatch(1);
        AtomicLong faultedPage = new AtomicLong(-1);
        AtomicInteger faultedVcpu = new AtomicInteger(-2);
        paging.arm(missing, (page, vcpu) -> {
            if (faultedPage.compareAndSet(-1, page)) {
                faultedVcpu.set(vcpu);
                faulted.countDown();
            }
        });
        target.vcpus().resume();
        assertTrue(faulted.await(10, TimeUnit.SECONDS), "the guest never touched its missing working set");
        assertTrue(missing.contains(faultedPage.get()), "fault on page " + faultedPage.get());
        assertEquals(0, faultedVcpu.get(), "the fault came from vCPU 0");
        // Blocked: the guest makes no progress (it prints a line every 100 ms while it runs).
        long console = vmm.consoleBytes();
        Thread.sleep(300);
        assertEquals(console, vmm.consoleBytes(), "the guest ran on: " + vmm.consoleTail());
        assertEquals(missing.cardinality(), paging.missingPages());
        return new BlockedTarget(target, paging, vmm.vcpus().get(0).threadId(), faultedPage.get());
    }

    @Test
    void aFailedPostcopyTargetPausedThenClosedReleasesItsBlockedVcpuAndEveryResource() throws Exception {
        KvmTestSupport.assumeGuests();
        Held before = Held.now();
        BlockedTarget b = blockedTarget();
        assertTrue(b.vcpuThreadAlive());
        assertEquals(before.userfaultfds() + 1, Held.now().userfaultfds(), "armed: one userfaultfd more");

        long start = System.nanoTime();
        // DestinationMigration.splitFailure -> TargetSetup.stopTarget: pause, then close ...
        assertDoesNotThrow(() -> b.target().vcpus().pause());
        assertDoesNotThrow(b.target()::close);
        // ... then the run's finally closes the post-copy receiver, which disarms demand paging.
        assertDoesNotThrow(b.paging()::disarm);
        Duration took = Duration.ofNanos(System.nanoTime() - start);

        assertTrue(took.compareTo(TEAR_DOWN_LIMIT) < 0, "tear-down took " + took.toMillis() + " ms");
        assertTrue(eventually(Duration.ofSeconds(1), () -> !b.vcpuThreadAlive()),
                "the vCPU thread blocked on page " + b.faultedPage() + " ended");
        assertFalse(b.target().isOpen());
        assertEquals(before, Held.now(), "the userfaultfd, the memfd, the VM fd and the RAM mapping are released");
        assertDoesNotThrow(b.target()::close, "close is idempotent");
    }

    @Test
    void demandPagingDisarmedFirstKeepsTheVcpuBlockedUntilTheCloseReleasesIt() throws Exception {
        KvmTestSupport.assumeGuests();
        Held before = Held.now();
        BlockedTarget b = blockedTarget();
        MicroVmm vmm = b.target().vmm();

        long start = System.nanoTime();
        assertDoesNotThrow(b.paging()::disarm);
        // Pages are missing: the vCPU stays blocked rather than running on zeros where its data
        // should be (DemandPaging.disarm's contract), and the userfaultfd stays open until close.
        long console = vmm.consoleBytes();
        Thread.sleep(300);
        assertEquals(console, vmm.consoleBytes(), "the guest ran on after disarm: " + vmm.consoleTail());
        assertTrue(b.vcpuThreadAlive());
        assertEquals(before.userfaultfds() + 1, Held.now().userfaultfds());

        long closing = System.nanoTime();
        assertDoesNotThrow(() -> b.target().vcpus().pause());
        assertDoesNotThrow(b.target()::close);
        Duration took = Duration.ofNanos(System.nanoTime() - closing);

        assertTrue(took.compareTo(TEAR_DOWN_LIMIT) < 0, "pause and close took " + took.toMillis() + " ms");
        assertTrue(eventually(Duration.ofSeconds(1), () -> !b.vcpuThreadAlive()), "the vCPU thread ended");
        assertEquals(before, Held.now(), "the userfaultfd, the memfd, the VM fd and the RAM mapping are released");
        assertTrue(Duration.ofNanos(System.nanoTime() - start).compareTo(Duration.ofSeconds(5)) < 0);
    }

    @Test
    void aBlockedTargetClosedWithoutPauseReleasesItsVcpuAndEveryResource() throws Exception {
        KvmTestSupport.assumeGuests();
        Held before = Held.now();
        BlockedTarget b = blockedTarget();

        long start = System.nanoTime();
        assertDoesNotThrow(b.target()::close);
        Duration took = Duration.ofNanos(System.nanoTime() - start);

        assertTrue(took.compareTo(TEAR_DOWN_LIMIT) < 0, "close took " + took.toMillis() + " ms");
        assertTrue(eventually(Duration.ofSeconds(1), () -> !b.vcpuThreadAlive()), "the vCPU thread ended");
        assertEquals(before, Held.now());
        assertDoesNotThrow(b.paging()::disarm, "disarm after close does nothing");
        assertFalse(b.paging().install(b.faultedPage(), ByteBuffer.allocate(KvmVm.PAGE_BYTES)),
                "nothing is installed into a closed target");
    }
}
