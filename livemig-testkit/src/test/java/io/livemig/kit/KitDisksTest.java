package io.livemig.kit;

import io.livemig.spi.DiskDescriptor;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.VmDescriptor;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Disks on the kit's VMs: what the guest writes to them, in real and virtual time, and what a target starts from. */
class KitDisksTest {

    private static final int BLOCK = 4096;
    /** 1 MiB/s of 4 KiB blocks: 256 writes per second. */
    private static final Workload DISK_WRITES = new Workload(WorkloadPattern.RANDOM, 0, 1L << 20, 0, 42);

    private static SimulatedVm simulated(VirtualTime clock, Workload diskWorkload) {
        return SimulatedVm.builder(clock).memoryBytes(1L << 20).disk("vda", 4L << 20, BLOCK)
                .disk("vdb", 1L << 20, 512).diskWorkload(diskWorkload).build();
    }

    /** @return bytes 0-7 (block) and 8-15 (serial) of a block the guest wrote */
    private static long[] header(byte[] block) {
        ByteBuffer b = ByteBuffer.wrap(block).order(ByteOrder.LITTLE_ENDIAN);
        return new long[] {b.getLong(0), b.getLong(8), b.getLong(16)};
    }

    @Test
    void aVmWithDisksAnnouncesThemAndCarriesTheDiskWorkloadAsADevice() {
        try (InMemoryVm vm = InMemoryVm.builder().memoryBytes(1L << 20).disk("vda", 1L << 20, BLOCK)
                .disk("vdb", 64L << 10, 512).build()) {
            VmDescriptor d = vm.descriptor();
            assertEquals(List.of(new DiskDescriptor("vda", 1L << 20, BLOCK), new DiskDescriptor("vdb", 64L << 10, 512)),
                    d.disks());
            assertEquals(List.of(InMemoryVm.WORKLOAD_DEVICE_ID, InMemoryVm.DISK_WORKLOAD_DEVICE_ID), d.deviceIds());
            assertEquals(d.deviceIds(), vm.devices().stream().map(MigratableDevice::id).toList());
            List<?> sources = ((MigratableVm) vm).disks();
            List<?> sinks = ((MigrationTarget) vm).disks();
            assertEquals(vm.inMemoryDisks(), sources);
            assertEquals(vm.inMemoryDisks(), sinks);
            assertSame(vm.inMemoryDisks().get(1), vm.disk("vdb"));
            assertThrows(IllegalArgumentException.class, () -> vm.disk("vdc"));
        }
        try (InMemoryVm plain = InMemoryVm.builder().memoryBytes(1L << 20).build()) {
            assertEquals(List.of(), plain.descriptor().disks());
            assertEquals(List.of(InMemoryVm.WORKLOAD_DEVICE_ID), plain.descriptor().deviceIds());
        }
    }

