package io.livemig.kvm;

import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.Strategy;
import io.livemig.api.Verification;
import io.livemig.channel.Channel;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.PageSet;
import io.livemig.transport.TcpChannel;
import io.livemig.transport.TcpChannelListener;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;

import static io.livemig.kvm.KvmTestSupport.eventually;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Guests past 3 GiB: RAM below the MMIO hole and from 4 GiB up, one KVM memory slot (and dirty
 * log) each, page numbers guest-physical; the dirtier's working set spans the hole; and a 16 GiB
 * guest that touched a few MiB migrates for the price of those MiB on both sides. Guest RAM is
 * allocated lazily, so a 16 GiB VM costs only what its guest writes.
 */
class KvmLargeGuestTest {

    private static final long GIB = 1L << 30;
    private static final long PAGE = KvmVm.PAGE_BYTES;
    private static final long LOW_PAGES = (3 * GIB) / PAGE;
    private static final long HIGH_FIRST_PAGE = (4 * GIB) / PAGE;
    private static final long WORKING_SET_BYTES = 4L << 20;
    /** As a RAM offset: 2 MiB below the hole and 2 MiB from 4 GiB. */
    private static final long WORKING_SET_BASE = 3 * GIB - (2L << 20);

    @Test
    void ramUpToThreeGibIsOneSlotAndTheRestStartsAtFourGib() {
        assertEquals(List.of(new MemoryRegion(0, GIB / PAGE)), KvmVm.layoutFor(GIB).regions());
        assertEquals(List.of(new MemoryRegion(0, LOW_PAGES)), KvmVm.layoutFor(3 * GIB).regions());
        MemoryLayout sixteen = KvmVm.layoutFor(16 * GIB);
        assertEquals(List.of(new MemoryRegion(0, LOW_PAGES), new MemoryRegion(HIGH_FIRST_PAGE, 13 * GIB / PAGE)),
                sixteen.regions());
        assertEquals(16 * GIB, sixteen.memoryBytes());
        assertEquals(17 * GIB / PAGE, sixteen.pageSpan());
        assertFalse(sixteen.contains(LOW_PAGES), "the hole is not RAM");
        assertEquals(List.of(new KvmVm.MemorySlot(0, 0, LOW_PAGES, 0),
                        new KvmVm.MemorySlot(1, HIGH_FIRST_PAGE, 1, 3 * GIB)),
                KvmVm.slotsFor(3 * GIB + PAGE), "the high slot maps the memfd from where the low one ends");
        assertThrows(IllegalArgumentException.class, () -> KvmVm.slotsFor(KvmVm.MAX_MEMORY_BYTES + PAGE));
        assertThrows(IllegalArgumentException.class, () -> KvmVm.slotsFor(GIB + 1));
    }

    @Test
    void aVmBeyondThreeGibHasTwoSlotsAndAMultibootMapOfBoth() throws Exception {
        KvmTestSupport.assumeGuests();
        try (MicroVmm vmm = MicroVmm.builder().memoryBytes(16 * GIB).build()) {
            KvmVm vm = vmm.vm();
            assertEquals(2, vm.slots().size());
            assertEquals(17 * GIB, vm.memory().byteSize(), "guest RAM is a view of guest-physical space");
            vmm.loadMultiboot(KvmTestSupport.dirtier());
            MemorySegment ram = vm.memory();
            long info = Multiboot.INFO_ADDRESS;
            int flags = ram.get(JAVA_INT, info);
            assertEquals(0x41, flags & 0x41, "mem_lower/mem_upper and a memory map");
            assertEquals((3 * GIB - (1L << 20)) / 1024, Integer.toUnsignedLong(ram.get(JAVA_INT, info + 8)),
                    "mem_upper reaches the hole");
            int length = ram.get(JAVA_INT, info + 44);
            long at = Integer.toUnsignedLong(ram.get(JAVA_INT, info + 48));
            long[][] expected = {{0, 640L << 10}, {1L << 20, 3 * GIB - (1L << 20)}, {4 * GIB, 13 * GIB}};
            assertEquals(expected.length * 24, length);
            for (long[] range : expected) {
                assertEquals(20, ram.get(JAVA_INT_UNALIGNED, at));
                assertEquals(range[0], ram.get(JAVA_LONG_UNALIGNED, at + 4));
                assertEquals(range[1], ram.get(JAVA_LONG_UNALIGNED, at + 12));
                assertEquals(1, ram.get(JAVA_INT_UNALIGNED, at + 20), "available RAM");
                at += 24;
            }
            // A page above 4 GiB is the memfd's page after the low 3 GiB.
            KvmMemory memory = new KvmMemory(vm, page -> { });
            long before = memory.allocatedBytes();
            ram.set(JAVA_LONG, 4 * GIB + 8 * PAGE, 99L);
            assertEquals(3 * GIB + 8 * PAGE, vm.memfdOffset(HIGH_FIRST_PAGE + 8));
            assertEquals(before + PAGE, memory.allocatedBytes());
            assertTrue(memory.populatedPages().orElseThrow().contains(HIGH_FIRST_PAGE + 8));
            memory.zeroPages(HIGH_FIRST_PAGE + 8, 1);
            assertEquals(before, memory.allocatedBytes());
            assertThrows(IndexOutOfBoundsException.class, () -> memory.readPages(LOW_PAGES, 1,
                    java.nio.ByteBuffer.allocate((int) PAGE)), "the hole is not RAM");
        }
    }

