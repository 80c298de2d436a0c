package io.livemig.engine.internal;

import io.livemig.spi.DirtyTracker;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.PageSet;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The VM's dirty tracker with its devices' DMA trackers folded in: every collect returns the pages
 * the vCPUs wrote and the pages any device wrote itself (which the vCPUs' dirty log never sees),
 * so that a page a device wrote during a round is sent in the next one like any other.
 *
 * <p>Same threading as the trackers it joins: one engine thread at a time.
 */
public final class DmaDirtyTracker implements DirtyTracker {

    private final DirtyTracker vm;
    private final List<DirtyTracker> devices;

    private DmaDirtyTracker(DirtyTracker vm, List<DirtyTracker> devices) {
        this.vm = vm;
        this.devices = devices;
    }

    /**
     * @param vm      the VM's own tracker, if it has one
     * @param devices the VM's devices
     * @return the VM's tracker joined with the devices' DMA trackers; the VM's own when no device
     *         has one; empty when the VM has none (a VM that cannot track its vCPUs' writes cannot
     *         be pre-copied, whatever its devices track)
     */
    public static Optional<DirtyTracker> of(Optional<DirtyTracker> vm, List<? extends MigratableDevice> devices) {
        if (vm.isEmpty()) {
            return vm;
        }
        List<DirtyTracker> dma = new ArrayList<>();
        for (MigratableDevice d : devices) {
            d.dmaTracker().ifPresent(dma::add);
        }
        return dma.isEmpty() ? vm : Optional.of(new DmaDirtyTracker(vm.get(), List.copyOf(dma)));
    }

    @Override
    public void start() {
        vm.start();
        int started = 0;
        try {
            for (DirtyTracker d : devices) {
                d.start();
                started++;
            }
        } catch (RuntimeException e) {
            for (int i = 0; i < started; i++) {
                devices.get(i).stop();
            }
            vm.stop();
            throw e;
        }
    }

    @Override
    public PageSet collect() {
        PageSet all = vm.collect();
        for (DirtyTracker d : devices) {
            all.addAll(d.collect());
        }
        return all;
    }

    /** Puts pages back through the VM's tracker: whoever wrote them, they are dirty again. */
    @Override
    public void redirty(PageSet pages) {
        vm.redirty(pages);
    }

    @Override
    public void stop() {
        RuntimeException first = null;
        for (DirtyTracker d : devices) {
            try {
                d.stop();
            } catch (RuntimeException e) {
                first = first == null ? e : first;
            }
        }
        vm.stop();
        if (first != null) {
            throw first;
        }
    }
}
