package io.livemig.kvm;

import io.livemig.kvm.internal.UserfaultfdAbi;
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
 * Every value in {@link UserfaultfdAbi} (ioctl numbers, struct sizes, field offsets, feature,
 * mode and event bits, the system call's number and flags) equals what the C compiler makes of
 * this machine's linux/userfaultfd.h, asm/unistd.h and fcntl.h, the way {@link KvmAbiTest}
 * checks the KVM table.
 */
class UserfaultfdAbiTest {

    /** Java constant name -> the C expression that must equal it. */
    private static final Map<String, String> EXPRESSIONS = new TreeMap<>();

    static {
        EXPRESSIONS.put("SYSCALL", "__NR_userfaultfd");
        EXPRESSIONS.put("CLOEXEC", "O_CLOEXEC");
        EXPRESSIONS.put("NONBLOCK", "O_NONBLOCK");
        EXPRESSIONS.put("API_VERSION", "UFFD_API");
        EXPRESSIONS.put("FEATURE_THREAD_ID", "UFFD_FEATURE_THREAD_ID");
        EXPRESSIONS.put("REGISTER_MODE_MISSING", "UFFDIO_REGISTER_MODE_MISSING");
        EXPRESSIONS.put("EVENT_PAGEFAULT", "UFFD_EVENT_PAGEFAULT");
        String[][] sizes = {
                {"API_BYTES", "uffdio_api"}, {"RANGE_BYTES", "uffdio_range"}, {"REGISTER_BYTES", "uffdio_register"},
                {"COPY_BYTES", "uffdio_copy"}, {"ZEROPAGE_BYTES", "uffdio_zeropage"}, {"MSG_BYTES", "uffd_msg"}};
        for (String[] s : sizes) {
            EXPRESSIONS.put(s[0], "sizeof(struct " + s[1] + ")");
        }
        for (String i : new String[] {"API", "REGISTER", "UNREGISTER", "WAKE", "COPY", "ZEROPAGE"}) {
            EXPRESSIONS.put(i, "(unsigned long) UFFDIO_" + i);
        }
        String[][] offsets = {
                {"API_API", "uffdio_api", "api"}, {"API_FEATURES", "uffdio_api", "features"},
                {"RANGE_START", "uffdio_range", "start"}, {"RANGE_LEN", "uffdio_range", "len"},
                {"REGISTER_RANGE", "uffdio_register", "range"}, {"REGISTER_MODE", "uffdio_register", "mode"},
                {"COPY_DST", "uffdio_copy", "dst"}, {"COPY_SRC", "uffdio_copy", "src"},
                {"COPY_LEN", "uffdio_copy", "len"}, {"COPY_MODE", "uffdio_copy", "mode"},
                {"COPY_COPY", "uffdio_copy", "copy"},
                {"ZEROPAGE_RANGE", "uffdio_zeropage", "range"}, {"ZEROPAGE_MODE", "uffdio_zeropage", "mode"},
                {"MSG_EVENT", "uffd_msg", "event"},
                {"MSG_PAGEFAULT_ADDRESS", "uffd_msg", "arg.pagefault.address"},
                {"MSG_PAGEFAULT_PTID", "uffd_msg", "arg.pagefault.feat.ptid"}};
        for (String[] o : offsets) {
            EXPRESSIONS.put(o[0], "offsetof(struct " + o[1] + ", " + o[2] + ")");
        }
    }

    @Test
    void everyConstantMatchesTheKernelHeaders(@TempDir Path dir) throws Exception {
        Map<String, String> all = new TreeMap<>(EXPRESSIONS);
        // The binding reads event as one byte, address as eight and ptid as four: their widths too.
        all.put("uffd_msg.event.size", "sizeof(((struct uffd_msg *) 0)->event)");
        all.put("uffd_msg.address.size", "sizeof(((struct uffd_msg *) 0)->arg.pagefault.address)");
        all.put("uffd_msg.ptid.size", "sizeof(((struct uffd_msg *) 0)->arg.pagefault.feat.ptid)");
        // linux/userfaultfd.h uses _IOWR without including it: userspace includes sys/ioctl.h first.
        Map<String, Long> c = HeaderValues.evaluate(dir,
                List.of("fcntl.h", "sys/ioctl.h", "asm/unistd.h", "linux/userfaultfd.h"), all);
        assertEquals("1 8 4", c.get("uffd_msg.event.size") + " " + c.get("uffd_msg.address.size") + " "
                + c.get("uffd_msg.ptid.size"), "uffd_msg field widths: u8 event, u64 address, u32 ptid");
        List<String> mismatches = HeaderValues.mismatches(UserfaultfdAbi.class, EXPRESSIONS.keySet(), c);
        assertTrue(mismatches.isEmpty(), "constants that differ from linux/userfaultfd.h: " + mismatches);
    }

    @Test
    void everyConstantOfTheTableIsChecked() {
        assertEquals(Set.of(), HeaderValues.unchecked(UserfaultfdAbi.class, EXPRESSIONS.keySet()),
                "UserfaultfdAbi constants with no C expression in this test");
    }
}
