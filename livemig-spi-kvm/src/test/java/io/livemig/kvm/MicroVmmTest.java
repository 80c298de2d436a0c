package io.livemig.kvm;

import io.livemig.kvm.internal.KvmAbi;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.Arrays;

import static io.livemig.kvm.KvmTestSupport.eventually;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The micro-VMM runs real guests under KVM: boot, console, halt, pause, dirty log, state. */
class MicroVmmTest {

    /** Where kvm_regs' RAX sits in a saved state: after the 8-byte header and the first section's 8. */
    private static final int RAX_OFFSET = 16;

    @Test
    void aMultibootElfGuestPrintsAndHalts() throws Exception {
        byte[] hello = KvmTestSupport.hello();
        try (MicroVmm vmm = MicroVmm.builder().memoryBytes(16L << 20).build()) {
            vmm.loadMultiboot(hello);
            vmm.start();
            vmm.resume();
            assertEquals(MicroVmm.RunState.HALTED, vmm.awaitStop(Duration.ofSeconds(10)), vmm.stopReason());
            // mem_upper = 16 MiB - 1 MiB = 15360 KiB = 0x3c00: EAX and EBX were set as Multiboot says.
            assertEquals("hello from the guest, mem_upper=0x00003c00\n", vmm.consoleTail());
        }
    }