    /** A dirtier in a {@code memoryBytes} VM writing whole pages of a working set that spans the hole. */
    private static MicroVmm dirtierAcrossTheHole(long memoryBytes) throws Exception {
        MicroVmm vmm = MicroVmm.builder().memoryBytes(memoryBytes).build();
        try {
            vmm.loadMultiboot(KvmTestSupport.dirtier());
            new DirtierParams(WORKING_SET_BASE, WORKING_SET_BYTES, 4096, true, 20L << 20, 100, 300, 13)
                    .writeTo(vmm.vm(), vmm.vcpus().get(0).tscKhz());
            vmm.start();
            vmm.resume();
            return vmm;
        } catch (RuntimeException e) {
            vmm.close();
            throw e;
        }
    }

    private static boolean inWorkingSet(long page) {
        long low = (WORKING_SET_BASE) / PAGE;
        return page >= low && page < LOW_PAGES || page >= HIGH_FIRST_PAGE && page < HIGH_FIRST_PAGE + (2L << 20) / PAGE;
    }

    @Test
    void guestRamLiesOnAGibBoundaryAndARunAcrossOneIsReadAndWrittenWholeAndAgain() {
        KvmTestSupport.assumeKvm();
        try (KvmGuest guest = new KvmGuest(MicroVmm.builder().memoryBytes(5 * GIB).build())) {
            // Aligned so that a post-copy target's memfd swap moves whole page tables.
            assertEquals(0, guest.vmm().vm().memory().address() % GIB);
            KvmMemory memory = guest.memory();
            long first = GIB / PAGE - 2; // pages 262 142 to 262 145: across the first GiB's end
            java.nio.ByteBuffer pages = java.nio.ByteBuffer.allocateDirect((int) (4 * PAGE));
            for (int i = 0; i < 4 * PAGE; i += 8) {
                pages.putLong(i, 0x1000L * i + 7);
            }
            memory.writePages(first, 4, pages);
            assertEquals(4 * PAGE, pages.position());
            // The same pages from above the hole: the second slot's first GiB ends at 5 GiB.
            memory.writePages(5 * GIB / PAGE - 2, 4, pages.clear());
            for (long start : new long[] {first, 5 * GIB / PAGE - 2}) {
                java.nio.ByteBuffer back = java.nio.ByteBuffer.allocate((int) (4 * PAGE) + 16).position(16);
                memory.readPages(start, 4, back);
                assertEquals(16 + 4 * PAGE, back.position());
                assertEquals(pages.clear(), back.position(16).limit((int) (16 + 4 * PAGE)), "pages from " + start);
            }
            // Written again, over what is there: reads back the new content.
            java.nio.ByteBuffer again = java.nio.ByteBuffer.allocateDirect((int) (4 * PAGE));
            for (int i = 0; i < 4 * PAGE; i += 8) {
                again.putLong(i, ~(0x1000L * i));
            }
            memory.writePages(first, 4, again);
            java.nio.ByteBuffer back = java.nio.ByteBuffer.allocate((int) (4 * PAGE));
            memory.readPages(first, 4, back);
            assertEquals(again.clear(), back.clear());
            assertThrows(java.nio.BufferOverflowException.class,
                    () -> memory.readPages(first, 4, java.nio.ByteBuffer.allocate((int) (3 * PAGE))));
            assertThrows(java.nio.BufferUnderflowException.class,
                    () -> memory.writePages(first, 4, java.nio.ByteBuffer.allocate((int) (3 * PAGE))));
            assertThrows(IndexOutOfBoundsException.class,
                    () -> memory.writePages(LOW_PAGES - 1, 2, pages.clear()), "a run into the hole");
        }
    }

