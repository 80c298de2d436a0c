package io.livemig.spi;

import java.util.List;
import java.util.Optional;

/**
 * The destination side of a migration: a VM created paused with the source's layout, whose
 * memory the receiving engine fills before it loads the vCPU and device state and resumes it.
 *
 * <p><b>Ownership.</b> The receiving engine owns the target while the migration runs. If the
 * migration fails before resume, the engine closes the target, which must discard the VM so
 * that no half-migrated VM ever runs. After a successful resume, the target is handed to the
 * caller, who keeps the VM running and closes it when done (see {@link #close()}).
 *
 * <p><b>Threading.</b> Accessors are thread-safe and return the same objects every time.
 */
public interface MigrationTarget extends AutoCloseable, HotPluggable {

    /** {@return the descriptor the target was created with} */
    VmDescriptor descriptor();

    /** {@return the guest memory, all zero at creation} */
    MemorySink memory();

    /** {@return the vCPUs, paused at creation} */
    VcpuControl vcpus();

    /** {@return the migratable devices, in the order of {@link VmDescriptor#deviceIds()}} */
    List<MigratableDevice> devices();

    /**
     * Optional capability: empty when this target takes no disks; a migration of a VM with disks
     * into such a target is refused in the handshake. The default is empty. (The wildcard lets one
     * class be both a VM's and a target's disk, as the in-memory kit's are.)
     *
     * @return the disks to write, in the order of {@link VmDescriptor#disks()}, or an empty list
     */
    default List<? extends DiskSink> disks() {
        return List.of();
    }

    /**
     * Optional capability: empty when this target cannot run before all of its memory arrived;
     * post-copy and hybrid into such a target are refused in the handshake. The default is empty.
     *
     * @return demand paging, or empty
     */
    default Optional<DemandPaging> demandPaging() {
        return Optional.empty();
    }

    /**
     * Optional capability: empty when this target cannot replay an execution log (trace and
     * replay). A destination without it refuses a {@code Strategy.TRACE_REPLAY} migration in the
     * handshake. The default is empty.
     *
     * @return the replayer, the same object every time, or empty
     */
    default Optional<ExecutionReplayer> executionReplayer() {
        return Optional.empty();
    }

    /**
     * Releases the target. Before a successful resume it must discard the VM. After one, what it
     * does to the running VM is the provider's to document: a VMM that runs the guest in this
     * process stops it (the in-memory kit, {@code kvm:}); a hypervisor whose VMs outlive the
     * process that received them ({@code xen:}) releases only livemig's hold and leaves the VM
     * running. Idempotent.
     */
    @Override
    void close();
}