    @Test
    void aBadImageIsRefusedWithAReason() throws Exception {
        KvmTestSupport.assumeKvm();
        try (MicroVmm vmm = MicroVmm.builder().memoryBytes(16L << 20).build()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> vmm.loadMultiboot(new byte[4096]));
            assertTrue(e.getMessage().contains("no Multiboot header"), e.getMessage());
        }
    }

    @Test
    void aGuestThatTripleFaultsStopsTheVmWithAReason() throws Exception {
        KvmTestSupport.assumeKvm();
        // A flat Multiboot image (load addresses in the header) whose code is ud2 with no IDT:
        // the #UD cannot be delivered, the fault escalates to a triple fault, KVM reports a shutdown.
        java.nio.ByteBuffer image = java.nio.ByteBuffer.allocate(64).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        int flags = 1 << 16;
        image.putInt(Multiboot.HEADER_MAGIC).putInt(flags).putInt(-(Multiboot.HEADER_MAGIC + flags))
                .putInt(0x100000).putInt(0x100000).putInt(0).putInt(0).putInt(0x100020);
        image.put(0x20, (byte) 0x0F).put(0x21, (byte) 0x0B);
        try (MicroVmm vmm = MicroVmm.builder().memoryBytes(16L << 20).build()) {
            vmm.loadMultiboot(image.array());
            vmm.start();
            vmm.resume();
            MicroVmm.RunState state = vmm.awaitStop(Duration.ofSeconds(10));
            assertTrue(state == MicroVmm.RunState.SHUTDOWN || state == MicroVmm.RunState.FAILED,
                    "state " + state + ": " + vmm.stopReason());
            assertTrue(vmm.stopReason() != null && vmm.stopReason().startsWith("vCPU 0"), vmm.stopReason());
            assertThrows(IllegalStateException.class, vmm::resume);
        }
    }

    @Test
    void theDirtierRunsChecksItselfAndPauseStopsIt() throws Exception {
        try (MicroVmm vmm = KvmTestSupport.runningDirtier(20L << 20)) {
            assertTrue(eventually(Duration.ofSeconds(10), () -> KvmTestSupport.checksPassed(vmm) >= 2),
                    vmm.consoleTail());
            vmm.pause();
            long console = vmm.consoleBytes();
            MemorySegment ram = vmm.vm().memory();
            long before = ram.asByteBuffer().hashCode();
            Thread.sleep(300);
            assertEquals(console, vmm.consoleBytes(), "the console grew while paused");
            assertEquals(before, ram.asByteBuffer().hashCode(), "memory changed while paused");
            vmm.resume();
            assertTrue(eventually(Duration.ofSeconds(5), () -> vmm.consoleBytes() > console), "no progress after resume");
        }
    }

    @Test
    void kvmsDirtyLogSeesTheGuestsWritesAndNothingWhilePaused() throws Exception {
        try (MicroVmm vmm = KvmTestSupport.runningDirtier(20L << 20)) {
            KvmVm vm = vmm.vm();
            long[] words = new long[(int) (vm.pageCount() / 64)];
            vm.setDirtyLogging(true);
            Thread.sleep(300);
            long dirty = vm.fetchDirtyLog(words);
            assertTrue(dirty > 100, "only " + dirty + " dirty pages after 300 ms at 20 MB/s");
            // Writes land in the working set [4 MiB, 36 MiB), pages 1024 to 9215, and in the guest's
            // own variables (near 1 MiB) and stack (below 512 KiB).
            for (int page = 9216; page < vm.pageCount(); page++) {
                assertEquals(0, words[page / 64] & (1L << page), "page " + page + " is outside the working set");
            }
            vmm.pause();
            vm.fetchDirtyLog(words);
            Thread.sleep(100);
            assertEquals(0, vm.fetchDirtyLog(words), "pages dirtied while paused");
            vmm.resume();
            Thread.sleep(100);
            assertTrue(vm.fetchDirtyLog(words) > 0, "nothing dirtied after resume");
        }
    }

    @Test
    void aPausedVcpusSavedStateIsReusedUntilARunOrASetChangesIt() throws Exception {
        try (MicroVmm vmm = KvmTestSupport.runningDirtier(20L << 20)) {
            assertTrue(eventually(Duration.ofSeconds(10), () -> KvmTestSupport.checksPassed(vmm) >= 1));
            vmm.pause();
            KvmVcpu vcpu = vmm.vcpus().get(0);
            byte[] first = vcpu.saveState();
            Thread.sleep(20);
            byte[] again = vcpu.saveState();
            // The guest's TSC (an MSR of the state) moves while paused: equal bytes mean the save was kept.
            assertArrayEquals(first, again, "saved again with nothing changed");
            again[RAX_OFFSET] ^= 1;
            assertArrayEquals(first, vcpu.saveState(), "the caller's copy is its own");
            try (Arena a = Arena.ofConfined()) {
                MemorySegment regs = a.allocate(KvmAbi.REGS_BYTES, 8);
                vcpu.get(KvmAbi.GET_REGS, regs, "KVM_GET_REGS");
                long rax = regs.get(JAVA_LONG, 0) ^ 0x5a5a;
                regs.set(JAVA_LONG, 0, rax);
                vcpu.set(KvmAbi.SET_REGS, regs, "KVM_SET_REGS");
                assertEquals(rax, ByteBuffer.wrap(vcpu.saveState()).order(ByteOrder.LITTLE_ENDIAN).getLong(RAX_OFFSET),
                        "a SET is seen by the next save");
                regs.set(JAVA_LONG, 0, rax ^ 0x5a5a);
                vcpu.set(KvmAbi.SET_REGS, regs, "KVM_SET_REGS");
            }
            byte[] beforeRun = vcpu.saveState();
            long console = vmm.consoleBytes();
            vmm.resume();
            assertTrue(eventually(Duration.ofSeconds(5), () -> vmm.consoleBytes() > console), "no progress after resume");
            vmm.pause();
            assertFalse(Arrays.equals(beforeRun, vcpu.saveState()), "the state after running is saved anew");
        }
    }

    @Test
    void aGuestMovedToAnotherVmWithItsMemoryAndStateContinuesAndChecksOk() throws Exception {
        try (MicroVmm source = KvmTestSupport.runningDirtier(20L << 20);
             MicroVmm destination = MicroVmm.builder().memoryBytes(64L << 20).build()) {
            assertTrue(eventually(Duration.ofSeconds(10), () -> KvmTestSupport.checksPassed(source) >= 1));
            source.pause();
            byte[] state = source.vcpus().get(0).saveState();
            destination.vm().memory().copyFrom(source.vm().memory());
            destination.vcpus().get(0).loadState(state);
            String before = source.consoleTail();
            int checksBefore = before.split("check ok", -1).length - 1;
            destination.start();
            destination.resume();
            assertTrue(eventually(Duration.ofSeconds(10), () -> KvmTestSupport.checksPassed(destination) >= 2),
                    "destination console: " + destination.consoleTail());
            // The destination's counters continue from the source's.
            assertTrue(destination.consoleTail().contains("check ok " + (checksBefore + 1)),
                    "expected check " + (checksBefore + 1) + " next: " + destination.consoleTail());
        }
    }

    @Test
    void throttlingSlowsTheGuest() throws Exception {
        try (MicroVmm vmm = KvmTestSupport.runningDirtier(0)) {
            long[] words = new long[(int) (vmm.vm().pageCount() / 64)];
            vmm.vm().setDirtyLogging(true);
            Thread.sleep(200);
            vmm.vm().fetchDirtyLog(words);
            long free = progress(vmm, words);
            vmm.setThrottlePercent(90);
            long throttled = progress(vmm, words);
            assertTrue(throttled * 2 < free, "90 % throttle: " + throttled + " pages against " + free + " unthrottled");
        }
    }

    /** @return pages dirtied in 200 ms, in a 32 MiB working set that random whole-page writes soon cover */
    private static long progress(MicroVmm vmm, long[] words) throws InterruptedException {
        vmm.vm().fetchDirtyLog(words);
        Thread.sleep(20);
        vmm.vm().fetchDirtyLog(words);
        Thread.sleep(20);
        return vmm.vm().fetchDirtyLog(words);
    }
}