    @Test
    void theDirtyLogOfEachSlotReachesTheTracker() throws Exception {
        KvmTestSupport.assumeGuests();
        try (KvmGuest guest = new KvmGuest(dirtierAcrossTheHole(8 * GIB))) {
            assertTrue(eventually(Duration.ofSeconds(10), () -> KvmTestSupport.checksPassed(guest.vmm()) >= 1),
                    guest.vmm().consoleTail());
            assertTrue(guest.vmm().consoleTail().contains("high=5120"), guest.vmm().consoleTail());
            var tracker = guest.dirtyTracker().orElseThrow();
            tracker.start();
            for (int round = 0; round < 2; round++) {
                Thread.sleep(300);
                PageSet dirty = tracker.collect();
                assertEquals(guest.vmm().vm().pageSpan(), dirty.pageSpan());
                long below = 0;
                long above = 0;
                for (long p = dirty.nextSetBit(0); p >= 0; p = dirty.nextSetBit(p + 1)) {
                    if (p >= HIGH_FIRST_PAGE) {
                        above++;
                    } else if (p >= WORKING_SET_BASE / PAGE) {
                        below++;
                    }
                    assertTrue(inWorkingSet(p) || p < (4L << 20) / PAGE, "page " + p + " dirty, outside what the "
                            + "guest writes (its working set, and its own image and stack below 4 MiB)");
                }
                // Round 1 shows the clear re-armed exactly what round 0 returned.
                assertTrue(below > 0 && above > 0, "round " + round + ": " + below + " dirty below the hole, " + above
                        + " above");
            }
            tracker.stop();
        }
    }

    @ParameterizedTest
    @EnumSource(value = Strategy.class, names = {"PRECOPY", "POSTCOPY"})
    void aMostlyUntouchedSixteenGibGuestCostsOnlyWhatItWrote(Strategy strategy) throws Exception {
        KvmTestSupport.assumeGuests();
        long memoryBytes = 16 * GIB;
        try (KvmGuest source = new KvmGuest(dirtierAcrossTheHole(memoryBytes));
             TcpChannelListener listener = TcpChannelListener.bind(
                     new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), Duration.ofSeconds(10))) {
            assertTrue(eventually(Duration.ofSeconds(10), () -> KvmTestSupport.checksPassed(source.vmm()) >= 1),
                    source.vmm().consoleTail());
            KvmMemory sourceMemory = source.memory();
            // Every page the guest touches is populated by now: its image, tables, stacks and the
            // whole working set (the self-check read it all).
            PageSet populatedBefore = sourceMemory.populatedPages().orElseThrow();
            assertTrue(populatedBefore.nextSetBit(HIGH_FIRST_PAGE) >= 0, "the guest wrote above 4 GiB");
            CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
                try (Channel ch = listener.accept(Duration.ofSeconds(30))) {
                    return LiveMigration.receive(ch, d -> new KvmProvider().createTarget(
                            java.net.URI.create("kvm:?"), d), MigrationOptions.defaults());
                } catch (Exception e) {
                    throw new CompletionException(e);
                }
            }, task -> Thread.ofPlatform().start(task));
            MigrationReport report;
            try (Channel ch = TcpChannel.connect(listener.localAddress(), Duration.ofSeconds(5), Duration.ofSeconds(10))) {
                report = LiveMigration.migrate(source, ch, MigrationOptions.builder().strategy(strategy)
                        .downtimeLimit(Duration.ofMillis(50)).build());
            }
            try (MigrationTarget target = received.get(60, TimeUnit.SECONDS).target()) {
                assertEquals(Verification.VERIFIED, report.verification().outcome(), report.toString());
                assertEquals(populatedBefore, sourceMemory.populatedPages().orElseThrow(),
                        "the migration read pages the guest never wrote (reading a hole allocates it)");
                long sourceAllocated = sourceMemory.allocatedBytes();
                assertEquals(populatedBefore.cardinality() * PAGE, sourceAllocated);
                KvmGuest destination = (KvmGuest) target;
                assertEquals(source.memory().layout(), destination.memory().layout());
                long destinationAllocated = destination.memory().allocatedBytes();
                assertTrue(destinationAllocated <= sourceAllocated, "the destination allocated "
                        + destinationAllocated + " bytes, more than the source's populated " + sourceAllocated);
                // Pages, and verification's digests of them: holes go as runs, not 4 bytes each.
                assertTrue(report.totals().bytesOnWire() < 2 * sourceAllocated + (1L << 20), report.toString());
                MicroVmm d = destination.vmm();
                assertTrue(eventually(Duration.ofSeconds(10), () -> KvmTestSupport.checksPassed(d) >= 1),
                        "destination console: " + d.consoleTail());
                assertTrue(destination.memory().populatedPages().orElseThrow().nextSetBit(HIGH_FIRST_PAGE) >= 0,
                        "the working set above 4 GiB arrived");
            }
        }
    }
}
