package io.livemig.xen;

import io.livemig.xen.internal.XenAbi;
import io.livemig.xen.internal.XenCtrl;
import io.livemig.xen.internal.XenForeignMemory;
import io.livemig.xen.internal.XenStore;
import io.livemig.xen.internal.XenToolLog;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The binding against the installed Xen 4.17 headers (Debian's libxen-dev): every constant, struct
 * size and field offset in {@link XenAbi} (and {@link XenToolLog#XTL_CRITICAL}) equals what gcc
 * makes of xenctrl.h and its companions, every function is declared with the C types its handle
 * passes, and the system's libraries export every function the tables bind. Skips with one line
 * where the headers or gcc are missing.
 */
class XenAbiTest {

    private static final List<String> HEADERS = List.of("sys/mman.h", "xenctrl.h", "xenforeignmemory.h", "xenstore.h",
            "xentoollog.h");

    /** XenAbi constant -> the C expression that must equal it. */
    private static final Map<String, String> EXPRESSIONS = new TreeMap<>();

    /**
     * Function -> the C function pointer type the Java handle's descriptor stands for (int and
     * unsigned as JAVA_INT, uint64_t, unsigned long, size_t and long long as JAVA_LONG, pointers as ADDRESS).
     */
    private static final Map<String, String> PROTOTYPES = new TreeMap<>();

    static {
        EXPRESSIONS.put("PAGE_BYTES", "XC_PAGE_SIZE");
        EXPRESSIONS.put("PFN_BYTES", "sizeof(xen_pfn_t)");
        struct("HYPERCALL_BUFFER", "xc_hypercall_buffer_t", "hbuf", "param_shadow", "dir", "ubuf", "sz");
        struct("DOMAININFO", "xc_domaininfo_t", "domain", "flags", "tot_pages", "max_pages", "nr_online_vcpus",
                "max_vcpu_id");
        struct("CREATEDOMAIN", "struct xen_domctl_createdomain", "flags", "max_vcpus", "max_evtchn_port",
                "max_grant_frames", "max_maptrack_frames", "grant_opts");
        EXPRESSIONS.put("CREATEDOMAIN_EMULATION_FLAGS", "offsetof(struct xen_domctl_createdomain, arch.emulation_flags)");
        for (String f : new String[] {"dying", "hvm_guest", "shutdown", "paused"}) {
            EXPRESSIONS.put("DOMINF_" + f.toUpperCase(), "XEN_DOMINF_" + f);
        }
        EXPRESSIONS.put("CDF_HVM", "XEN_DOMCTL_CDF_hvm");
        EXPRESSIONS.put("CDF_HAP", "XEN_DOMCTL_CDF_hap");
        EXPRESSIONS.put("X86_EMU_ALL", "XEN_X86_EMU_ALL");
        EXPRESSIONS.put("X86_EMU_VPCI", "XEN_X86_EMU_VPCI");
        for (String op : new String[] {"OFF", "ENABLE_LOGDIRTY", "CLEAN", "PEEK"}) {
            EXPRESSIONS.put("SHADOW_OP_" + op, "XEN_DOMCTL_SHADOW_OP_" + op);
        }
        EXPRESSIONS.put("SHADOW_LOGDIRTY_FINAL", "XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL");
        EXPRESSIONS.put("SHADOW_OP_STATS_BYTES", "sizeof(xc_shadow_op_stats_t)");
        for (Field f : XenAbi.class.getFields()) {
            if (f.getName().startsWith("HVM_PARAM_")) {
                EXPRESSIONS.put(f.getName(), f.getName());
            }
        }
        EXPRESSIONS.put("PROT_READ", "PROT_READ");
        EXPRESSIONS.put("PROT_WRITE", "PROT_WRITE");
        EXPRESSIONS.put("XBT_NULL", "XBT_NULL");

        PROTOTYPES.put("xc_interface_open", "xc_interface *(*)(xentoollog_logger *, xentoollog_logger *, unsigned)");
        PROTOTYPES.put("xc_interface_close", "int (*)(xc_interface *)");
        PROTOTYPES.put("xc_domain_getinfolist", "int (*)(xc_interface *, uint32_t, unsigned, xc_domaininfo_t *)");
        PROTOTYPES.put("xc_domain_maximum_gpfn", "int (*)(xc_interface *, uint32_t, xen_pfn_t *)");
        for (String f : new String[] {"xc_domain_pause", "xc_domain_unpause", "xc_domain_destroy"}) {
            PROTOTYPES.put(f, "int (*)(xc_interface *, uint32_t)");
        }
        PROTOTYPES.put("xc_domain_hvm_getcontext", "int (*)(xc_interface *, uint32_t, uint8_t *, uint32_t)");
        PROTOTYPES.put("xc_domain_hvm_setcontext", "int (*)(xc_interface *, uint32_t, uint8_t *, uint32_t)");
        PROTOTYPES.put("xc_hvm_param_get", "int (*)(xc_interface *, uint32_t, uint32_t, uint64_t *)");
        PROTOTYPES.put("xc_hvm_param_set", "int (*)(xc_interface *, uint32_t, uint32_t, uint64_t)");
        PROTOTYPES.put("xc_shadow_control", "int (*)(xc_interface *, uint32_t, unsigned, unsigned *, unsigned)");
        PROTOTYPES.put("xc_logdirty_control", "long long (*)(xc_interface *, uint32_t, unsigned, xc_hypercall_buffer_t *,"
                + " unsigned long, unsigned, xc_shadow_op_stats_t *)");
        PROTOTYPES.put("xc__hypercall_buffer_alloc_pages", "void *(*)(xc_interface *, xc_hypercall_buffer_t *, int)");
        PROTOTYPES.put("xc__hypercall_buffer_free_pages", "void (*)(xc_interface *, xc_hypercall_buffer_t *, int)");
        PROTOTYPES.put("xc_domain_create", "int (*)(xc_interface *, uint32_t *, struct xen_domctl_createdomain *)");
        PROTOTYPES.put("xc_domain_setmaxmem", "int (*)(xc_interface *, uint32_t, uint64_t)");
        PROTOTYPES.put("xc_set_paging_mempool_size", "int (*)(xc_interface *, uint32_t, uint64_t)");
        PROTOTYPES.put("xc_domain_populate_physmap_exact",
                "int (*)(xc_interface *, uint32_t, unsigned long, unsigned, unsigned, xen_pfn_t *)");
        PROTOTYPES.put("xenforeignmemory_open", "xenforeignmemory_handle *(*)(xentoollog_logger *, unsigned)");
        PROTOTYPES.put("xenforeignmemory_close", "int (*)(xenforeignmemory_handle *)");
        PROTOTYPES.put("xenforeignmemory_map",
                "void *(*)(xenforeignmemory_handle *, uint32_t, int, size_t, const xen_pfn_t *, int *)");
        PROTOTYPES.put("xenforeignmemory_unmap", "int (*)(xenforeignmemory_handle *, void *, size_t)");
        PROTOTYPES.put("xs_open", "struct xs_handle *(*)(unsigned long)");
        PROTOTYPES.put("xs_close", "void (*)(struct xs_handle *)");
        PROTOTYPES.put("xs_directory", "char **(*)(struct xs_handle *, xs_transaction_t, const char *, unsigned *)");
        PROTOTYPES.put("xs_read", "void *(*)(struct xs_handle *, xs_transaction_t, const char *, unsigned *)");
        PROTOTYPES.put("xtl_createlogger_stdiostream",
                "xentoollog_logger_stdiostream *(*)(FILE *, xentoollog_level, unsigned)");
    }

    private static void struct(String prefix, String type, String... fields) {
        EXPRESSIONS.put(prefix + "_BYTES", "sizeof(" + type + ")");
        for (String f : fields) {
            EXPRESSIONS.put(prefix + "_" + f.toUpperCase(), "offsetof(" + type + ", " + f + ")");
        }
    }

    @Test
    void everyConstantSizeAndOffsetMatchesTheXen417Headers(@TempDir Path dir) throws Exception {
        assumeHeadersAndGcc();
        Map<String, String> all = new TreeMap<>(EXPRESSIONS);
        all.put("XTL_CRITICAL", "XTL_CRITICAL");
        Map<String, Long> c = evaluate(dir, all);
        List<String> mismatches = new ArrayList<>();
        for (String name : EXPRESSIONS.keySet()) {
            long java = ((Number) XenAbi.class.getField(name).get(null)).longValue();
            if (c.get(name) != java) {
                mismatches.add(name + ": Java " + java + ", C " + c.get(name));
            }
        }
        assertEquals(List.of(), mismatches, "XenAbi constants that differ from the Xen headers");
        assertEquals(XenToolLog.XTL_CRITICAL, c.get("XTL_CRITICAL"));
    }

    @Test
    void everyConstantOfTheTableIsChecked() {
        Set<String> unchecked = new TreeSet<>();
        for (Field f : XenAbi.class.getFields()) {
            if (Modifier.isStatic(f.getModifiers()) && !EXPRESSIONS.containsKey(f.getName())) {
                unchecked.add(f.getName());
            }
        }
        assertEquals(Set.of(), unchecked, "XenAbi constants with no C expression in this test");
    }

    @Test
    void everyBoundFunctionHasTheDeclaredCTypes(@TempDir Path dir) throws Exception {
        assumeHeadersAndGcc();
        StringBuilder c = new StringBuilder(includes());
        for (var e : PROTOTYPES.entrySet()) {
            c.append("_Static_assert(__builtin_types_compatible_p(__typeof__(&").append(e.getKey()).append("), ")
                    .append(e.getValue()).append("), \"").append(e.getKey()).append("\");\n");
        }
        c.append("int main(void) { return 0; }\n");
        Path src = dir.resolve("prototypes.c");
        Files.writeString(src, c);
        assertEquals("", run(dir, "gcc", "-fsyntax-only", src.toString()), "gcc on the prototypes the bindings assume");
    }

    @Test
    void theSystemLibrariesExportEveryBoundFunction() {
        Assumptions.assumeTrue(Files.exists(Path.of("/usr/include/xenctrl.h")),
                "skipped: the Xen 4.17 libraries are not installed (apt-get install libxen-dev)");
        // Loading a table binds every function it calls; a missing export throws, naming it.
        XenCtrl.load(XenCtrl.SONAME);
        XenForeignMemory.load(XenForeignMemory.SONAME);
        XenStore.load(XenStore.SONAME);
        XenToolLog.load(XenToolLog.SONAME);
        List<SymbolLookup> system = new ArrayList<>();
        for (String soname : List.of(XenCtrl.SONAME, XenForeignMemory.SONAME, XenStore.SONAME, XenToolLog.SONAME)) {
            system.add(SymbolLookup.libraryLookup(soname, Arena.global()));
        }
        List<String> missing = new ArrayList<>();
        for (String function : PROTOTYPES.keySet()) {
            if (system.stream().noneMatch(lib -> lib.find(function).isPresent())) {
                missing.add(function);
            }
        }
        assertEquals(List.of(), missing, "functions whose C types this test checks but no system library exports");
    }

    @Test
    void theShimExportsEveryFunctionWithTheHeadersPrototype() throws Exception {
        assumeHeadersAndGcc();
        XenShim.library();
        // Built with -DLIVEMIG_XEN_HEADERS, each of its definitions was checked against the header's declaration.
        assertTrue(XenShim.checkedAgainstHeaders(), "the shim was compiled against the installed headers");
    }

    private static void assumeHeadersAndGcc() throws Exception {
        Assumptions.assumeTrue(Files.exists(Path.of("/usr/include/xenctrl.h")),
                "skipped: the Xen 4.17 headers are missing (apt-get install libxen-dev)");
        Assumptions.assumeTrue(run(Path.of("."), "sh", "-c", "command -v gcc") != null, "skipped: gcc is not installed");
    }

    private static String includes() {
        StringBuilder c = new StringBuilder("#include <stdio.h>\n#include <stddef.h>\n");
        for (String h : HEADERS) {
            c.append("#include <").append(h).append(">\n");
        }
        return c.toString();
    }

    /** Compiles and runs a program printing each expression; returns name -> value. */
    private static Map<String, Long> evaluate(Path dir, Map<String, String> expressions) throws Exception {
        StringBuilder c = new StringBuilder(includes()).append("int main(void) {\n");
        for (var e : expressions.entrySet()) {
            c.append("  printf(\"%s %lu\\n\", \"").append(e.getKey()).append("\", (unsigned long) (")
                    .append(e.getValue()).append("));\n");
        }
        c.append("  return 0;\n}\n");
        Path src = dir.resolve("abi.c");
        Files.writeString(src, c);
        Path exe = dir.resolve("abi");
        assertEquals("", run(dir, "gcc", "-o", exe.toString(), src.toString()), "gcc says");
        Map<String, Long> values = new TreeMap<>();
        for (String line : run(dir, exe.toString()).strip().split("\n")) {
            String[] p = line.split(" ");
            values.put(p[0], Long.parseUnsignedLong(p[1]));
        }
        assertEquals(expressions.keySet(), values.keySet(), "the program printed every expression once");
        return values;
    }

    /** @return the output, or null if the command failed to start or exited non-zero (gcc: its output) */
    private static String run(Path dir, String... command) throws Exception {
        Process p;
        try {
            p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        } catch (java.io.IOException e) {
            return null;
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            return command[0].equals("gcc") ? out : null;
        }
        return out;
    }
}
