package io.livemig.kvm;

import io.livemig.kvm.internal.Vfio;
import io.livemig.kvm.internal.VfioAbi;
import io.livemig.spi.DeviceState;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every value of {@link VfioAbi} (ioctl numbers, feature flags and indices, migration flags,
 * struct sizes and field offsets), the errno values of {@link Vfio} and the
 * {@code enum vfio_device_mig_state} values of {@link DeviceState} equal what the C compiler
 * makes of this machine's linux/vfio.h and errno.h, the way {@link KvmAbiTest} checks KVM's.
 *
 * <p>The parts newer than Linux 6.1's header (the PRE_COPY states and flag, MIG_DATA_SIZE,
 * VFIO_MIG_GET_PRECOPY_INFO) are compiled under {@code #ifdef} of a macro that came with them:
 * against an older header they are skipped, listed on standard output and in the reason of the
 * skipped test {@link #theNewerPartsMatchTheHeaderToo()}, never silently.
 */
class VfioAbiTest {

    /** Java constant name -> the C expression that must equal it: VfioAbi's table. */
    private static final Map<String, String> ABI = new TreeMap<>();
    /** Vfio's errno values. */
    private static final Map<String, String> ERRNO = new TreeMap<>();
    /** DeviceState name -> its enum vfio_device_mig_state constant. */
    private static final Map<String, String> STATES = new TreeMap<>();
    /** Field widths the encoders rely on (name -> C expression), with their expected value. */
    private static final Map<String, String> WIDTHS = new TreeMap<>();
    private static final Map<String, Long> EXPECTED_WIDTHS = new TreeMap<>();
    /** Expression name -> the macro that must be defined to compile it (newer than Linux 6.1). */
    private static final Map<String, String> GUARDS = new TreeMap<>();

    private static final String PRE_COPY = "VFIO_MIGRATION_PRE_COPY";
    private static final String DATA_SIZE = "VFIO_DEVICE_FEATURE_MIG_DATA_SIZE";
    private static final String PRECOPY_INFO = "VFIO_MIG_GET_PRECOPY_INFO";

    static {
        for (String i : new String[] {"DEVICE_GET_INFO", "DEVICE_FEATURE", "MIG_GET_PRECOPY_INFO"}) {
            ABI.put(i, "(unsigned long) VFIO_" + i);
        }
        GUARDS.put("MIG_GET_PRECOPY_INFO", PRECOPY_INFO);
        for (String f : new String[] {"DEVICE_FEATURE_MASK", "DEVICE_FEATURE_GET", "DEVICE_FEATURE_SET",
                "DEVICE_FEATURE_PROBE", "DEVICE_FEATURE_MIGRATION", "DEVICE_FEATURE_MIG_DEVICE_STATE",
                "DEVICE_FEATURE_DMA_LOGGING_START", "DEVICE_FEATURE_DMA_LOGGING_STOP",
                "DEVICE_FEATURE_DMA_LOGGING_REPORT", "DEVICE_FEATURE_MIG_DATA_SIZE", "MIGRATION_STOP_COPY",
                "MIGRATION_P2P", "MIGRATION_PRE_COPY"}) {
            ABI.put(f, "VFIO_" + f);
        }
        GUARDS.put("DEVICE_FEATURE_MIG_DATA_SIZE", DATA_SIZE);
        GUARDS.put("MIGRATION_PRE_COPY", PRE_COPY);
        String[][] sizes = {
                {"FEATURE_BYTES", "vfio_device_feature", null},
                {"MIGRATION_BYTES", "vfio_device_feature_migration", null},
                {"MIG_STATE_BYTES", "vfio_device_feature_mig_state", null},
                {"MIG_DATA_SIZE_BYTES", "vfio_device_feature_mig_data_size", DATA_SIZE},
                {"DMA_LOGGING_CONTROL_BYTES", "vfio_device_feature_dma_logging_control", null},
                {"DMA_LOGGING_RANGE_BYTES", "vfio_device_feature_dma_logging_range", null},
                {"DMA_LOGGING_REPORT_BYTES", "vfio_device_feature_dma_logging_report", null},
                {"PRECOPY_INFO_BYTES", "vfio_precopy_info", PRECOPY_INFO}};
        for (String[] s : sizes) {
            ABI.put(s[0], "sizeof(struct " + s[1] + ")");
            guard(s[0], s[2]);
        }
        ABI.put("DEVICE_INFO_MIN_BYTES", "offsetof(struct vfio_device_info, num_irqs)"
                + " + sizeof(((struct vfio_device_info *) 0)->num_irqs)");
        String[][] offsets = {
                {"FEATURE_ARGSZ", "vfio_device_feature", "argsz", null},
                {"FEATURE_FLAGS", "vfio_device_feature", "flags", null},
                {"FEATURE_DATA", "vfio_device_feature", "data", null},
                {"MIGRATION_FLAGS", "vfio_device_feature_migration", "flags", null},
                {"MIG_STATE_DEVICE_STATE", "vfio_device_feature_mig_state", "device_state", null},
                {"MIG_STATE_DATA_FD", "vfio_device_feature_mig_state", "data_fd", null},
                {"MIG_DATA_SIZE_STOP_COPY_LENGTH", "vfio_device_feature_mig_data_size", "stop_copy_length",
                        DATA_SIZE},
                {"DMA_LOGGING_CONTROL_PAGE_SIZE", "vfio_device_feature_dma_logging_control", "page_size", null},
                {"DMA_LOGGING_CONTROL_NUM_RANGES", "vfio_device_feature_dma_logging_control", "num_ranges", null},
                {"DMA_LOGGING_CONTROL_RANGES", "vfio_device_feature_dma_logging_control", "ranges", null},
                {"DMA_LOGGING_RANGE_IOVA", "vfio_device_feature_dma_logging_range", "iova", null},
                {"DMA_LOGGING_RANGE_LENGTH", "vfio_device_feature_dma_logging_range", "length", null},
                {"DMA_LOGGING_REPORT_IOVA", "vfio_device_feature_dma_logging_report", "iova", null},
                {"DMA_LOGGING_REPORT_LENGTH", "vfio_device_feature_dma_logging_report", "length", null},
                {"DMA_LOGGING_REPORT_PAGE_SIZE", "vfio_device_feature_dma_logging_report", "page_size", null},
                {"DMA_LOGGING_REPORT_BITMAP", "vfio_device_feature_dma_logging_report", "bitmap", null},
                {"PRECOPY_INFO_ARGSZ", "vfio_precopy_info", "argsz", PRECOPY_INFO},
                {"PRECOPY_INFO_FLAGS", "vfio_precopy_info", "flags", PRECOPY_INFO},
                {"PRECOPY_INFO_INITIAL_BYTES", "vfio_precopy_info", "initial_bytes", PRECOPY_INFO},
                {"PRECOPY_INFO_DIRTY_BYTES", "vfio_precopy_info", "dirty_bytes", PRECOPY_INFO},
                {"DEVICE_INFO_ARGSZ", "vfio_device_info", "argsz", null}};
        for (String[] o : offsets) {
            ABI.put(o[0], "offsetof(struct " + o[1] + ", " + o[2] + ")");
            guard(o[0], o[3]);
        }
        for (String e : new String[] {"EINTR", "EBADF", "EAGAIN", "EINVAL", "ENOTTY", "ENOMSG"}) {
            ERRNO.put(e, e);
        }
        for (DeviceState s : DeviceState.values()) {
            STATES.put("DeviceState." + s, "VFIO_DEVICE_STATE_" + s);
            guard("DeviceState." + s, s == DeviceState.PRE_COPY || s == DeviceState.PRE_COPY_P2P ? PRE_COPY : null);
        }
        // The encoders write these as 4 or 8 bytes: their C widths, beyond the offsets.
        width("mig_state.device_state", "vfio_device_feature_mig_state", "device_state", 4, null);
        width("mig_state.data_fd", "vfio_device_feature_mig_state", "data_fd", 4, null);
        width("migration.flags", "vfio_device_feature_migration", "flags", 8, null);
        width("dma_logging_control.num_ranges", "vfio_device_feature_dma_logging_control", "num_ranges", 4, null);
        width("dma_logging_control.ranges", "vfio_device_feature_dma_logging_control", "ranges", 8, null);
        width("dma_logging_report.bitmap", "vfio_device_feature_dma_logging_report", "bitmap", 8, null);
        width("precopy_info.dirty_bytes", "vfio_precopy_info", "dirty_bytes", 8, PRECOPY_INFO);
        width("mig_data_size.stop_copy_length", "vfio_device_feature_mig_data_size", "stop_copy_length", 8,
                DATA_SIZE);
    }

    private static void guard(String name, String macro) {
        if (macro != null) {
            GUARDS.put(name, macro);
        }
    }

    private static void width(String name, String struct, String field, long bytes, String macro) {
        WIDTHS.put("width." + name, "sizeof(((struct " + struct + " *) 0)->" + field + ")");
        EXPECTED_WIDTHS.put("width." + name, bytes);
        guard("width." + name, macro);
    }

    /** What the compiler printed, for every expression the installed header allows. */
    private static Map<String, Long> c;
    /** Names compiled out for an older header. */
    private static Set<String> skipped;

    @BeforeAll
    static void compile(@TempDir Path dir) throws Exception {
        Map<String, String> all = new TreeMap<>(ABI);
        all.putAll(ERRNO);
        all.putAll(STATES);
        all.putAll(WIDTHS);
        // linux/vfio.h includes linux/ioctl.h and linux/types.h itself.
        c = HeaderValues.evaluate(dir, List.of("errno.h", "linux/vfio.h"), all, GUARDS);
        skipped = new TreeSet<>(all.keySet());
        skipped.removeAll(c.keySet());
        System.out.println("VfioAbiTest: " + c.size() + " of " + all.size() + " checks compiled against linux/vfio.h; "
                + (skipped.isEmpty() ? "none skipped"
                        : skipped.size() + " skipped, the header lacks " + new TreeSet<>(GUARDS.values()) + ": "
                                + skipped));
    }

    private static List<String> mismatches(Set<String> names) throws Exception {
        List<String> mismatches = new ArrayList<>();
        Set<String> abi = new TreeSet<>(ABI.keySet());
        abi.retainAll(names);
        mismatches.addAll(HeaderValues.mismatches(VfioAbi.class, abi, c));
        Set<String> errno = new TreeSet<>(ERRNO.keySet());
        errno.retainAll(names);
        mismatches.addAll(HeaderValues.mismatches(Vfio.class, errno, c));
        for (DeviceState s : DeviceState.values()) {
            String name = "DeviceState." + s;
            if (names.contains(name) && c.get(name) != s.vfioValue()) {
                mismatches.add(name + ": Java " + s.vfioValue() + ", C " + c.get(name));
            }
        }
        for (var w : EXPECTED_WIDTHS.entrySet()) {
            if (names.contains(w.getKey()) && !c.get(w.getKey()).equals(w.getValue())) {
                mismatches.add(w.getKey() + ": expected " + w.getValue() + " bytes, C " + c.get(w.getKey()));
            }
        }
        return mismatches;
    }

    @Test
    void everyValueLinux61sHeaderDefinesMatchesIt() throws Exception {
        Set<String> baseline = new TreeSet<>(c.keySet());
        baseline.removeAll(GUARDS.keySet());
        Set<String> unguarded = new TreeSet<>(ABI.keySet());
        unguarded.addAll(ERRNO.keySet());
        unguarded.addAll(STATES.keySet());
        unguarded.addAll(WIDTHS.keySet());
        unguarded.removeAll(GUARDS.keySet());
        assertEquals(unguarded, baseline, "every unguarded check compiled");
        List<String> mismatches = mismatches(baseline);
        assertTrue(mismatches.isEmpty(), "values that differ from linux/vfio.h: " + mismatches);
    }

    @Test
    void theNewerPartsMatchTheHeaderToo() throws Exception {
        Set<String> newer = new TreeSet<>(GUARDS.keySet());
        newer.retainAll(c.keySet());
        List<String> mismatches = mismatches(newer);
        assertTrue(mismatches.isEmpty(), "newer values that differ from linux/vfio.h: " + mismatches);
        Assumptions.assumeTrue(skipped.isEmpty(), () -> "linux/vfio.h predates " + new TreeSet<>(GUARDS.values())
                + "; checked " + newer.size() + " newer values, skipped " + skipped.size() + ": " + skipped);
    }

    @Test
    void everyConstantOfTheTablesIsChecked() {
        assertEquals(Set.of(), HeaderValues.unchecked(VfioAbi.class, ABI.keySet()),
                "VfioAbi constants with no C expression in this test");
        assertEquals(Set.of(), HeaderValues.unchecked(Vfio.class, ERRNO.keySet()),
                "Vfio constants with no C expression in this test");
    }
}
