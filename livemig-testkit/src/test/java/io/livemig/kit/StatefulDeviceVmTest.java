package io.livemig.kit;

import io.livemig.spi.DeviceMigration;
import io.livemig.spi.DeviceState;
import io.livemig.spi.DirtyTracker;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.PageSet;
import io.livemig.spi.VmDescriptor;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Stateful devices on kit VMs: DMA past the VM's dirty log, and targets made from the descriptor. */
class StatefulDeviceVmTest {

    private static final long DMA_FIRST = 100;
    private static final long DMA_PAGES = 64;
    /** 4 MiB of state, its DMA 8 MiB/s (2048 pages a second) into pages [100, 164). */
    private static final StatefulDeviceSpec NIC = StatefulDeviceSpec.of("nic0", 4 << 20).withWrites(16 << 20, 7)
            .withDma(DMA_FIRST, DMA_PAGES, 8 << 20);

    private static boolean writtenByDma(InMemoryVm vm, long page) {
        return ByteBuffer.wrap(vm.memory().page(page)).order(ByteOrder.nativeOrder()).getLong(0)
                == StatefulDevice.DMA_MAGIC;
    }

    @Test
    void dmaPagesAreReportedByTheDevicesTrackerAndNeverByTheVms() {
        VirtualTime time = new VirtualTime();
        try (InMemoryVm vm = InMemoryVm.builder().memoryBytes(4 << 20).timeSource(time).statefulDevice(NIC).build()) {
            StatefulDevice nic = vm.statefulDevice("nic0");
            DirtyTracker vmTracker = vm.dirtyTracker().orElseThrow();
            DirtyTracker dma = nic.dmaTracker().orElseThrow();
            assertThrows(IllegalStateException.class, dma::collect);
            vmTracker.start();
            dma.start();
            PageSet seen = new PageSet(vm.descriptor().memoryLayout().pageSpan());
            for (int round = 0; round < 4; round++) {
                time.sleepNanos(5_000_000L); // ~10 page writes
                PageSet collected = dma.collect();
                assertFalse(collected.isEmpty());
                for (long p = collected.nextSetBit(0); p >= 0; p = collected.nextSetBit(p + 1)) {
                    assertTrue(p >= DMA_FIRST && p < DMA_FIRST + DMA_PAGES, "page " + p + " in the DMA range");
                    seen.add(p);
                }
                assertTrue(vmTracker.collect().isEmpty(), "the vCPUs' dirty log never sees DMA");
            }
            assertTrue(nic.dmaWritesDone() >= 40);
            for (long p = 0; p < vm.descriptor().memoryLayout().pageSpan(); p++) {
                assertEquals(writtenByDma(vm, p), seen.contains(p), "page " + p + ": written iff reported");
            }
            PageSet again = dma.collect();
            assertTrue(again.isEmpty(), "collect clears");
            again.add(DMA_FIRST);
            dma.redirty(again);
            assertTrue(dma.collect().contains(DMA_FIRST), "redirty puts pages back");
            nic.migration().orElseThrow().transition(DeviceState.STOP);
            time.sleepNanos(50_000_000L);
            assertTrue(dma.collect().isEmpty(), "a stopped device writes nothing");
            dma.stop();
            assertThrows(IllegalStateException.class, dma::collect);
        }
    }

    @Test
    void onTheWallClockTheDevicesThreadWritesWithoutBeingAsked() throws Exception {
        try (InMemoryVm vm = InMemoryVm.builder().memoryBytes(4 << 20).statefulDevice(NIC).build()) {
            long deadline = System.nanoTime() + 10_000_000_000L;
            boolean written = false;
            while (!written && System.nanoTime() < deadline) {
                Thread.sleep(5);
                for (long p = DMA_FIRST; p < DMA_FIRST + DMA_PAGES && !written; p++) {
                    written = writtenByDma(vm, p);
                }
            }
            assertTrue(written, "the device's thread wrote guest memory");
        }
    }

