package io.livemig.kvm;

import io.livemig.spi.DirtyTracker;
import io.livemig.spi.PageSet;

/**
 * Dirty pages of a {@link KvmVm}: KVM's dirty log (what vCPUs wrote), ORed with the pages the
 * VMM itself wrote into guest RAM ({@link #vmmWrote}) and with the pages an engine gave back
 * after a failed send ({@link #redirty}), so that no dirty page is ever lost. Thread-safe.
 */
final class KvmDirtyTracker implements DirtyTracker {

    private final KvmVm vm;
    private final long[] words;
    private PageSet pending;
    private boolean tracking;

    KvmDirtyTracker(KvmVm vm) {
        this.vm = vm;
        this.words = new long[(int) ((vm.pageCount() + 63) / 64)];
        this.pending = new PageSet(vm.pageCount());
    }

    @Override
    public synchronized void start() {
        vm.setDirtyLogging(false);
        vm.setDirtyLogging(true);
        pending = new PageSet(vm.pageCount());
        tracking = true;
    }

    @Override
    public synchronized PageSet collect() {
        requireTracking();
        try {
            vm.fetchDirtyLog(words);
        } catch (KvmException e) {
            throw new TrackingException("reading KVM's dirty log failed", e);
        }
        PageSet dirty = pending;
        pending = new PageSet(vm.pageCount());
        for (int i = 0; i < words.length; i++) {
            if (words[i] != 0) {
                dirty.orWord(i, words[i]);
            }
        }
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
