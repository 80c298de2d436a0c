package io.livemig.kvm;

import io.livemig.spi.MemoryRegion;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Guest RAM as a device sees it: guest-physical ranges the guest hands over (ring addresses,
 * buffer addresses), checked before they are touched, and the VMM's writes reported to the dirty
 * log. {@link KvmVm#memory()} maps the MMIO hole as an inaccessible reservation, so an
 * unchecked address from a guest could crash the process: every access here goes through
 * {@link #contains}.
 *
 * <p>Thread-safe (immutable; the bytes themselves are the guest's).
 */
final class GuestRam {

    private final KvmVm vm;
    private final MemorySegment memory;
    /** RAM ranges as byte bounds {@code [start, end)}, by address. */
    private final long[] starts;
    private final long[] ends;

    GuestRam(KvmVm vm) {
        this.vm = vm;
        this.memory = vm.memory();
        List<MemoryRegion> regions = vm.layout().regions();
        this.starts = new long[regions.size()];
        this.ends = new long[regions.size()];
        for (int i = 0; i < regions.size(); i++) {
            starts[i] = regions.get(i).firstPage() * KvmVm.PAGE_BYTES;
            ends[i] = (regions.get(i).firstPage() + regions.get(i).pageCount()) * KvmVm.PAGE_BYTES;
        }
    }

    /**
     * @return whether {@code [guestPhysicalAddress, +bytes)} is RAM, all of it inside one region;
     *         false for a negative or overflowing range, and for {@code bytes < 1}
     */
    boolean contains(long guestPhysicalAddress, long bytes) {
        if (bytes < 1 || guestPhysicalAddress < 0) {
            return false;
        }
        for (int i = 0; i < starts.length; i++) {
            if (guestPhysicalAddress >= starts[i] && guestPhysicalAddress < ends[i]) {
                return bytes <= ends[i] - guestPhysicalAddress;
            }
        }
        return false;
    }

    /**
     * @return the bytes of {@code [guestPhysicalAddress, +bytes)}, a view valid while the VM is open
     * @throws IndexOutOfBoundsException if the range is not {@linkplain #contains RAM}
     */
    MemorySegment slice(long guestPhysicalAddress, long bytes) {
        if (!contains(guestPhysicalAddress, bytes)) {
            throw new IndexOutOfBoundsException("[0x" + Long.toHexString(guestPhysicalAddress) + ", +" + bytes
                    + ") is not guest RAM");
        }
        return memory.asSlice(guestPhysicalAddress, bytes);
    }

    /** Reports that the VMM wrote {@code [guestPhysicalAddress, +bytes)}: call after the write. */
    void wrote(long guestPhysicalAddress, long bytes) {
        vm.vmmWrote(guestPhysicalAddress, bytes);
    }
}
