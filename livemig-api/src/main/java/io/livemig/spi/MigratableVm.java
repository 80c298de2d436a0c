package io.livemig.spi;

import java.util.List;
import java.util.Optional;

/**
 * One VM on the source host, as a provider hands it out: its memory, dirty tracking, vCPUs and
 * devices. A running migration owns the handle; nothing else should pause or resume the VM
 * while it runs.
 *
 * <p><b>Ownership.</b> The caller of {@link HypervisorProvider#open} owns the handle and closes
 * it. Closing releases livemig's hold on the VM (tracking, mappings); what it does to the VM
 * itself is the provider's to document (the in-memory kit stops its workload, a VMM-backed
 * provider may tear the VM down). {@code close()} is idempotent. A closed handle cannot be
 * migrated: {@link #isOpen()} says so, and the engine refuses it before it sends anything.
 *
 * <p><b>One migration at a time.</b> While a migration runs it holds an exclusive claim on this
 * handle (by identity): a second migration of the same handle is refused until the first ends.
 * The claim is per handle: the engine cannot tell that two handles a provider gave out refer to
 * one VM, so a provider that can open one VM twice documents it.
 *
 * <p><b>Threading.</b> The accessors are thread-safe and return the same objects every time.
 */
public interface MigratableVm extends AutoCloseable, HotPluggable {

    /** {@return the layout, vCPU count and devices, as sent to the destination} */
    VmDescriptor descriptor();

    /** {@return the guest memory} */
    MemorySource memory();

    /**
     * Optional capability: empty when this VM cannot track the guest's writes. Engines then refuse
     * the live strategies that need it (pre-copy, hybrid) and use cold or post-copy instead. The
     * default is empty; a provider that can track overrides it.
     *
     * @return the dirty tracker, the same object every time, or empty
     */
    default Optional<DirtyTracker> dirtyTracker() {
        return Optional.empty();
    }

    /** {@return the vCPUs} */
    VcpuControl vcpus();

    /** {@return the migratable devices, in the order of {@link VmDescriptor#deviceIds()}} */
    List<MigratableDevice> devices();

    /**
     * Optional capability: empty when the VM's disks do not move with it (shared storage) or it
     * has none. The default is empty.
     *
     * @return the VM's disks, in the order of {@link VmDescriptor#disks()}, or an empty list
     */
    default List<? extends DiskSource> disks() {
        return List.of();
    }

    /**
     * Optional capability: empty when the guest gives no free-page hints (no balloon driver, no
     * cooperative guest), which engines treat as "every page is in use". The default is empty.
     *
     * @return the guest's free-page hints, or empty
     */
    default Optional<FreePageHints> freePageHints() {
        return Optional.empty();
    }

    /**
     * Optional capability: empty when this VM cannot be recorded for trace and replay (see
     * {@link ExecutionRecorder} for what qualifies). Engines then refuse
     * {@code Strategy.TRACE_REPLAY} for it, or fall back to pre-copy when the options allow it.
     * The default is empty.
     *
     * @return the recorder, the same object every time, or empty
     */
    default Optional<ExecutionRecorder> executionRecorder() {
        return Optional.empty();
    }

    /**
     * Whether this handle may still be used: true from {@link HypervisorProvider#open} until
     * {@link #close()} (or until the provider lost the VM underneath the handle, if it can tell).
     * Engines check it before a migration starts and refuse a closed VM. Every provider
     * implements it; there is no default, because "open" is the one answer a provider cannot
     * give without knowing. Thread-safe, cheap, never blocks.
     *
     * @return false once the handle is closed
     */
    boolean isOpen();

    /** Releases livemig's hold on the VM; {@link #isOpen()} is false from then on. Idempotent. */
    @Override
    void close();
}
