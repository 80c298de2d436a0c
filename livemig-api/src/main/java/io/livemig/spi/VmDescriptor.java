package io.livemig.spi;

import java.util.HashSet;
import java.util.List;
import java.util.Objects;

/**
 * What a destination needs to know to create a VM that can receive a migration: the memory
 * layout, the vCPU count and the devices. It travels in the migration handshake.
 *
 * @param memoryLayout     the guest-physical memory layout
 * @param vcpuCount        the number of vCPUs, at least 1
 * @param deviceIds        the ids of the VM's migratable devices, unique; copied
 * @param vcpuStateFormat  the provider's format name for vCPU state, as in {@link VcpuState#format()}
 * @param disks            the VM's disks, ids unique; copied (empty for a VM without disks)
 */
public record VmDescriptor(MemoryLayout memoryLayout, int vcpuCount, List<String> deviceIds,
                           String vcpuStateFormat, List<DiskDescriptor> disks) {

    /** The most disks one VM may have. */
    public static final int MAX_DISKS = 64;

    /**
     * A VM without disks.
     *
     * @param memoryLayout the VM's RAM regions
     * @param vcpuCount the number of vCPUs
     * @param deviceIds the ids of the VM's migratable devices, unique; copied
     * @param vcpuStateFormat the provider's format name for vCPU state
     */
    public VmDescriptor(MemoryLayout memoryLayout, int vcpuCount, List<String> deviceIds, String vcpuStateFormat) {
        this(memoryLayout, vcpuCount, deviceIds, vcpuStateFormat, List.of());
    }

    /**
     * Checks the components.
     *
     * @throws IllegalArgumentException for a bad vCPU count, duplicate device or disk ids, more
     *                                  than {@value #MAX_DISKS} disks or a blank format
     */
    public VmDescriptor {
        Objects.requireNonNull(memoryLayout, "memoryLayout");
        if (vcpuCount < 1) {
            throw new IllegalArgumentException("vcpuCount must be >= 1, was " + vcpuCount);
        }
        deviceIds = List.copyOf(deviceIds);
        if (new HashSet<>(deviceIds).size() != deviceIds.size()) {
            throw new IllegalArgumentException("device ids must be unique: " + deviceIds);
        }
        Objects.requireNonNull(vcpuStateFormat, "vcpuStateFormat");
        if (vcpuStateFormat.isBlank()) {
            throw new IllegalArgumentException("vcpuStateFormat must not be blank");
        }
        disks = List.copyOf(disks);
        if (disks.size() > MAX_DISKS) {
            throw new IllegalArgumentException("at most " + MAX_DISKS + " disks, got " + disks.size());
        }
        if (disks.stream().map(DiskDescriptor::id).distinct().count() != disks.size()) {
            throw new IllegalArgumentException("disk ids must be unique: " + disks);
        }
    }
}
