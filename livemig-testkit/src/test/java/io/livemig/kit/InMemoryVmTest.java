package io.livemig.kit;

import io.livemig.spi.DirtyTracker;
import io.livemig.spi.PageSet;
import io.livemig.spi.VcpuState;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The in-memory kit honours the SPI contracts its users' tests rely on. */
class InMemoryVmTest {

    private static InMemoryVm vm(WorkloadPattern pattern, long rate) {
        return InMemoryVm.builder().memoryBytes(16L << 20).vcpus(2)
                .workload(new Workload(pattern, 0, rate, 64, 3)).build();
    }

    @Test
    void bothKitVmsAreOpenUntilClosedAndCloseIsIdempotent() {
        InMemoryVm inMemory = vm(WorkloadPattern.RANDOM, 1L << 20);
        SimulatedVm simulated = SimulatedVm.builder(new VirtualTime()).memoryBytes(4L << 20).build();
        for (io.livemig.spi.MigratableVm vm : List.of(inMemory, simulated)) {
            assertTrue(vm.isOpen());
            vm.close();
            assertFalse(vm.isOpen());
            vm.close();
            assertFalse(vm.isOpen());
        }
    }

    @Test
    void aNewVmIsPausedAndWritesNothingUntilStarted() throws Exception {
        try (InMemoryVm vm = vm(WorkloadPattern.RANDOM, 50L << 20)) {
            assertTrue(vm.vcpus().isPaused());
            Thread.sleep(30);
            assertEquals(0, vm.writesDone());
            vm.start();
            Thread.sleep(50);
            assertTrue(vm.writesDone() > 0);
        }
    }

    @Test
    void pauseReturnsOnlyWhenNoWriteIsInFlight() throws Exception {
        try (InMemoryVm vm = vm(WorkloadPattern.RANDOM, 200L << 20)) {
            DirtyTracker tracker = vm.dirtyTracker().orElseThrow();
            tracker.start();
            vm.start();
            Thread.sleep(30);
            vm.vcpus().pause();
            long writes = vm.writesDone();
            tracker.collect();
            byte[] before = vm.memory().page(7);
            Thread.sleep(30);
            assertEquals(writes, vm.writesDone());
            assertTrue(tracker.collect().isEmpty(), "nothing is written while paused");
            assertArrayEquals(before, vm.memory().page(7));
        }
    }

    @Test
    void everyWrittenPageIsCollectedExactlyOnceAndRedirtyPutsPagesBack() throws Exception {
        try (InMemoryVm vm = vm(WorkloadPattern.SEQUENTIAL, 20L << 20)) {
            DirtyTracker tracker = vm.dirtyTracker().orElseThrow();
            assertThrows(IllegalStateException.class, tracker::collect);
            tracker.start();
            vm.start();
            Thread.sleep(50);
            vm.vcpus().pause();
            PageSet first = tracker.collect();
            assertFalse(first.isEmpty());
            // Every page that differs from zero was written (memory started zero) and is in the set.
            long nonZero = 0;
            for (long p = 0; p < 4096; p++) {
                byte[] page = vm.memory().page(p);
                boolean zero = true;
                for (byte b : page) {
                    zero &= b == 0;
                }
                if (!zero) {
                    nonZero++;
                    assertTrue(first.contains(p), "page " + p + " written but not collected");
                }
            }
            assertEquals(nonZero, first.cardinality());
            assertTrue(tracker.collect().isEmpty(), "collect clears");
            tracker.redirty(first);
            assertEquals(first, tracker.collect());
            tracker.stop();
        }
    }

    @Test
    void throttlingSlowsTheGuestDown() throws Exception {
        try (InMemoryVm vm = vm(WorkloadPattern.RANDOM, 100L << 20)) {
            vm.start();
            Thread.sleep(20);
            long a = vm.writesDone();
            Thread.sleep(200);
            long full = vm.writesDone() - a;
            vm.vcpus().throttle().orElseThrow().setThrottlePercent(90);
            Thread.sleep(20);
            long b = vm.writesDone();
            Thread.sleep(200);
            long throttled = vm.writesDone() - b;
            assertTrue(throttled < full / 3, "throttled " + throttled + " vs full " + full);
            assertThrows(IllegalArgumentException.class, () -> vm.vcpus().throttle().orElseThrow().setThrottlePercent(100));
        }
    }

    @Test
    void vcpuAndDeviceStateRestoreTheSameGuestElsewhere() throws Exception {
        try (InMemoryVm a = vm(WorkloadPattern.RANDOM, 10L << 20); InMemoryVm b = vm(WorkloadPattern.IDLE, 0)) {
            a.start();
            Thread.sleep(20);
            a.vcpus().pause();
            List<VcpuState> states = a.vcpus().saveState();
            b.start();
            assertThrows(IllegalStateException.class, () -> b.vcpus().loadState(states), "only while paused");
            b.vcpus().pause();
            assertEquals(2, states.size());
            b.vcpus().loadState(states);
            b.devices().get(0).loadState(a.devices().get(0).saveState());
            assertEquals(a.workload(), b.workload());
            assertEquals(a.writesDone(), b.writesDone());
            assertThrows(IllegalArgumentException.class,
                    () -> b.vcpus().loadState(List.of(new VcpuState(0, "other-format", new byte[32]))));
            assertThrows(IllegalArgumentException.class, () -> b.devices().get(0).loadState(new byte[3]));
        }
    }

    @Test
    void memoryReadsAndWritesWholePagesInsideRegionsOnly() {
        try (InMemoryVm vm = InMemoryVm.builder().memoryBytes(1L << 20).build()) {
            ByteBuffer page = ByteBuffer.allocate(8192);
            for (int i = 0; i < 8192; i++) {
                page.put((byte) i);
            }
            page.flip();
            vm.memory().writePages(10, 2, page);
            assertEquals(8192, page.position());
            ByteBuffer back = ByteBuffer.allocate(8192);
            vm.memory().readPages(10, 2, back);
            assertArrayEquals(page.array(), back.array());
            vm.memory().zeroPages(10, 1);
            assertEquals(0, vm.memory().page(10)[5]);
            assertThrows(IndexOutOfBoundsException.class, () -> vm.memory().readPages(255, 2, ByteBuffer.allocate(8192)));
            assertThrows(IndexOutOfBoundsException.class, () -> vm.memory().zeroPages(256, 1));
        }
    }

    @Test
    void prefillIsDeterministicPerSeed() {
        try (InMemoryVm a = InMemoryVm.builder().memoryBytes(1L << 20).prefill(0.5).build();
             InMemoryVm b = InMemoryVm.builder().memoryBytes(1L << 20).prefill(0.5).build()) {
            int filled = 0;
            for (long p = 0; p < 256; p++) {
                assertArrayEquals(a.memory().page(p), b.memory().page(p));
                filled += a.memory().page(p)[0] != 0 || a.memory().page(p)[1] != 0 ? 1 : 0;
            }
            assertTrue(filled > 80 && filled < 176, "about half filled: " + filled);
        }
    }
}
