package io.livemig.kit.contract;

import io.livemig.spi.DemandPaging;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.PageSet;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The promises of {@link DemandPaging}, for a target that offers
 * {@link MigrationTarget#demandPaging()}: armed pages are missing until installed, a page is
 * installed at most once (a second install changes nothing), runs install what their mask says,
 * and installed pages read back as sent. Skipped, by name, where the capability is missing.
 */
public interface DemandPagingContract extends ContractTest {

    /**
     * Armed pages count as missing until installed; a second install of a page is refused and changes nothing.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void armedPagesAreMissingUntilInstalledOnce() throws Exception {
        try (MigratableVm vm = fixture().openSource();
             MigrationTarget target = fixture().createTarget(vm.descriptor())) {
            DemandPaging paging = Require.demandPaging(target);
            MemoryLayout layout = target.memory().layout();
            int pageSize = layout.pageSizeBytes();
            fixture().letGuestRun(vm, java.time.Duration.ofMillis(20));
            vm.vcpus().pause();
            long first = Pages.sourcePages(vm.memory(), 1).firstKey();
            int count = (int) Math.min(8, layout.regions().get(layout.regionIndexOf(first)).endPage() - first);
            PageSet missing = new PageSet(layout.pageSpan());
            missing.addRange(first, count);
            paging.arm(missing, (page, vcpu) -> { });
            try {
                assertEquals(count, paging.missingPages(), "missingPages() must count the " + count + " pages armed");
                assertEquals(target.vcpus().vcpuCount(), paging.blockedNanosPerVcpu().length,
                        "blockedNanosPerVcpu() must have one entry per vCPU");
                byte[] content = Pages.read(vm.memory(), first);
                assertTrue(paging.install(first, ByteBuffer.wrap(content)),
                        "install() of a missing page must return true");
                assertFalse(paging.install(first, ByteBuffer.wrap(Pages.pattern(pageSize, first, 4))),
                        "install() of a page already present must return false: page " + first + " was installed twice");
                assertArrayEquals(content, Pages.read(target.memory(), first), "a page installed must read back as"
                        + " installed, and a second install must leave it unchanged: page " + first + " differs");
                assertEquals(count - 1, paging.missingPages(), "missingPages() must drop by one per page installed");
                if (count >= 2) {
                    assertTrue(paging.installZero(first + 1), "installZero() of a missing page must return true");
                    assertTrue(Pages.isZero(Pages.read(target.memory(), first + 1), 0, pageSize),
                            "a page installed by installZero() must read as zero");
                }
                if (count >= 4) {
                    ByteBuffer run = ByteBuffer.allocate(3 * pageSize);
                    for (int i = 0; i < 3; i++) {
                        run.put(Pages.read(vm.memory(), first + 1 + i));
                    }
                    long mask = paging.installRun(first + 1, 3, run.flip());
                    assertEquals(0b110L, mask, "installRun() over one present and two missing pages must return the"
                            + " mask of the two it installed");
                    assertTrue(Pages.isZero(Pages.read(target.memory(), first + 1), 0, pageSize),
                            "installRun() must leave a present page unchanged: page " + (first + 1) + " was overwritten");
                    assertArrayEquals(Pages.read(vm.memory(), first + 2), Pages.read(target.memory(), first + 2),
                            "installRun() must place page " + (first + 2) + " at its offset of the run");
                }
                for (long page : List.copyOf(Pages.list(missing))) {
                    paging.installZero(page);
                }
                assertEquals(0, paging.missingPages(), "missingPages() must be 0 once every armed page was installed");
            } finally {
                paging.disarm();
                paging.disarm();
            }
        }
    }

    /**
     * A second arm() is refused with IllegalStateException.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void armingTwiceIsRefused() throws Exception {
        try (MigratableVm vm = fixture().openSource();
             MigrationTarget target = fixture().createTarget(vm.descriptor())) {
            DemandPaging paging = Require.demandPaging(target);
            MemoryLayout layout = target.memory().layout();
            PageSet missing = new PageSet(layout.pageSpan());
            missing.add(layout.regions().get(0).firstPage());
            paging.arm(missing, (page, vcpu) -> { });
            try {
                assertThrows(IllegalStateException.class, () -> paging.arm(missing, (page, vcpu) -> { }),
                        "arm() on armed demand paging must throw IllegalStateException");
                paging.installZero(layout.regions().get(0).firstPage());
            } finally {
                paging.disarm();
            }
        }
    }
}
