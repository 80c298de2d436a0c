package io.livemig.kvm;

import io.livemig.disk.RawImage;

import java.io.OutputStream;
import java.util.Objects;

/** Builds a {@link MicroVmm}: {@link MicroVmm#builder()}. */
public final class MicroVmmBuilder {
    long memoryBytes = 64L << 20;
    int vcpus = 1;
    OutputStream console;
    RawImage disk;
    boolean replayable;

    MicroVmmBuilder() {
    }

    /**
     * Gives the VM a disk. Default none.
     *
     * @param image the disk the guest sees as a virtio block device at {@link VirtioBlk#MMIO_BASE};
     *              owned by the VMM from {@link #build()} on (closed with it, or if building
     *              fails); null for none
     * @return this builder
     */
    public MicroVmmBuilder disk(RawImage image) {
        this.disk = image;
        return this;
    }

    /**
     * Sets the guest RAM size. Default 64 MiB.
     *
     * @param bytes guest RAM, a multiple of 4 KiB up to {@link KvmVm#MAX_MEMORY_BYTES}; allocated
     *              only as the guest writes it
     * @return this builder
     */
    public MicroVmmBuilder memoryBytes(long bytes) {
        this.memoryBytes = bytes;
        return this;
    }

    /**
     * Sets the number of vCPUs. Default 1.
     *
     * @param count vCPUs, 1 to 64
     * @return this builder
     */
    public MicroVmmBuilder vcpus(int count) {
        if (count < 1 || count > 64) {
            throw new IllegalArgumentException("vcpus must be in [1, 64], was " + count);
        }
        this.vcpus = count;
        return this;
    }

    /**
     * Sets where the console's output goes. Default none.
     *
     * @param out receives the console's bytes (the VMM closes it); null for none
     * @return this builder
     */
    public MicroVmmBuilder console(OutputStream out) {
        this.console = out;
        return this;
    }

    /**
     * Declares the guest replayable, the caller's promise: it takes no interrupts (none can
     * reach it here anyway) and never executes RDTSC, RDTSCP, RDRAND, RDSEED or RDPID,
     * reading time from the clock port ({@value MicroVmm#CLOCK_PORT}) instead, so that its
     * execution is a function of its state and the values its exits return. The VMM cannot
     * check it (under kvm-pvm those instructions do not exit). Such a VM with one vCPU and no
     * disk offers trace and replay ({@link KvmGuest#executionRecorder()}). Default false.
     *
     * @param promise whether the guest keeps the promise above
     * @return this builder
     */
    public MicroVmmBuilder replayable(boolean promise) {
        this.replayable = promise;
        return this;
    }

    /** {@return a VM with its memory and vCPUs created, not started} */
    public MicroVmm build() {
        Objects.checkIndex(0, vcpus);
        return new MicroVmm(this);
    }
}