    @Test
    void aTargetGetsTheAnnouncedDevicesFreshAndAMigrationCarriesStateAndDmaPages() {
        VirtualTime time = new VirtualTime();
        StatefulDeviceSpec small = StatefulDeviceSpec.of("ctl", 64 << 10).withChunkBytes(1024).withStates(false, false);
        try (InMemoryVm source = InMemoryVm.builder().memoryBytes(4 << 20).timeSource(time)
                .statefulDevice(NIC).statefulDevice(small).build()) {
            VmDescriptor descriptor = source.descriptor();
            assertEquals(List.of(InMemoryVm.WORKLOAD_DEVICE_ID, NIC.id(), small.id()), descriptor.deviceIds());
            assertEquals(descriptor.deviceIds(), source.devices().stream().map(MigratableDevice::id).toList());
            try (InMemoryVm target = InMemoryVm.builder().buildTarget(descriptor)) {
                assertEquals(descriptor.deviceIds(), target.descriptor().deviceIds());
                StatefulDevice nic = source.statefulDevice("nic0");
                StatefulDevice copy = target.statefulDevice("nic0");
                assertEquals(DeviceState.RUNNING, copy.migration().orElseThrow().state());
                assertEquals(NIC.supportedStates(), copy.migration().orElseThrow().supportedStates());
                assertEquals(small.supportedStates(),
                        target.statefulDevice("ctl").migration().orElseThrow().supportedStates());
                assertNotEquals(nic.digest(), copy.digest(), "a target device starts all zero");

                // What the engine does, by hand: pre-copy the device and its DMA pages, then stop and copy.
                DirtyTracker dma = nic.dmaTracker().orElseThrow();
                dma.start();
                DeviceMigration src = nic.migration().orElseThrow();
                DeviceMigration dst = copy.migration().orElseThrow();
                dst.transition(DeviceState.RESUMING);
                src.transition(DeviceState.PRE_COPY);
                ByteBuffer buffer = ByteBuffer.allocate(1 << 16);
                for (int round = 0; round < 3; round++) {
                    time.sleepNanos(10_000_000L);
                    copyPages(source, target, dma.collect());
                    while (src.read(buffer.clear()) > 0) {
                        dst.write(buffer.flip());
                    }
                }
                src.transition(DeviceState.STOP_COPY);
                copyPages(source, target, dma.collect());
                while (src.read(buffer.clear()) >= 0) {
                    dst.write(buffer.flip());
                }
                dst.transition(DeviceState.STOP);
                assertEquals(nic.digest(), copy.digest());
                for (long p = DMA_FIRST; p < DMA_FIRST + DMA_PAGES; p++) {
                    assertArrayEquals(source.memory().page(p), target.memory().page(p), "page " + p);
                }
                assertEquals(nic.dmaWritesDone(), copy.dmaWritesDone(), "the DMA activity continues there");
            }
        }
    }

    private static void copyPages(InMemoryVm from, InMemoryVm to, PageSet pages) {
        for (long p = pages.nextSetBit(0); p >= 0; p = pages.nextSetBit(p + 1)) {
            to.memory().writePages(p, 1, ByteBuffer.wrap(from.memory().page(p)));
        }
    }

    @Test
    void aTargetRefusesDevicesItCannotMake() {
        InMemoryVm.Builder builder = InMemoryVm.builder();
        VmDescriptor odd = new VmDescriptor(io.livemig.spi.MemoryLayout.contiguous(4096, 1 << 20), 1,
                List.of(InMemoryVm.WORKLOAD_DEVICE_ID, "gpu"), "livemig-mem-vcpu-v1");
        assertThrows(IllegalArgumentException.class, () -> builder.buildTarget(odd));
        assertThrows(IllegalArgumentException.class,
                () -> InMemoryVm.builder().statefulDevice(NIC).statefulDevice(NIC.withChunkBytes(4096)));
        assertThrows(IllegalArgumentException.class, () -> InMemoryVm.builder().memoryBytes(256 << 10)
                .statefulDevice(NIC).build(), "DMA pages outside RAM");
    }

    @Test
    void aSimulatedVmCarriesDevicesWithoutDma() {
        VirtualTime time = new VirtualTime();
        StatefulDeviceSpec gpu = StatefulDeviceSpec.of("gpu", 1 << 20).withWrites(1 << 20, 3);
        try (SimulatedVm vm = SimulatedVm.builder(time).memoryBytes(1 << 20).statefulDevice(gpu).build();
             SimulatedVm target = SimulatedVm.builder(new VirtualTime()).buildTarget(vm.descriptor())) {
            assertEquals(gpu.id(), vm.descriptor().deviceIds().get(1));
            time.sleepNanos(100_000_000L);
            assertTrue(vm.statefulDevice("gpu").writesDone() > 0, "it runs on the VM's virtual clock");
            assertEquals(DeviceState.RUNNING, target.statefulDevice("gpu").migration().orElseThrow().state());
            assertTrue(target.statefulDevice("gpu").dmaTracker().isEmpty());
        }
        assertThrows(IllegalArgumentException.class,
                () -> SimulatedVm.builder(time).statefulDevice(NIC).build());
    }
}
