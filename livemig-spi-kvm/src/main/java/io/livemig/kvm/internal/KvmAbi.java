package io.livemig.kvm.internal;

import static io.livemig.kvm.internal.IoctlEncoding.NONE;
import static io.livemig.kvm.internal.IoctlEncoding.READ;
import static io.livemig.kvm.internal.IoctlEncoding.WRITE;

/**
 * The KVM ABI this binding uses, from linux/kvm.h and asm/kvm.h (x86-64): ioctl numbers,
 * struct sizes and the offsets of the fields the micro-VMM reads or writes. Structs that are
 * only saved and restored are handled as opaque byte blocks of their kernel size.
 * {@code KvmAbiTest} compiles a C program against the installed headers and compares every
 * value here with the compiler's. userfaultfd's part of the ABI, from its own header, is
 * {@link UserfaultfdAbi}; both build their ioctl numbers with {@link IoctlEncoding}.
 */
public final class KvmAbi {

    private KvmAbi() {
    }

    /** KVMIO: the ioctl type of every KVM request. */
    private static final int KVMIO = 0xAE;

    private static long ioc(int dir, int nr, int size) {
        return IoctlEncoding.ioc(dir, KVMIO, nr, size);
    }

    // Struct sizes in bytes.
    public static final int REGS_BYTES = 144;
    public static final int SREGS_BYTES = 312;
    public static final int FPU_BYTES = 416;
    public static final int XSAVE_BYTES = 4096;
    public static final int XCRS_BYTES = 392;
    public static final int MP_STATE_BYTES = 4;
    public static final int VCPU_EVENTS_BYTES = 64;
    public static final int DEBUGREGS_BYTES = 128;
    public static final int USERSPACE_MEMORY_REGION_BYTES = 32;
    public static final int DIRTY_LOG_BYTES = 16;
    public static final int CLEAR_DIRTY_LOG_BYTES = 24;
    public static final int CPUID2_HEADER_BYTES = 8;
    public static final int CPUID_ENTRY2_BYTES = 40;
    public static final int MSRS_HEADER_BYTES = 8;
    public static final int MSR_ENTRY_BYTES = 16;
    public static final int MSR_LIST_HEADER_BYTES = 4;
    public static final int ENABLE_CAP_BYTES = 104;
    public static final int SIGNAL_MASK_HEADER_BYTES = 4;
    public static final int RUN_BYTES = 2352;
    public static final int CLOCK_DATA_BYTES = 48;
    public static final int DEVICE_ATTR_BYTES = 24;

    // /dev/kvm
    public static final long GET_API_VERSION = ioc(NONE, 0x00, 0);
    public static final long CREATE_VM = ioc(NONE, 0x01, 0);
    public static final long GET_MSR_INDEX_LIST = ioc(READ | WRITE, 0x02, MSR_LIST_HEADER_BYTES);
    public static final long CHECK_EXTENSION = ioc(NONE, 0x03, 0);
    public static final long GET_VCPU_MMAP_SIZE = ioc(NONE, 0x04, 0);
    public static final long GET_SUPPORTED_CPUID = ioc(READ | WRITE, 0x05, CPUID2_HEADER_BYTES);
    // VM
    public static final long CREATE_VCPU = ioc(NONE, 0x41, 0);
    public static final long GET_DIRTY_LOG = ioc(WRITE, 0x42, DIRTY_LOG_BYTES);
    public static final long SET_USER_MEMORY_REGION = ioc(WRITE, 0x46, USERSPACE_MEMORY_REGION_BYTES);
    public static final long SET_TSS_ADDR = ioc(NONE, 0x47, 0);
    public static final long SET_IDENTITY_MAP_ADDR = ioc(WRITE, 0x48, 8);
    public static final long ENABLE_CAP = ioc(WRITE, 0xa3, ENABLE_CAP_BYTES);
    public static final long CLEAR_DIRTY_LOG = ioc(READ | WRITE, 0xc0, CLEAR_DIRTY_LOG_BYTES);
    public static final long SET_CLOCK = ioc(WRITE, 0x7b, CLOCK_DATA_BYTES);
    public static final long GET_CLOCK = ioc(READ, 0x7c, CLOCK_DATA_BYTES);
    // vCPU
    public static final long RUN = ioc(NONE, 0x80, 0);
    public static final long GET_REGS = ioc(READ, 0x81, REGS_BYTES);
    public static final long SET_REGS = ioc(WRITE, 0x82, REGS_BYTES);
    public static final long GET_SREGS = ioc(READ, 0x83, SREGS_BYTES);
    public static final long SET_SREGS = ioc(WRITE, 0x84, SREGS_BYTES);
    public static final long GET_MSRS = ioc(READ | WRITE, 0x88, MSRS_HEADER_BYTES);
    public static final long SET_MSRS = ioc(WRITE, 0x89, MSRS_HEADER_BYTES);
    public static final long SET_SIGNAL_MASK = ioc(WRITE, 0x8b, SIGNAL_MASK_HEADER_BYTES);
    public static final long GET_FPU = ioc(READ, 0x8c, FPU_BYTES);
    public static final long SET_FPU = ioc(WRITE, 0x8d, FPU_BYTES);
    public static final long SET_CPUID2 = ioc(WRITE, 0x90, CPUID2_HEADER_BYTES);
    public static final long GET_MP_STATE = ioc(READ, 0x98, MP_STATE_BYTES);
    public static final long SET_MP_STATE = ioc(WRITE, 0x99, MP_STATE_BYTES);
    public static final long GET_VCPU_EVENTS = ioc(READ, 0x9f, VCPU_EVENTS_BYTES);
    public static final long SET_VCPU_EVENTS = ioc(WRITE, 0xa0, VCPU_EVENTS_BYTES);
    public static final long GET_DEBUGREGS = ioc(READ, 0xa1, DEBUGREGS_BYTES);
    public static final long SET_DEBUGREGS = ioc(WRITE, 0xa2, DEBUGREGS_BYTES);
    public static final long GET_XSAVE = ioc(READ, 0xa4, XSAVE_BYTES);
    public static final long SET_XSAVE = ioc(WRITE, 0xa5, XSAVE_BYTES);
    public static final long GET_XCRS = ioc(READ, 0xa6, XCRS_BYTES);
    public static final long SET_XCRS = ioc(WRITE, 0xa7, XCRS_BYTES);
    public static final long GET_TSC_KHZ = ioc(NONE, 0xa3, 0);
    public static final long GET_XSAVE2 = ioc(READ, 0xcf, XSAVE_BYTES);
    public static final long SET_TSC_KHZ = ioc(NONE, 0xa2, 0);
    public static final long SET_DEVICE_ATTR = ioc(WRITE, 0xe1, DEVICE_ATTR_BYTES);
    public static final long GET_DEVICE_ATTR = ioc(WRITE, 0xe2, DEVICE_ATTR_BYTES);
    public static final long HAS_DEVICE_ATTR = ioc(WRITE, 0xe3, DEVICE_ATTR_BYTES);

