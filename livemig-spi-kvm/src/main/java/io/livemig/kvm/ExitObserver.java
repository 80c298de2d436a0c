package io.livemig.kvm;

import io.livemig.kvm.internal.KvmAbi;

import java.lang.foreign.MemorySegment;

/** Told of each guest-visible exit of vCPU 0 while a {@link MicroVmm} records (see {@link MicroVmm#startRecording}). */
interface ExitObserver {
    /**
     * Called on the vCPU thread after the VMM handled the exit, before the guest sees its result.
     *
     * @param run    the vCPU's kvm_run area, holding the exit and, for an input, the answer
     * @param reason {@link KvmAbi#EXIT_IO}, {@link KvmAbi#EXIT_MMIO} or {@link KvmAbi#EXIT_HLT}
     */
    void exited(MemorySegment run, int reason);
}
