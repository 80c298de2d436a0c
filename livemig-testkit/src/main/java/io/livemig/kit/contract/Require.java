package io.livemig.kit.contract;

import io.livemig.spi.DemandPaging;
import io.livemig.spi.DirtyTracker;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.VcpuThrottle;
import org.junit.jupiter.api.Assumptions;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The optional capabilities a contract check needs: each returns it, or skips the check with a
 * JUnit assumption that names the capability. Static; thread-safe.
 */
final class Require {

    private Require() {
    }

    static DirtyTracker tracker(MigratableVm vm) {
        return present(vm.dirtyTracker(), "MigratableVm.dirtyTracker()");
    }

    static VcpuThrottle throttle(MigratableVm vm) {
        return present(vm.vcpus().throttle(), "VcpuControl.throttle()");
    }

    static DemandPaging demandPaging(MigrationTarget target) {
        return present(target.demandPaging(), "MigrationTarget.demandPaging()");
    }

    static ProviderFixture.GuestWriter writer(ProviderFixture fixture, MigratableVm vm) {
        Optional<ProviderFixture.GuestWriter> writer = fixture.guestWriter(vm);
        Assumptions.assumeTrue(writer.isPresent(),
                "the fixture offers no ProviderFixture.guestWriter(vm) to write chosen pages");
        return writer.get();
    }

    private static <T> T present(Optional<T> capability, String name) {
        Assumptions.assumeTrue(capability.isPresent(), "optional capability " + name + " is not offered");
        return capability.get();
    }

    /** @return up to {@code max} distinct RAM pages, spread over every region */
    static List<Long> pagesToWrite(MemoryLayout layout, int max) {
        List<Long> pages = new ArrayList<>();
        long step = Math.max(1, layout.pageCount() / max);
        for (MemoryRegion region : layout.regions()) {
            for (long page = region.firstPage(); page < region.endPage() && pages.size() < max; page += step) {
                pages.add(page);
            }
        }
        return pages;
    }
}