    // Capabilities (KVM_CAP_*).
    public static final int CAP_USER_MEMORY = 3;
    public static final int CAP_NR_MEMSLOTS = 10;
    public static final int CAP_XSAVE = 55;
    public static final int CAP_XCRS = 56;
    public static final int CAP_GET_TSC_KHZ = 61;
    public static final int CAP_IMMEDIATE_EXIT = 136;
    public static final int CAP_MANUAL_DIRTY_LOG_PROTECT2 = 168;
    public static final int CAP_XSAVE2 = 208;
    public static final int CAP_ADJUST_CLOCK = 39;
    public static final int CAP_TSC_CONTROL = 60;
    public static final int CAP_VCPU_ATTRIBUTES = 127;
    public static final int DIRTY_LOG_MANUAL_PROTECT_ENABLE = 1;

    public static final int MEM_LOG_DIRTY_PAGES = 1;

    // kvm_clock_data (KVM_GET_CLOCK / KVM_SET_CLOCK) and kvm_device_attr (the vCPU's TSC offset)
    public static final int CLOCK_DATA_CLOCK = 0;
    public static final int CLOCK_DATA_FLAGS = 8;
    public static final int CLOCK_TSC_STABLE = 2;
    public static final int DEVICE_ATTR_GROUP = 4;
    public static final int DEVICE_ATTR_ATTR = 8;
    public static final int DEVICE_ATTR_ADDR = 16;
    public static final int VCPU_TSC_CTRL = 0;
    public static final int VCPU_TSC_OFFSET = 0;

    // kvm_run
    public static final int RUN_IMMEDIATE_EXIT = 1;
    public static final int RUN_EXIT_REASON = 8;
    public static final int RUN_IO_DIRECTION = 32;
    public static final int RUN_IO_SIZE = 33;
    public static final int RUN_IO_PORT = 34;
    public static final int RUN_IO_COUNT = 36;
    public static final int RUN_IO_DATA_OFFSET = 40;
    public static final int RUN_MMIO_PHYS_ADDR = 32;
    public static final int RUN_MMIO_DATA = 40;
    public static final int RUN_MMIO_LEN = 48;
    public static final int RUN_MMIO_IS_WRITE = 52;
    /** fail_entry.hardware_entry_failure_reason, internal.suberror: the first u64/u32 of the union. */
    public static final int RUN_UNION = 32;

    public static final int EXIT_IO = 2;
    public static final int EXIT_HLT = 5;
    public static final int EXIT_MMIO = 6;
    public static final int EXIT_SHUTDOWN = 8;
    public static final int EXIT_FAIL_ENTRY = 9;
    public static final int EXIT_INTR = 10;
    public static final int EXIT_INTERNAL_ERROR = 17;
    public static final int IO_IN = 0;
    public static final int IO_OUT = 1;

    // kvm_regs / kvm_sregs / kvm_segment
    public static final int REGS_RAX = 0;
    public static final int REGS_RBX = 8;
    public static final int REGS_RSP = 48;
    public static final int REGS_RIP = 128;
    public static final int REGS_RFLAGS = 136;
    public static final int SREGS_CS = 0;
    public static final int SREGS_DS = 24;
    public static final int SREGS_ES = 48;
    public static final int SREGS_FS = 72;
    public static final int SREGS_GS = 96;
    public static final int SREGS_SS = 120;
    public static final int SREGS_TR = 144;
    public static final int SREGS_LDT = 168;
    public static final int SREGS_GDT = 192;
    public static final int SREGS_IDT = 208;
    public static final int SREGS_CR0 = 224;
    public static final int SREGS_CR3 = 240;
    public static final int SREGS_CR4 = 248;
    public static final int SREGS_EFER = 264;
    public static final int SEGMENT_BASE = 0;
    public static final int SEGMENT_LIMIT = 8;
    public static final int SEGMENT_SELECTOR = 12;
    public static final int SEGMENT_TYPE = 14;
    public static final int SEGMENT_PRESENT = 15;
    public static final int SEGMENT_DPL = 16;
    public static final int SEGMENT_DB = 17;
    public static final int SEGMENT_S = 18;
    public static final int SEGMENT_L = 19;
    public static final int SEGMENT_G = 20;
    public static final int SEGMENT_UNUSABLE = 22;
}
