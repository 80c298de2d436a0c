package io.livemig.kvm;

import io.livemig.spi.DirtyTracker;
import io.livemig.spi.PageSet;

/**
 * Dirty pages of a {@link KvmVm}: KVM's dirty log (what vCPUs wrote), ORed with the pages the
 * VMM's devices wrote into guest RAM (a virtio disk's reads, used ring and status bytes, which
 * {@link KvmVm#fetchDirtyLog(PageSet)} merges from {@link KvmVm#vmmWrote}), with the pages
 * written through {@link KvmMemory} ({@link #vmmWrote}) and with the pages an engine gave back
 * after a failed send ({@link #redirty}), so that no dirty page is ever lost. Page numbers are
 * guest-physical; each KVM memory slot's log is fetched on its own and only its non-zero words
 * are merged ({@link KvmVm#fetchDirtyLog(PageSet)}). Thread-safe.
 */
final class KvmDirtyTracker implements DirtyTracker {

    private final KvmVm vm;
    private PageSet pending;
    private boolean tracking;

    KvmDirtyTracker(KvmVm vm) {
        this.vm = vm;
        this.pending = new PageSet(vm.pageSpan());
    }

    @Override
    public synchronized void start() {
        vm.setDirtyLogging(false);
        vm.setDirtyLogging(true);
        pending = new PageSet(vm.pageSpan());
        tracking = true;
    }

    @Override
    public synchronized PageSet collect() {
        requireTracking();
        PageSet dirty = pending;
        try {
            vm.fetchDirtyLog(dirty);
        } catch (KvmException e) {
            // Nothing of the log was lost: what was merged stays pending for the next collect.
            throw new TrackingException("reading KVM's dirty log failed", e);
        }
        pending = new PageSet(vm.pageSpan());
        return dirty;
    }

    @Override
    public synchronized void redirty(PageSet pages) {
        requireTracking();
        pending.addAll(pages);
    }

    /** Records a page the VMM wrote into guest RAM; it will be in the next collect. */
    synchronized void vmmWrote(long page) {
        if (tracking) {
            pending.add(page);
        }
    }

    @Override
    public synchronized void stop() {
        if (tracking) {
            tracking = false;
            vm.setDirtyLogging(false);
        }
    }

    private void requireTracking() {
        if (!tracking) {
            throw new IllegalStateException("dirty tracking is not started");
        }
    }
}
