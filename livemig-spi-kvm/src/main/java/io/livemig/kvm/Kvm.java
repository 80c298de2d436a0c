package io.livemig.kvm;

import io.livemig.kvm.internal.KvmAbi;
import io.livemig.kvm.internal.Sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * An open {@code /dev/kvm}: the capabilities of this host's KVM and the factory of VMs.
 *
 * <p>Thread-safe. Owns one file descriptor, closed by {@link #close()}; VMs created from it
 * stay valid after it is closed (the kernel keeps their own references).
 */
public final class Kvm implements AutoCloseable {

    /** The path of the KVM device. */
    public static final Path DEVICE = Path.of("/dev/kvm");
    /** The only KVM API version there is. */
    public static final int API_VERSION = 12;

    private final int fd;
    private final int vcpuMmapBytes;
    private volatile boolean closed;

    private Kvm(int fd) {
        this.fd = fd;
        int version = Sys.ioctl(fd, KvmAbi.GET_API_VERSION, 0, "KVM_GET_API_VERSION");
        if (version != API_VERSION) {
            Sys.close(fd);
            throw new KvmException("KVM_GET_API_VERSION", 0, "KVM API version " + version + ", need " + API_VERSION);
        }
        this.vcpuMmapBytes = Sys.ioctl(fd, KvmAbi.GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");
    }

    /**
     * Opens /dev/kvm.
     *
     * @return the open device, owned by the caller (close it)
     * @throws KvmException if it cannot be opened (missing, no permission) or speaks another API
     */
    public static Kvm open() {
        return new Kvm(Sys.open(DEVICE.toString()));
    }

    /**
     * {@return why KVM cannot be used here, in one line, or empty if it can (the device opens,
     * the API version is right, and a VM can be created)}
     */
    public static Optional<String> unavailableReason() {
        if (!Files.exists(DEVICE)) {
            return Optional.of(DEVICE + " does not exist (no KVM on this host)");
        }
        try (Kvm kvm = open()) {
            int vm = Sys.ioctl(kvm.fd, KvmAbi.CREATE_VM, 0, "KVM_CREATE_VM");
            Sys.close(vm);
            return Optional.empty();
        } catch (KvmException | UnsatisfiedLinkError | IllegalCallerException e) {
            return Optional.of("KVM is unusable: " + e.getMessage());
        }
    }

    /**
     * {@return KVM_CHECK_EXTENSION's answer for {@code capability}: 0 if absent, else a capability-specific value}
     *
     * @param capability a KVM_CAP_* number
     */
    public int checkExtension(int capability) {
        return Sys.ioctl(fd, KvmAbi.CHECK_EXTENSION, capability, "KVM_CHECK_EXTENSION(" + capability + ")");
    }

    /** {@return the size of each vCPU's shared kvm_run area, in bytes} */
    public int vcpuMmapBytes() {
        return vcpuMmapBytes;
    }

    /**
     * {@return the CPUID entries KVM supports (KVM_GET_SUPPORTED_CPUID), as a kvm_cpuid2 in {@code arena}}
     *
     * @param arena where the kvm_cpuid2 is allocated; it lives as long as the arena
     */
    public MemorySegment supportedCpuid(Arena arena) {
        for (int n = 64; ; n *= 2) {
            MemorySegment cpuid = arena.allocate(KvmAbi.CPUID2_HEADER_BYTES + (long) n * KvmAbi.CPUID_ENTRY2_BYTES, 8);
            cpuid.set(JAVA_INT, 0, n);
            int r = Sys.ioctlRaw(fd, KvmAbi.GET_SUPPORTED_CPUID, cpuid);
            if (r == -7 && n < 4096) { // E2BIG: more entries than room
                continue;
            }
            if (r < 0) {
                throw new KvmException("KVM_GET_SUPPORTED_CPUID", -r, Sys.strerror(-r));
            }
            return cpuid;
        }
    }

    /** {@return the MSR indices KVM can save and restore (KVM_GET_MSR_INDEX_LIST)} */
    public int[] msrIndexList() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment probe = a.allocate(KvmAbi.MSR_LIST_HEADER_BYTES, 4);
            int r = Sys.ioctlRaw(fd, KvmAbi.GET_MSR_INDEX_LIST, probe); // E2BIG, and nmsrs set to the count
            int n = probe.get(JAVA_INT, 0);
            if (r < 0 && r != -7) {
                throw new KvmException("KVM_GET_MSR_INDEX_LIST", -r, Sys.strerror(-r));
            }
            MemorySegment list = a.allocate(KvmAbi.MSR_LIST_HEADER_BYTES + 4L * n, 4);
            list.set(JAVA_INT, 0, n);
            Sys.ioctl(fd, KvmAbi.GET_MSR_INDEX_LIST, list, "KVM_GET_MSR_INDEX_LIST");
            int[] indices = new int[list.get(JAVA_INT, 0)];
            for (int i = 0; i < indices.length; i++) {
                indices[i] = list.get(JAVA_INT, KvmAbi.MSR_LIST_HEADER_BYTES + 4L * i);
            }
            return indices;
        }
    }

    /**
     * Creates a VM with {@code memoryBytes} of guest RAM from guest-physical address 0: up to
     * 3 GiB below the MMIO hole, the rest from 4 GiB (see {@link KvmVm#slotsFor}).
     *
     * @param memoryBytes a positive multiple of 4 KiB, at most {@link KvmVm#MAX_MEMORY_BYTES}
     * @return the VM, owned by the caller (close it)
     * @throws IllegalArgumentException for another size
     */
    public KvmVm createVm(long memoryBytes) {
        return new KvmVm(this, Sys.ioctl(fd, KvmAbi.CREATE_VM, 0, "KVM_CREATE_VM"), memoryBytes);
    }

    int fd() {
        if (closed) {
            throw new IllegalStateException("/dev/kvm was closed");
        }
        return fd;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            Sys.close(fd);
        }
    }
}
