package io.livemig.kit.contract;

import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.PageSet;
import io.livemig.spi.VmDescriptor;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The memory promises of {@link io.livemig.spi.MemorySource}, {@link io.livemig.spi.MemorySink}
 * and {@link MemoryLayout}: the descriptor matches the parts, reads fill and advance the buffer,
 * runs outside the layout are refused, a target starts all zero, and pages read from a source and
 * written into a target read back the same, page for page.
 */
public interface MemoryContract extends ContractTest {

    /**
     * The descriptor, the memory, the vCPUs and the devices tell the same story.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void theDescriptorMatchesTheVmsParts() throws Exception {
        try (MigratableVm vm = fixture().openSource()) {
            VmDescriptor d = vm.descriptor();
            assertEquals(d.memoryLayout(), vm.memory().layout(),
                    "descriptor().memoryLayout() must equal memory().layout(): the destination is built from the first");
            assertEquals(d.vcpuCount(), vm.vcpus().vcpuCount(),
                    "descriptor().vcpuCount() must equal vcpus().vcpuCount()");
            assertEquals(d.deviceIds(), vm.devices().stream().map(MigratableDevice::id).toList(),
                    "devices() must be the devices of descriptor().deviceIds(), in that order");
            assertEquals(d.disks().size(), vm.disks().size(), "disks() must be the disks of descriptor().disks()");
            assertTrue(vm.isOpen(), "isOpen() must be true for a VM just opened");
        }
    }

    /**
     * {@code readPages} fills the buffer from its position, advances it, and reads the same twice on a paused VM.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void readPagesFillsTheBufferFromItsPositionAndAdvancesIt() throws Exception {
        try (MigratableVm vm = fixture().openSource()) {
            vm.vcpus().pause();
            MemoryLayout layout = vm.memory().layout();
            int pageSize = layout.pageSizeBytes();
            MemoryRegion region = layout.regions().get(0);
            int run = (int) Math.min(4, region.pageCount());
            for (ByteBuffer buffer : List.of(ByteBuffer.allocate(run * pageSize + 10),
                    ByteBuffer.allocateDirect(run * pageSize + 10))) {
                buffer.position(3);
                vm.memory().readPages(region.firstPage(), run, buffer);
                assertEquals(3 + run * pageSize, buffer.position(), "readPages(first, " + run + ", buffer) must advance"
                        + " the buffer's position by " + run + " pages (" + (buffer.isDirect() ? "direct" : "heap")
                        + " buffer)");
                for (int i = 0; i < run; i++) {
                    byte[] got = new byte[pageSize];
                    buffer.get(3 + i * pageSize, got);
                    assertArrayEquals(Pages.read(vm.memory(), region.firstPage() + i), got, "readPages of a run must"
                            + " put page " + (region.firstPage() + i) + " at its place in the buffer, as a one-page read"
                            + " of a paused VM gives it");
                }
            }
        }
    }

    /**
     * A page past the end, in a hole, or a run across a region's end is refused with IndexOutOfBoundsException.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void runsOutsideTheLayoutAreRefused() throws Exception {
        try (MigratableVm vm = fixture().openSource()) {
            vm.vcpus().pause();
            MemoryLayout layout = vm.memory().layout();
            int pageSize = layout.pageSizeBytes();
            ByteBuffer room = ByteBuffer.allocate(2 * pageSize);
            assertThrows(IndexOutOfBoundsException.class, () -> vm.memory().readPages(layout.pageSpan(), 1, room.clear()),
                    "readPages of page " + layout.pageSpan() + " (past the layout's end) must throw IndexOutOfBoundsException");
            MemoryRegion last = layout.regions().get(layout.regions().size() - 1);
            assertThrows(IndexOutOfBoundsException.class,
                    () -> vm.memory().readPages(last.endPage() - 1, 2, room.clear()),
                    "readPages of a run across the end of region " + last + " must throw IndexOutOfBoundsException");
            for (int i = 1; i < layout.regions().size(); i++) {
                long hole = layout.regions().get(i - 1).endPage();
                if (hole < layout.regions().get(i).firstPage()) {
                    assertThrows(IndexOutOfBoundsException.class, () -> vm.memory().readPages(hole, 1, room.clear()),
                            "readPages of page " + hole + " (in a hole of the layout) must throw IndexOutOfBoundsException");
                }
            }
        }
    }

    /**
     * A new target's memory reads as zero everywhere the suite looks.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void aNewTargetsMemoryIsZero() throws Exception {
        try (MigratableVm vm = fixture().openSource();
             MigrationTarget target = fixture().createTarget(vm.descriptor())) {
            assertEquals(vm.descriptor().memoryLayout(), target.memory().layout(),
                    "createTarget(descriptor) must make a target whose memory().layout() is the descriptor's");
            assertTrue(target.vcpus().isPaused(), "a new target's vCPUs must be paused");
            int pageSize = target.memory().layout().pageSizeBytes();
            for (long page : Pages.spread(target.memory().layout())) {
                assertTrue(Pages.isZero(Pages.read(target.memory(), page), 0, pageSize),
                        "a new target's memory must be all zero: page " + page + " is not");
            }
        }
    }

    /**
     * Pages written into a target's sink read back as written; zeroPages zeroes one and leaves the others.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void pagesWrittenIntoATargetReadBackAsWritten() throws Exception {
        try (MigratableVm vm = fixture().openSource();
             MigrationTarget target = fixture().createTarget(vm.descriptor())) {
            fixture().letGuestRun(vm, java.time.Duration.ofMillis(20));
            vm.vcpus().pause();
            int pageSize = target.memory().layout().pageSizeBytes();
            java.util.SortedMap<Long, byte[]> pages = Pages.sourcePages(vm.memory(), 16);
            pages.forEach((page, bytes) -> {
                ByteBuffer source = ByteBuffer.wrap(bytes);
                target.memory().writePages(page, 1, source);
                assertEquals(pageSize, source.position(), "writePages(page, 1, buffer) must advance the buffer by one page");
            });
            pages.forEach((page, bytes) -> assertArrayEquals(bytes, Pages.read(target.memory(), page),
                    "MemorySink.readPages must return what writePages wrote: page " + page + " differs"));
            long zeroed = pages.firstKey();
            target.memory().zeroPages(zeroed, 1);
            assertTrue(Pages.isZero(Pages.read(target.memory(), zeroed), 0, pageSize),
                    "zeroPages(" + zeroed + ", 1) must leave page " + zeroed + " reading as zero");
            pages.tailMap(zeroed + 1).forEach((page, bytes) -> assertArrayEquals(bytes,
                    Pages.read(target.memory(), page), "zeroPages(" + zeroed + ", 1) must not touch page " + page));
        }
    }

    /**
     * Every page of a paused source, written into a target, reads back from the target the same.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void sourcePagesCopiedIntoATargetReadBackTheSame() throws Exception {
        try (MigratableVm vm = fixture().openSource();
             MigrationTarget target = fixture().createTarget(vm.descriptor())) {
            fixture().letGuestRun(vm, java.time.Duration.ofMillis(50));
            vm.vcpus().pause();
            MemoryLayout layout = vm.memory().layout();
            int pageSize = layout.pageSizeBytes();
            ByteBuffer buffer = ByteBuffer.allocate(64 * pageSize);
            for (MemoryRegion region : layout.regions()) {
                for (long page = region.firstPage(); page < region.endPage(); page += 64) {
                    int run = (int) Math.min(64, region.endPage() - page);
                    buffer.clear();
                    vm.memory().readPages(page, run, buffer);
                    buffer.flip();
                    target.memory().writePages(page, run, buffer);
                }
            }
            long[] source = Pages.digests(layout, vm.memory()::readPages, Optional.empty());
            long[] copy = Pages.digests(layout, target.memory()::readPages, Optional.empty());
            for (int page = 0; page < source.length; page++) {
                if (source[page] != copy[page]) {
                    fail("a page copied from MemorySource.readPages into MemorySink.writePages must read back the same:"
                            + " page " + page + " differs");
                }
            }
            assertTrue(Arrays.stream(source).anyMatch(d -> d != Pages.ZERO_DIGEST),
                    "the fixture's source must hold data (a guest that wrote); every page read as zero");
        }
    }

    /**
     * A page outside {@code populatedPages()} reads as zero.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void pagesOutsidePopulatedPagesReadAsZero() throws Exception {
        try (MigratableVm vm = fixture().openSource()) {
            vm.vcpus().pause();
            Optional<PageSet> populated = vm.memory().populatedPages();
            org.junit.jupiter.api.Assumptions.assumeTrue(populated.isPresent(),
                    "optional capability MemorySource.populatedPages() is not offered");
            MemoryLayout layout = vm.memory().layout();
            assertEquals(layout.pageSpan(), populated.get().pageSpan(),
                    "populatedPages() must span layout().pageSpan() pages");
            int pageSize = layout.pageSizeBytes();
            int checked = 0;
            for (MemoryRegion region : layout.regions()) {
                for (long page = region.firstPage(); page < region.endPage() && checked < 4096; page++) {
                    if (!populated.get().contains(page)) {
                        checked++;
                        assertTrue(Pages.isZero(Pages.read(vm.memory(), page), 0, pageSize), "populatedPages() must"
                                + " include every page that may hold data: page " + page + " is left out but is not zero");
                    }
                }
            }
        }
    }
}