    @Test
    void theRealTimeGuestWritesSelfDescribingBlocksAndPausingStopsIt() throws Exception {
        Workload fast = new Workload(WorkloadPattern.RANDOM, 0, 8L << 20, 0, 5);
        try (InMemoryVm vm = InMemoryVm.builder().memoryBytes(1L << 20).disk("vda", 1L << 20, BLOCK)
                .diskWorkload(fast).build()) {
            InMemoryDisk disk = vm.disk("vda");
            Thread.sleep(20);
            assertEquals(0, disk.writeCount(), "a new VM is paused");
            vm.start();
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (vm.diskWritesDone() < 100 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            vm.vcpus().pause();
            long writes = vm.diskWritesDone();
            assertTrue(writes >= 100, writes + " writes");
            assertEquals(writes, disk.writeCount());
            String digest = disk.digest();
            Thread.sleep(50);
            assertEquals(writes, disk.writeCount(), "no disk write while paused");
            assertEquals(digest, disk.digest());

            long highest = 0;
            for (long block = 0; block < disk.descriptor().blockCount(); block++) {
                byte[] bytes = disk.read(block);
                long[] h = header(bytes);
                if (h[1] == 0) {
                    assertArrayEquals(new byte[BLOCK], bytes, "block " + block + " never written");
                    continue;
                }
                assertEquals(block, h[0], "a block names itself");
                assertTrue(h[1] >= 1 && h[1] <= writes, "serial " + h[1]);
                assertEquals(5, h[2], "the seed");
                highest = Math.max(highest, h[1]);
            }
            assertEquals(writes, highest, "the last write's serial is the write count");
        }
    }

    @Test
    void virtualTimeDiskWritesAreAFunctionOfTheClockAndRepeatExactly() {
        VirtualTime clock1 = new VirtualTime();
        VirtualTime clock2 = new VirtualTime();
        SimulatedVm first = simulated(clock1, DISK_WRITES);
        SimulatedVm second = simulated(clock2, DISK_WRITES);
        for (SimulatedVm vm : List.of(first, second)) {
            vm.start();
        }
        clock1.sleepNanos(1_000_000_000L);
        clock2.sleepNanos(1_000_000_000L);
        // 1 MiB/s on each disk: 256 blocks of 4 KiB on vda, 2048 of 512 bytes on vdb.
        assertEquals(256, first.disk("vda").writeCount());
        assertEquals(2048, first.disk("vdb").writeCount());
        assertEquals(256 + 2048, first.diskWritesDone());
        assertEquals(first.disk("vda").digest(), second.disk("vda").digest());
        assertEquals(first.disk("vdb").digest(), second.disk("vdb").digest());
        assertNotEquals(first.disk("vda").digest(), new InMemoryDisk("vda", 4L << 20, BLOCK).digest());

        first.vcpus().pause();
        String paused = first.disk("vda").digest();
        clock1.sleepNanos(1_000_000_000L);
        assertEquals(256, first.disk("vda").writeCount(), "paused time writes nothing");
        assertEquals(paused, first.disk("vda").digest());

        second.vcpus().throttle().orElseThrow().setThrottlePercent(50);
        clock2.sleepNanos(1_000_000_000L);
        assertEquals(256 + 128, second.disk("vda").writeCount(), "a 50 % throttle halves the disk writes");
        first.close();
        second.close();
    }

    @Test
    void aDiskIsObservedWithTheWritesDueByTheSimulatedClock() {
        VirtualTime clock = new VirtualTime();
        SimulatedVm vm = simulated(clock, DISK_WRITES);
        vm.start();
        InMemoryDisk disk = vm.disk("vda");
        var tracker = disk.tracker().orElseThrow();
        tracker.start();
        clock.sleepNanos(100_000_000L);
        // 25.6 writes due: 25 made, whichever of the disk's methods looks first.
        long collected = tracker.collect().cardinality();
        assertTrue(collected > 20 && collected <= 25, "collect applied the writes due: " + collected + " blocks");
        assertEquals(25, disk.writeCount());
        clock.sleepNanos(100_000_000L);
        ByteBuffer all = ByteBuffer.allocate((int) disk.descriptor().sizeBytes());
        disk.readBlocks(0, (int) disk.descriptor().blockCount(), all);
        assertEquals(51, disk.writeCount(), "a read applies the writes due");
        vm.close();
    }

    @Test
    void theDiskWorkloadDeviceMovesTheSequenceSoATargetWritesOn() {
        VirtualTime clock = new VirtualTime();
        SimulatedVm source = simulated(clock, DISK_WRITES);
        source.start();
        clock.sleepNanos(500_000_000L);
        source.vcpus().pause();
        SimulatedVm target = SimulatedVm.builder(clock).buildTarget(source.descriptor());
        for (int i = 0; i < source.devices().size(); i++) {
            target.devices().get(i).loadState(source.devices().get(i).saveState());
        }
        assertEquals(source.diskWorkload(), target.diskWorkload());
        target.vcpus().resume();
        clock.sleepNanos(500_000_000L);
        InMemoryDisk disk = target.disk("vda");
        assertEquals(128, disk.writeCount(), "the second half second's writes");
        long lowest = Long.MAX_VALUE;
        long highest = 0;
        for (long block = 0; block < disk.descriptor().blockCount(); block++) {
            long serial = header(disk.read(block))[1];
            if (serial != 0) {
                lowest = Math.min(lowest, serial);
                highest = Math.max(highest, serial);
            }
        }
        assertTrue(lowest > 128, "serials go on from the source's 128: " + lowest);
        assertEquals(256, highest);

        MigratableDevice device = target.devices().get(1);
        byte[] state = device.saveState();
        assertThrows(IllegalArgumentException.class, () -> device.loadState(new byte[state.length - 1]));
        ByteBuffer.wrap(state).putLong(36, 0);
        assertThrows(IllegalArgumentException.class, () -> device.loadState(state), "a zero generator");
        source.close();
        target.close();
    }

    @Test
    void aTargetStartsFromTheGivenReplicasAndNewDisksForTheRest() {
        VirtualTime clock = new VirtualTime();
        SimulatedVm source = simulated(clock, Workload.idle());
        source.disk("vda").write(3, new byte[BLOCK]);
        InMemoryDisk replica = source.disk("vda").syncedReplica("nightly");
        SimulatedVm target = SimulatedVm.builder(clock).disk(replica).buildTarget(source.descriptor());
        assertSame(replica, target.disk("vda"));
        assertTrue(target.disk("vdb").startsEmpty());
        assertEquals(source.descriptor().disks(), target.descriptor().disks());

        InMemoryDisk wrongShape = new InMemoryDisk("vda", 8L << 20, BLOCK);
        assertThrows(IllegalArgumentException.class,
                () -> SimulatedVm.builder(clock).disk(wrongShape).buildTarget(source.descriptor()));
        InMemoryDisk unknown = new InMemoryDisk("vdz", 1L << 20, BLOCK);
        assertThrows(IllegalArgumentException.class,
                () -> SimulatedVm.builder(clock).disk(unknown).buildTarget(source.descriptor()));
        assertThrows(IllegalArgumentException.class, () -> SimulatedVm.builder(clock).disk(replica).disk(replica));
        source.close();
        target.close();
    }

    @Test
    void aDiskBelongsToOneOpenVmAtATime() {
        InMemoryDisk disk = new InMemoryDisk("vda", 1L << 20, BLOCK);
        InMemoryVm first = InMemoryVm.builder().memoryBytes(1L << 20).disk(disk).build();
        assertThrows(IllegalStateException.class,
                () -> SimulatedVm.builder(new VirtualTime()).memoryBytes(1L << 20).disk(disk).build());
        first.close();
        try (InMemoryVm second = InMemoryVm.builder().memoryBytes(1L << 20).disk(disk).build()) {
            assertSame(disk, second.disk("vda"));
        }
    }

    @Test
    void theMemProviderMakesDisksFromTheUriAndTargetsWithEmptyDisks() {
        InMemoryProvider provider = new InMemoryProvider();
        try (InMemoryVm vm = provider.open(URI.create(
                "mem:vm1?size=1M&disks=vda:1M,vdb:64K:512&diskworkload=sequential&diskrate=1M&diskws=256K"));
             InMemoryVm target = provider.createTarget(URI.create("mem:vm2"), vm.descriptor())) {
            assertEquals(List.of(new DiskDescriptor("vda", 1L << 20, BLOCK), new DiskDescriptor("vdb", 64L << 10, 512)),
                    vm.descriptor().disks());
            assertEquals(new Workload(WorkloadPattern.SEQUENTIAL, 256L << 10, 1L << 20, 0, 1), vm.diskWorkload());
            assertEquals(vm.descriptor().disks(), target.descriptor().disks());
            assertTrue(target.inMemoryDisks().stream().allMatch(InMemoryDisk::startsEmpty));
        }
        assertThrows(IllegalArgumentException.class, () -> provider.open(URI.create("mem:x?disks=vda")));
    }
}
