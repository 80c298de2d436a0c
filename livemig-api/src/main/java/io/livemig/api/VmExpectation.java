package io.livemig.api;

import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;

/**
 * What a destination has been told to expect, by its control plane, of the VM it will receive.
 * The source's SETUP is checked against every field that is present before the destination
 * allocates anything; a mismatch is refused with a {@link ProtocolException} of kind
 * {@code INCOMPATIBLE}. Absent fields accept anything (within {@link ReceiveLimits}).
 *
 * @param memoryBytes the VM's RAM size, holes excluded
 * @param vcpuCount   the number of vCPUs
 * @param deviceIds   the device ids, in order
 * @param strategy    the strategy the source will use
 */
public record VmExpectation(OptionalLong memoryBytes, OptionalInt vcpuCount, Optional<List<String>> deviceIds,
                            Optional<Strategy> strategy) {

    /** Expects nothing in particular. */
    public static final VmExpectation ANY = new VmExpectation(OptionalLong.empty(), OptionalInt.empty(),
            Optional.empty(), Optional.empty());

    /**
     * Checks the components.
     *
     * @throws NullPointerException for a null field; the device list is copied
     */
    public VmExpectation {
        Objects.requireNonNull(memoryBytes, "memoryBytes");
        Objects.requireNonNull(vcpuCount, "vcpuCount");
        Objects.requireNonNull(strategy, "strategy");
        deviceIds = Objects.requireNonNull(deviceIds, "deviceIds").map(List::copyOf);
    }

    /**
     * {@return this expectation, also expecting {@code bytes} of RAM}
     *
     * @param bytes the guest RAM in bytes, positive
     * @throws IllegalArgumentException if {@code bytes} is not positive
     */
    public VmExpectation withMemoryBytes(long bytes) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("memoryBytes must be positive, was " + bytes);
        }
        return new VmExpectation(OptionalLong.of(bytes), vcpuCount, deviceIds, strategy);
    }

    /**
     * {@return this expectation, also expecting {@code count} vCPUs}
     *
     * @param count the vCPU count, positive
     * @throws IllegalArgumentException if {@code count} is not positive
     */
    public VmExpectation withVcpuCount(int count) {
        if (count <= 0) {
            throw new IllegalArgumentException("vcpuCount must be positive, was " + count);
        }
        return new VmExpectation(memoryBytes, OptionalInt.of(count), deviceIds, strategy);
    }

    /**
     * {@return this expectation, also expecting exactly these device ids, in order}
     *
     * @param ids the device ids (copied)
     */
    public VmExpectation withDeviceIds(List<String> ids) {
        return new VmExpectation(memoryBytes, vcpuCount, Optional.of(List.copyOf(ids)), strategy);
    }

    /**
     * {@return this expectation, also expecting {@code expected} as the source's strategy}
     *
     * @param expected the strategy the source must use
     */
    public VmExpectation withStrategy(Strategy expected) {
        return new VmExpectation(memoryBytes, vcpuCount, deviceIds, Optional.of(Objects.requireNonNull(expected)));
    }
}
