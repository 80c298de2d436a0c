package io.livemig.kvm;

import io.livemig.kvm.internal.KvmAbi;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every ioctl number, struct size and field offset in {@link KvmAbi} equals what the C compiler
 * makes of this machine's linux/kvm.h (linux-libc-dev), and glibc's struct sigaction is laid out
 * as the binding assumes. {@link UserfaultfdAbiTest} checks the userfaultfd table the same way.
 */
class KvmAbiTest {

    /** Java constant name -> the C expression that must equal it. */
    private static final Map<String, String> EXPRESSIONS = new TreeMap<>();

    static {
        String[][] sizes = {
                {"REGS_BYTES", "kvm_regs"}, {"SREGS_BYTES", "kvm_sregs"}, {"FPU_BYTES", "kvm_fpu"},
                {"XSAVE_BYTES", "kvm_xsave"}, {"XCRS_BYTES", "kvm_xcrs"}, {"MP_STATE_BYTES", "kvm_mp_state"},
                {"VCPU_EVENTS_BYTES", "kvm_vcpu_events"}, {"DEBUGREGS_BYTES", "kvm_debugregs"},
                {"USERSPACE_MEMORY_REGION_BYTES", "kvm_userspace_memory_region"}, {"DIRTY_LOG_BYTES", "kvm_dirty_log"},
                {"CLEAR_DIRTY_LOG_BYTES", "kvm_clear_dirty_log"}, {"CPUID2_HEADER_BYTES", "kvm_cpuid2"},
                {"CPUID_ENTRY2_BYTES", "kvm_cpuid_entry2"}, {"MSRS_HEADER_BYTES", "kvm_msrs"},
                {"MSR_ENTRY_BYTES", "kvm_msr_entry"}, {"MSR_LIST_HEADER_BYTES", "kvm_msr_list"},
                {"ENABLE_CAP_BYTES", "kvm_enable_cap"}, {"SIGNAL_MASK_HEADER_BYTES", "kvm_signal_mask"},
                {"RUN_BYTES", "kvm_run"}, {"CLOCK_DATA_BYTES", "kvm_clock_data"},
                {"DEVICE_ATTR_BYTES", "kvm_device_attr"}};
        for (String[] s : sizes) {
            EXPRESSIONS.put(s[0], "sizeof(struct " + s[1] + ")");
        }
        String[] ioctls = {"GET_API_VERSION", "CREATE_VM", "GET_MSR_INDEX_LIST", "CHECK_EXTENSION",
                "GET_VCPU_MMAP_SIZE", "GET_SUPPORTED_CPUID", "CREATE_VCPU", "GET_DIRTY_LOG", "SET_USER_MEMORY_REGION",
                "SET_TSS_ADDR", "SET_IDENTITY_MAP_ADDR", "ENABLE_CAP", "CLEAR_DIRTY_LOG", "RUN", "GET_REGS",
                "SET_REGS", "GET_SREGS", "SET_SREGS", "GET_MSRS", "SET_MSRS", "SET_SIGNAL_MASK", "GET_FPU", "SET_FPU",
                "SET_CPUID2", "GET_MP_STATE", "SET_MP_STATE", "GET_VCPU_EVENTS", "SET_VCPU_EVENTS", "GET_DEBUGREGS",
                "SET_DEBUGREGS", "GET_XSAVE", "SET_XSAVE", "GET_XCRS", "SET_XCRS", "GET_TSC_KHZ", "GET_XSAVE2",
                "SET_CLOCK", "GET_CLOCK", "SET_TSC_KHZ", "SET_DEVICE_ATTR", "GET_DEVICE_ATTR", "HAS_DEVICE_ATTR"};
        for (String i : ioctls) {
            EXPRESSIONS.put(i, "(unsigned long) KVM_" + i);
        }
        String[] caps = {"USER_MEMORY", "NR_MEMSLOTS", "XSAVE", "XCRS", "GET_TSC_KHZ", "IMMEDIATE_EXIT",
                "MANUAL_DIRTY_LOG_PROTECT2", "XSAVE2", "ADJUST_CLOCK", "TSC_CONTROL", "VCPU_ATTRIBUTES"};
        for (String c : caps) {
            EXPRESSIONS.put("CAP_" + c, "KVM_CAP_" + c);
        }
        EXPRESSIONS.put("DIRTY_LOG_MANUAL_PROTECT_ENABLE", "KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE");
        EXPRESSIONS.put("MEM_LOG_DIRTY_PAGES", "KVM_MEM_LOG_DIRTY_PAGES");
        EXPRESSIONS.put("CLOCK_TSC_STABLE", "KVM_CLOCK_TSC_STABLE");
        EXPRESSIONS.put("VCPU_TSC_CTRL", "KVM_VCPU_TSC_CTRL");
        EXPRESSIONS.put("VCPU_TSC_OFFSET", "KVM_VCPU_TSC_OFFSET");
        for (String e : new String[] {"IO", "HLT", "MMIO", "SHUTDOWN", "FAIL_ENTRY", "INTR", "INTERNAL_ERROR"}) {
            EXPRESSIONS.put("EXIT_" + e, "KVM_EXIT_" + e);
        }
        EXPRESSIONS.put("IO_IN", "KVM_EXIT_IO_IN");
        EXPRESSIONS.put("IO_OUT", "KVM_EXIT_IO_OUT");
        String[][] offsets = {
                {"RUN_IMMEDIATE_EXIT", "kvm_run", "immediate_exit"}, {"RUN_EXIT_REASON", "kvm_run", "exit_reason"},
                {"RUN_IO_DIRECTION", "kvm_run", "io.direction"}, {"RUN_IO_SIZE", "kvm_run", "io.size"},
                {"RUN_IO_PORT", "kvm_run", "io.port"}, {"RUN_IO_COUNT", "kvm_run", "io.count"},
                {"RUN_IO_DATA_OFFSET", "kvm_run", "io.data_offset"},
                {"RUN_MMIO_PHYS_ADDR", "kvm_run", "mmio.phys_addr"}, {"RUN_MMIO_DATA", "kvm_run", "mmio.data"},
                {"RUN_MMIO_LEN", "kvm_run", "mmio.len"}, {"RUN_MMIO_IS_WRITE", "kvm_run", "mmio.is_write"},
                {"RUN_UNION", "kvm_run", "fail_entry.hardware_entry_failure_reason"},
                {"REGS_RAX", "kvm_regs", "rax"}, {"REGS_RBX", "kvm_regs", "rbx"}, {"REGS_RSP", "kvm_regs", "rsp"},
                {"REGS_RIP", "kvm_regs", "rip"}, {"REGS_RFLAGS", "kvm_regs", "rflags"},
                {"SREGS_CS", "kvm_sregs", "cs"}, {"SREGS_DS", "kvm_sregs", "ds"}, {"SREGS_ES", "kvm_sregs", "es"},
                {"SREGS_FS", "kvm_sregs", "fs"}, {"SREGS_GS", "kvm_sregs", "gs"}, {"SREGS_SS", "kvm_sregs", "ss"},
                {"SREGS_TR", "kvm_sregs", "tr"}, {"SREGS_LDT", "kvm_sregs", "ldt"}, {"SREGS_GDT", "kvm_sregs", "gdt"},
                {"SREGS_IDT", "kvm_sregs", "idt"}, {"SREGS_CR0", "kvm_sregs", "cr0"}, {"SREGS_CR3", "kvm_sregs", "cr3"},
                {"SREGS_CR4", "kvm_sregs", "cr4"}, {"SREGS_EFER", "kvm_sregs", "efer"},
                {"SEGMENT_BASE", "kvm_segment", "base"}, {"SEGMENT_LIMIT", "kvm_segment", "limit"},
                {"SEGMENT_SELECTOR", "kvm_segment", "selector"}, {"SEGMENT_TYPE", "kvm_segment", "type"},
                {"SEGMENT_PRESENT", "kvm_segment", "present"}, {"SEGMENT_DPL", "kvm_segment", "dpl"},
                {"SEGMENT_DB", "kvm_segment", "db"}, {"SEGMENT_S", "kvm_segment", "s"},
                {"SEGMENT_L", "kvm_segment", "l"}, {"SEGMENT_G", "kvm_segment", "g"},
                {"SEGMENT_UNUSABLE", "kvm_segment", "unusable"},
                {"CLOCK_DATA_CLOCK", "kvm_clock_data", "clock"}, {"CLOCK_DATA_FLAGS", "kvm_clock_data", "flags"},
                {"DEVICE_ATTR_GROUP", "kvm_device_attr", "group"}, {"DEVICE_ATTR_ATTR", "kvm_device_attr", "attr"},
                {"DEVICE_ATTR_ADDR", "kvm_device_attr", "addr"}};
        for (String[] o : offsets) {
            EXPRESSIONS.put(o[0], "offsetof(struct " + o[1] + ", " + o[2] + ")");
        }
    }

    @Test
    void everyConstantMatchesTheKernelHeaders(@TempDir Path dir) throws Exception {
        Map<String, String> all = new TreeMap<>(EXPRESSIONS);
        all.put("sigaction.size", "sizeof(struct sigaction)");
        all.put("sigaction.sa_mask", "offsetof(struct sigaction, sa_mask)");
        all.put("sigset_t.size", "sizeof(sigset_t)");
        Map<String, Long> c = HeaderValues.evaluate(dir, List.of("signal.h", "linux/kvm.h"), all);
        assertEquals("152 8 128", c.get("sigaction.size") + " " + c.get("sigaction.sa_mask") + " "
                + c.get("sigset_t.size"), "glibc's struct sigaction on x86-64");
        List<String> mismatches = HeaderValues.mismatches(KvmAbi.class, EXPRESSIONS.keySet(), c);
        assertTrue(mismatches.isEmpty(), "constants that differ from linux/kvm.h: " + mismatches);
    }

    @Test
    void everyConstantOfTheTableIsChecked() {
        assertEquals(Set.of(), HeaderValues.unchecked(KvmAbi.class, EXPRESSIONS.keySet()),
                "KvmAbi constants with no C expression in this test");
    }
}
